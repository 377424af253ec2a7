// SPDX-License-Identifier: GPL-3.0-or-later
// Person detection on the device, with OpenCV: run by the analytics engine only on the regions motion points at,
// at a bounded rate. Two detectors behind one interface: OpenCV's built-in HOG people detector (no model file, no
// download), and a cv::dnn network loaded from an ONNX file the owner provides (docs/analytics.md).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/events.hpp"
#include "hal/source.hpp"

namespace freehold::analytics {

struct PersonOptions {
  std::string detector = "hog";  // "hog" or "onnx"
  std::string model_path;        // onnx: the model file
  float min_confidence = 0.5f;   // 0..1: weaker detections are not reported
  int input_size = 640;          // onnx: the model's square input, in pixels
  int person_class = -1;         // onnx: the class index of "person"; -1: COCO's for the layout (SSD 1, YOLOv8 0)
  friend bool operator==(const PersonOptions&, const PersonOptions&) = default;
};

class PersonDetector {
 public:
  virtual ~PersonDetector() = default;
  // Looks for people in `picture` (raw I420) inside `regions` (normalised boxes; empty: the whole picture) and
  // returns them as Detections labelled "person", boxes normalised to the whole picture. Not thread-safe: one
  // caller (the analytics thread).
  [[nodiscard]] virtual std::vector<Detection> detect(const hal::Picture& picture, const std::vector<Box>& regions) = 0;
};

// nullptr with `error` naming the problem (unknown detector, missing or corrupt model file, unusable output shape).
[[nodiscard]] std::unique_ptr<PersonDetector> make_person_detector(const PersonOptions& options, std::string* error);

}  // namespace freehold::analytics
