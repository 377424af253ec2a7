// SPDX-License-Identifier: GPL-3.0-or-later
// Internal to hal (and its tests and fuzzer): turns one captured V4L2 buffer into a Picture. Raw formats become
// I420 for our encoder, MJPEG is decoded to I420, H.264 is passed through as it came. Every check a malformed or
// truncated buffer could fail is made here, so the capture loop can treat a bad frame as an error string.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "hal/source.hpp"

namespace freehold::hal {

enum class CaptureFormat { h264, nv12, yuyv, mjpeg };

[[nodiscard]] const char* to_string(CaptureFormat f);

struct FrameLayout {
  CaptureFormat format = CaptureFormat::yuyv;
  int width = 0;   // even, as negotiated
  int height = 0;  // even, as negotiated
  int stride = 0;  // bytes per line of the raw formats (0: packed)
};

// Holds the JPEG decoder between frames; one per capture thread.
class FrameConverter final {
 public:
  FrameConverter();
  ~FrameConverter();
  FrameConverter(const FrameConverter&) = delete;
  FrameConverter& operator=(const FrameConverter&) = delete;

  // Fills `out` (format, size, keyframe, data) from `buffer`. nullopt on success, else why this frame is unusable.
  [[nodiscard]] std::optional<std::string> convert(const FrameLayout& layout, std::span<const std::uint8_t> buffer,
                                                   Picture& out);

 private:
  std::optional<std::string> convert_mjpeg(const FrameLayout& layout, std::span<const std::uint8_t> buffer,
                                           Picture& out);
  void* jpeg_ = nullptr;               // tjhandle
  std::vector<std::uint8_t> scratch_;  // chroma planes of JPEGs that are not 4:2:0
};

// True if the Annex-B access unit contains an IDR slice (NAL type 5).
[[nodiscard]] bool h264_has_idr(std::span<const std::uint8_t> access_unit);

}  // namespace freehold::hal
