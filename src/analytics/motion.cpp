// SPDX-License-Identifier: GPL-3.0-or-later
#include "analytics/motion.hpp"

#include <algorithm>
#include <array>
#include <cmath>

namespace freehold::analytics {
namespace {

constexpr int kWorkWidth = 160;    // pixels across the work image, about
constexpr int kCell = 4;           // work pixels per cell side
constexpr int kCellMinPixels = 3;  // moving pixels that make a cell move
constexpr std::size_t kMaxBoxes = 16;
constexpr double kGlobalChange = 0.5;  // more than this fraction changed at once: not motion

// The change (in grey levels) a pixel needs beyond the picture's noise, from the sensitivity: 42 at 0, 24 at 50,
// 6 at 100.
int base_threshold(int sensitivity) {
  return 6 + (100 - std::clamp(sensitivity, 0, 100)) * 36 / 100;
}

}  // namespace

MotionDetector::MotionDetector(MotionSettings settings) {
  configure(std::move(settings));
}

void MotionDetector::configure(MotionSettings settings) {
  settings_ = std::move(settings);
  zones_dirty_ = true;
}

void MotionDetector::reset() {
  have_background_ = false;
  result_.active = false;
  run_since_us_ = -1;
  run_zones_ = 0;
}

void MotionDetector::resize(int width, int height) {
  in_w_ = width;
  in_h_ = height;
  factor_ = std::max(1, (width + kWorkWidth / 2) / kWorkWidth);
  work_.width = width / factor_;
  work_.height = height / factor_;
  const auto n = static_cast<std::size_t>(work_.width) * work_.height;
  work_.pixels.assign(n, 0);
  column_sums_.assign(static_cast<std::size_t>(work_.width) * factor_, 0);
  background_.assign(n, 0);
  previous_.assign(n, 0);
  still_ms_.assign(n, 0);
  foreground_.assign(n, 0);
  allowed_.assign(n, 1);
  result_.cells_w = (work_.width + kCell - 1) / kCell;
  result_.cells_h = (work_.height + kCell - 1) / kCell;
  const auto cells = static_cast<std::size_t>(result_.cells_w) * result_.cells_h;
  result_.cells.assign(cells, 0);
  zone_bits_.assign(cells, 0);
  cell_counts_.assign(cells, 0);
  labels_.assign(cells, 0);
  stack_.reserve(cells);
  regions_.reserve(cells);
  result_.boxes.reserve(kMaxBoxes);
  zones_dirty_ = true;
  reset();
}

void MotionDetector::rasterise_zones() {
  zones_dirty_ = false;
  const bool any_include =
      std::any_of(settings_.zones.begin(), settings_.zones.end(), [](const Zone& z) { return !z.exclude; });
  std::fill(zone_bits_.begin(), zone_bits_.end(), 0);
  for (int y = 0; y < work_.height; ++y) {
    for (int x = 0; x < work_.width; ++x) {
      const double fx = (x + 0.5) / work_.width, fy = (y + 0.5) / work_.height;
      bool included = !any_include, excluded = false;
      std::uint16_t bits = 0;
      for (std::size_t z = 0; z < settings_.zones.size(); ++z) {
        const Zone& zone = settings_.zones[z];
        if (!zone_contains(zone, fx, fy)) continue;
        if (zone.exclude) {
          excluded = true;
        } else {
          included = true;
          bits = static_cast<std::uint16_t>(bits | (1u << z));
        }
      }
      const bool ok = included && !excluded;
      allowed_[static_cast<std::size_t>(y) * work_.width + x] = ok ? 1 : 0;
      if (ok) zone_bits_[static_cast<std::size_t>(y / kCell) * result_.cells_w + x / kCell] |= bits;
    }
  }
}

// Block average by factor_ x factor_: whole rows are summed column by column first (a loop g++ vectorises), then
// each run of factor_ columns.
void MotionDetector::downscale(const std::uint8_t* luma, int stride) {
  const int f = factor_, cols = work_.width * f;
  const std::uint32_t area = static_cast<std::uint32_t>(f * f);
  const std::uint32_t recip = (65536u + area / 2) / area;
  std::uint16_t* sums = column_sums_.data();
  for (int y = 0; y < work_.height; ++y) {
    const std::uint8_t* row = luma + static_cast<std::size_t>(y) * f * stride;
    for (int x = 0; x < cols; ++x) sums[x] = row[x];
    for (int r = 1; r < f; ++r) {
      row += stride;
      for (int x = 0; x < cols; ++x) sums[x] = static_cast<std::uint16_t>(sums[x] + row[x]);
    }
    std::uint8_t* out = work_.pixels.data() + static_cast<std::size_t>(y) * work_.width;
    for (int x = 0; x < work_.width; ++x) {
      std::uint32_t s = 0;
      for (int k = 0; k < f; ++k) s += sums[x * f + k];
      out[x] = static_cast<std::uint8_t>(std::min<std::uint32_t>(255, (s * recip + 32768) >> 16));
    }
  }
}

// Marks the pixels that differ from the background by more than the threshold; returns how many (before zones
// and cleaning).
int MotionDetector::threshold() {
  const std::size_t n = work_.pixels.size();
  const std::uint8_t* cur = work_.pixels.data();
  std::uint16_t* bg = background_.data();
  // The global shift (light changing everywhere at once) and the noise: the median difference, and the median
  // distance from it. Robust while less than half the picture moves.
  std::array<std::uint32_t, 511> signed_hist{};
  for (std::size_t i = 0; i < n; ++i) ++signed_hist[static_cast<std::size_t>(cur[i] - (bg[i] >> 8) + 255)];
  auto median_bin = [n](const auto& hist) {
    std::size_t seen = 0, bin = 0;
    while (bin + 1 < hist.size() && (seen += hist[bin]) < (n + 1) / 2) ++bin;
    return static_cast<int>(bin);
  };
  const int shift = median_bin(signed_hist) - 255;
  std::array<std::uint32_t, 511> abs_hist{};
  for (int b = 0; b < 511; ++b)
    abs_hist[static_cast<std::size_t>(std::abs(b - 255 - shift))] += signed_hist[static_cast<std::size_t>(b)];
  const int noise = median_bin(abs_hist);
  const int threshold = base_threshold(settings_.sensitivity) + 2 * noise;
  still_tolerance_ = threshold / 2;

  int changed = 0;
  std::uint8_t* fg = foreground_.data();
  for (std::size_t i = 0; i < n; ++i) {
    const int d = cur[i] - (bg[i] >> 8) - shift;
    const std::uint8_t on = (d > threshold || d < -threshold) ? 1 : 0;
    fg[i] = on;
    changed += on;
  }
  return changed;
}

// The background follows the picture with time constant `adapt` where nothing moves. Where something moves it
// barely follows (a passing object leaves no trail behind), unless that something has stood still for `adapt`:
// then it is part of the scene (a parked car) and is taken into the background at once.
void MotionDetector::update_background(std::int64_t dt_us) {
  const std::size_t n = work_.pixels.size();
  const std::uint8_t* cur = work_.pixels.data();
  const std::uint8_t* prev = previous_.data();
  const std::uint8_t* fg = foreground_.data();
  std::uint16_t* bg = background_.data();
  std::uint16_t* still = still_ms_.data();
  const double tau_us = std::max<double>(1000.0, static_cast<double>(settings_.adapt.count()) * 1000.0);
  const int a =
      std::clamp(static_cast<int>(std::lround(256.0 * (1.0 - std::exp(-static_cast<double>(dt_us) / tau_us)))), 1, 256);
  const int a_moving = std::max(1, a / 16);
  const int dt_ms = static_cast<int>(std::min<std::int64_t>(dt_us / 1000, 10000));
  const int absorb_ms = static_cast<int>(std::min<std::int64_t>(settings_.adapt.count(), 60000));
  for (std::size_t i = 0; i < n; ++i) {
    const int steady = std::abs(cur[i] - prev[i]) <= still_tolerance_ ? 1 : 0;
    const int held = fg[i] && steady ? std::min(65535, still[i] + dt_ms) : 0;
    still[i] = static_cast<std::uint16_t>(held);
    const int target = cur[i] << 8;
    const int rate = !fg[i] ? a : held >= absorb_ms ? 256 : a_moving;
    bg[i] = static_cast<std::uint16_t>(bg[i] + (((target - bg[i]) * rate) >> 8));
  }
}

// Isolated pixels are noise: a pixel moves only with at least 2 moving neighbours. Moving pixels where motion
// counts are tallied per cell; groups of touching moving cells are the regions.
void MotionDetector::find_regions() {
  const int w = work_.width, h = work_.height, cw = result_.cells_w, ch = result_.cells_h;
  const std::uint8_t* fg = foreground_.data();
  std::fill(cell_counts_.begin(), cell_counts_.end(), 0);
  for (int y = 1; y + 1 < h; ++y) {
    const std::uint8_t* up = fg + static_cast<std::size_t>(y - 1) * w;
    const std::uint8_t* mid = up + w;
    const std::uint8_t* down = mid + w;
    const std::uint8_t* ok = allowed_.data() + static_cast<std::size_t>(y) * w;
    std::uint16_t* counts = cell_counts_.data() + static_cast<std::size_t>(y / kCell) * cw;
    for (int x = 1; x + 1 < w; ++x) {
      const int around = up[x - 1] + up[x] + up[x + 1] + mid[x - 1] + mid[x + 1] + down[x - 1] + down[x] + down[x + 1];
      if (mid[x] && ok[x] && around >= 2) ++counts[x / kCell];
    }
  }
  for (std::size_t c = 0; c < cell_counts_.size(); ++c) result_.cells[c] = cell_counts_[c] >= kCellMinPixels ? 1 : 0;

  regions_.clear();
  std::fill(labels_.begin(), labels_.end(), 0);
  for (int start = 0; start < cw * ch; ++start) {
    if (!result_.cells[static_cast<std::size_t>(start)] || labels_[static_cast<std::size_t>(start)]) continue;
    Region r{start % cw, start / cw, start % cw, start / cw, 0, 0};
    const auto label = static_cast<std::int32_t>(regions_.size() + 1);
    stack_.clear();
    stack_.push_back(start);
    labels_[static_cast<std::size_t>(start)] = label;
    while (!stack_.empty()) {
      const int c = stack_.back();
      stack_.pop_back();
      const int cx = c % cw, cy = c / cw;
      r.x0 = std::min(r.x0, cx);
      r.x1 = std::max(r.x1, cx);
      r.y0 = std::min(r.y0, cy);
      r.y1 = std::max(r.y1, cy);
      r.pixels += cell_counts_[static_cast<std::size_t>(c)];
      r.zones = static_cast<std::uint16_t>(r.zones | zone_bits_[static_cast<std::size_t>(c)]);
      for (int dy = -1; dy <= 1; ++dy) {
        for (int dx = -1; dx <= 1; ++dx) {
          const int nx = cx + dx, ny = cy + dy;
          if (nx < 0 || ny < 0 || nx >= cw || ny >= ch) continue;
          const auto nc = static_cast<std::size_t>(ny * cw + nx);
          if (!result_.cells[nc] || labels_[nc]) continue;
          labels_[nc] = label;
          stack_.push_back(static_cast<std::int32_t>(nc));
        }
      }
    }
    regions_.push_back(r);
  }
}

const MotionResult& MotionDetector::process(const std::uint8_t* luma, int width, int height, int stride,
                                            std::int64_t time_us) {
  result_.started = result_.ended = result_.global_change = false;
  result_.boxes.clear();
  if (width < 16 || height < 16 || stride < width) {
    result_.changed = 0;
    return result_;
  }
  if (width != in_w_ || height != in_h_) resize(width, height);
  if (zones_dirty_) rasterise_zones();
  downscale(luma, stride);

  const std::size_t n = work_.pixels.size();
  if (!have_background_) {
    for (std::size_t i = 0; i < n; ++i) background_[i] = static_cast<std::uint16_t>(work_.pixels[i] << 8);
    std::copy(work_.pixels.begin(), work_.pixels.end(), previous_.begin());
    std::fill(still_ms_.begin(), still_ms_.end(), 0);
    have_background_ = true;
    last_us_ = time_us;
    result_.changed = 0;
    std::fill(result_.cells.begin(), result_.cells.end(), 0);
    return result_;
  }
  const std::int64_t dt = std::max<std::int64_t>(0, time_us - last_us_);
  struct KeepPrevious {  // whatever happens below, this picture is the previous one of the next
    WorkImage& work;
    std::vector<std::uint8_t>& previous;
    ~KeepPrevious() { std::copy(work.pixels.begin(), work.pixels.end(), previous.begin()); }
  } keep{work_, previous_};
  last_us_ = time_us;
  const int changed = threshold();
  result_.changed = static_cast<double>(changed) / static_cast<double>(n);

  bool any = false;
  std::uint16_t zones = 0;
  if (result_.changed > kGlobalChange) {
    // Not motion: learn the new scene at once, so that motion is found in it from the next picture on.
    result_.global_change = true;
    for (std::size_t i = 0; i < n; ++i) background_[i] = static_cast<std::uint16_t>(work_.pixels[i] << 8);
    std::fill(still_ms_.begin(), still_ms_.end(), 0);
    std::fill(result_.cells.begin(), result_.cells.end(), 0);
  } else {
    update_background(dt);
    find_regions();
    const double min_pixels = std::max(1.0, settings_.min_area * static_cast<double>(n));
    std::sort(regions_.begin(), regions_.end(), [](const Region& a, const Region& b) { return a.pixels > b.pixels; });
    const double cell_w = static_cast<double>(kCell) / work_.width, cell_h = static_cast<double>(kCell) / work_.height;
    for (const Region& r : regions_) {
      if (r.pixels < min_pixels) break;
      any = true;
      zones = static_cast<std::uint16_t>(zones | r.zones);
      if (result_.boxes.size() == kMaxBoxes) continue;
      Box b;
      b.x = static_cast<float>(r.x0 * cell_w);
      b.y = static_cast<float>(r.y0 * cell_h);
      b.w = static_cast<float>(std::min(1.0, (r.x1 + 1) * cell_w) - r.x0 * cell_w);
      b.h = static_cast<float>(std::min(1.0, (r.y1 + 1) * cell_h) - r.y0 * cell_h);
      result_.boxes.push_back(b);
    }
  }

  const auto min_duration = std::chrono::duration_cast<std::chrono::microseconds>(settings_.min_duration).count();
  const auto cooldown = std::chrono::duration_cast<std::chrono::microseconds>(settings_.cooldown).count();
  if (any) {
    if (run_since_us_ < 0) run_since_us_ = time_us;
    last_seen_us_ = time_us;
    run_zones_ = static_cast<std::uint16_t>(run_zones_ | zones);
    if (!result_.active && time_us - run_since_us_ >= min_duration) {
      result_.active = result_.started = true;
      result_.start_us = run_since_us_;
      result_.zones.clear();
      for (std::size_t z = 0; z < settings_.zones.size() && z < 16; ++z) {
        if (run_zones_ & (1u << z)) result_.zones.push_back(settings_.zones[z].name);
      }
    }
  } else if (!result_.active) {
    run_since_us_ = -1;  // a run must be unbroken to start motion
    run_zones_ = 0;
  } else if (time_us - last_seen_us_ >= cooldown) {
    result_.active = false;
    result_.ended = true;
    run_since_us_ = -1;
    run_zones_ = 0;
  }
  return result_;
}

}  // namespace freehold::analytics
