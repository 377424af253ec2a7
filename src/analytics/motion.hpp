// SPDX-License-Identifier: GPL-3.0-or-later
// Motion detection on the luma plane. Each picture is averaged down to about 160 pixels across (the work image),
// compared with a background that adapts with a time constant (so slow light changes fade into it, and things that
// stop moving join it), thresholded above the picture's own noise, cleaned of isolated pixels, masked by the zones, and
// gathered into a grid of cells whose connected groups are the moving regions. Motion starts when regions bigger
// than the minimum area persist for min_duration, and ends after cooldown without any. A change over most of the
// picture at once (lights switched, the camera moved or covered) is not motion: the background is learnt afresh
// and the tamper detector judges it. No allocation per picture once the size is known; one caller at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "core/events.hpp"
#include "core/zones.hpp"

namespace freehold::analytics {

struct MotionSettings {
  int sensitivity = 50;                         // 0..100: higher finds fainter changes
  double min_area = 0.003;                      // smallest moving region that counts, as a fraction of the picture
  std::chrono::milliseconds min_duration{300};  // motion must last this long before it starts
  std::chrono::milliseconds cooldown{2000};     // and be gone this long before it ends
  std::chrono::milliseconds adapt{1000};        // background time constant; a thing standing still this long
                                                // becomes background
  std::vector<Zone> zones;
};

// A small grey picture, row-major without padding.
struct WorkImage {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> pixels;
};

struct MotionResult {
  bool active = false;             // motion state after hysteresis
  bool started = false;            // this picture started motion: start_time is when it began
  bool ended = false;              // this picture ended it
  std::int64_t start_us = 0;       // time of the first picture of the current (or just ended) motion
  std::vector<Box> boxes;          // moving regions in this picture, normalised (biggest first)
  std::vector<std::string> zones;  // include zones the qualifying regions touch (started/active)
  double changed = 0;              // fraction of the picture that differs from the background
  bool global_change = false;      // most of the picture changed at once: not motion, background relearnt
  // Cell grid (cells_w x cells_h, row-major): 1 where a cell is moving in this picture.
  int cells_w = 0;
  int cells_h = 0;
  std::vector<std::uint8_t> cells;
};

class MotionDetector final {
 public:
  explicit MotionDetector(MotionSettings settings = {});
  // Live: takes effect on the next picture (zones are rasterised then). Keeps the background.
  void configure(MotionSettings settings);

  // One luma plane (width x height, `stride` bytes per row) taken at `time_us` (any monotonic clock, microseconds).
  const MotionResult& process(const std::uint8_t* luma, int width, int height, int stride, std::int64_t time_us);

  // The last picture averaged down (the tamper detector reads it).
  [[nodiscard]] const WorkImage& work() const { return work_; }
  // Forgets the background and any motion in progress (e.g. after the camera's picture size changed).
  void reset();

 private:
  void resize(int width, int height);
  void downscale(const std::uint8_t* luma, int stride);
  void rasterise_zones();
  int threshold();
  void update_background(std::int64_t dt_us);
  void find_regions();

  MotionSettings settings_;
  bool zones_dirty_ = true;
  int in_w_ = 0, in_h_ = 0, factor_ = 1;
  WorkImage work_;
  std::vector<std::uint16_t> column_sums_;  // one row of sums while downscaling
  std::vector<std::uint16_t> background_;   // 8.8 fixed point
  std::vector<std::uint8_t> previous_;      // the work image of the previous picture
  std::vector<std::uint16_t> still_ms_;     // how long each moving pixel has not changed
  int still_tolerance_ = 0;
  std::vector<std::uint8_t> foreground_;
  std::vector<std::uint8_t> allowed_;     // zones: 1 where motion counts
  std::vector<std::uint16_t> zone_bits_;  // per cell: which include zones cover it
  std::vector<std::uint16_t> cell_counts_;
  std::vector<std::int32_t> labels_;  // connected groups of cells
  std::vector<std::int32_t> stack_;
  struct Region {
    int x0, y0, x1, y1;
    int pixels;
    std::uint16_t zones;
  };
  std::vector<Region> regions_;
  MotionResult result_;
  bool have_background_ = false;
  std::int64_t last_us_ = 0;
  std::int64_t run_since_us_ = -1;  // first picture of the current run of qualifying regions
  std::int64_t last_seen_us_ = 0;   // last picture with a qualifying region
  std::uint16_t run_zones_ = 0;
};

}  // namespace freehold::analytics
