// SPDX-License-Identifier: GPL-3.0-or-later
// Camera tampering, judged on the motion detector's work image: the lens covered or sprayed (the picture loses
// its detail and stays flat), or the camera turned away (the picture no longer correlates with the usual view,
// which a light switched on or off does not do: the same edges stay where they were). Either must last `hold`
// before it is reported; a covered lens is over when the detail is back for as long.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "analytics/motion.hpp"

namespace freehold::analytics {

struct TamperResult {
  bool active = false;        // covered now (a turned camera is reported once, then it is the new scene)
  bool started = false;       // reported in this picture: `reason` says what
  bool ended = false;         // the cover was taken away
  std::string reason;         // "covered" or "scene_changed"
  std::int64_t start_us = 0;  // when it began
  double detail = 0;          // mean luma gradient of this picture (grey levels per pixel)
  double usual_detail = 0;    // its slow average while nothing is wrong
  double similarity = 1;      // structure of this picture against the usual view (-1..1)
};

class TamperDetector final {
 public:
  explicit TamperDetector(std::chrono::milliseconds hold = std::chrono::milliseconds(2000)) : hold_(hold) {}
  // After each MotionDetector::process(), on its work image.
  const TamperResult& process(const WorkImage& work, std::int64_t time_us);
  void reset();

 private:
  std::chrono::milliseconds hold_;
  TamperResult result_;
  bool have_reference_ = false;
  std::int64_t last_us_ = 0;
  std::int64_t flat_since_ = -1;    // detail lost since
  std::int64_t detail_since_ = -1;  // detail back since (while covered)
  std::int64_t moved_since_ = -1;   // the view unlike the usual one since
  std::vector<float> reference_;    // the usual view: a slow average of the work image
};

}  // namespace freehold::analytics
