// SPDX-License-Identifier: GPL-3.0-or-later
#include "analytics/tamper.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace freehold::analytics {
namespace {

constexpr double kFlat = 0.25;            // detail below this share of the usual: covered
constexpr double kBack = 0.5;             // detail above this share again: uncovered
constexpr double kMinFlat = 1.5;          // grey levels per pixel: below this a picture is flat in any case
constexpr double kOtherScene = 0.5;       // similarity to the usual view below this: the view itself changed
constexpr double kReferenceSeconds = 30;  // time constant of the usual detail

double mean_gradient(const WorkImage& w) {
  if (w.width < 2 || w.height < 2) return 0;
  std::uint64_t sum = 0;
  for (int y = 0; y + 1 < w.height; ++y) {
    const std::uint8_t* row = w.pixels.data() + static_cast<std::size_t>(y) * w.width;
    const std::uint8_t* next = row + w.width;
    for (int x = 0; x + 1 < w.width; ++x) {
      sum += static_cast<std::uint64_t>(std::abs(row[x + 1] - row[x]) + std::abs(next[x] - row[x]));
    }
  }
  return static_cast<double>(sum) / (static_cast<double>(w.width - 1) * (w.height - 1));
}

// Normalised cross-correlation: 1 for the same edges in the same places whatever the light, near 0 for another
// scene, 0 for a flat picture.
double similarity(const WorkImage& w, const std::vector<float>& ref) {
  const std::size_t n = w.pixels.size();
  double sa = 0, sb = 0;
  for (std::size_t i = 0; i < n; ++i) {
    sa += w.pixels[i];
    sb += ref[i];
  }
  const double ma = sa / static_cast<double>(n), mb = sb / static_cast<double>(n);
  double cov = 0, va = 0, vb = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double a = w.pixels[i] - ma, b = ref[i] - mb;
    cov += a * b;
    va += a * a;
    vb += b * b;
  }
  return va < 1e-9 || vb < 1e-9 ? 0 : cov / std::sqrt(va * vb);
}

}  // namespace

void TamperDetector::reset() {
  result_ = {};
  have_reference_ = false;
  flat_since_ = detail_since_ = moved_since_ = -1;
}

const TamperResult& TamperDetector::process(const WorkImage& work, std::int64_t time_us) {
  result_.started = result_.ended = false;
  const double detail = mean_gradient(work);
  result_.detail = detail;
  const auto hold = std::chrono::duration_cast<std::chrono::microseconds>(hold_).count();
  if (!have_reference_ || reference_.size() != work.pixels.size()) {
    reset();
    reference_.assign(work.pixels.begin(), work.pixels.end());
    result_.detail = result_.usual_detail = detail;
    have_reference_ = true;
    last_us_ = time_us;
    return result_;
  }
  const double dt = static_cast<double>(std::max<std::int64_t>(0, time_us - last_us_)) / 1e6;
  last_us_ = time_us;
  const double usual = result_.usual_detail;
  const bool flat = detail < std::max(kMinFlat, kFlat * usual) && usual > kMinFlat;
  result_.similarity = similarity(work, reference_);

  if (result_.active) {
    if (detail >= kBack * usual) {
      if (detail_since_ < 0) detail_since_ = time_us;
      if (time_us - detail_since_ >= hold) {
        result_.active = false;
        result_.ended = true;
        detail_since_ = flat_since_ = -1;
      }
    } else {
      detail_since_ = -1;
    }
    return result_;
  }

  if (flat) {
    if (flat_since_ < 0) flat_since_ = time_us;
    if (time_us - flat_since_ >= hold) {
      result_.active = result_.started = true;
      result_.reason = "covered";
      result_.start_us = flat_since_;
      moved_since_ = -1;
      return result_;
    }
  } else {
    flat_since_ = -1;
  }

  if (result_.similarity < kOtherScene && !flat) {
    if (moved_since_ < 0) moved_since_ = time_us;
    if (time_us - moved_since_ >= hold) {
      result_.started = true;
      result_.reason = "scene_changed";
      result_.start_us = moved_since_;
      moved_since_ = -1;
      // The new view is the usual one from now on.
      reference_.assign(work.pixels.begin(), work.pixels.end());
      result_.usual_detail = detail;
    }
    return result_;
  }
  moved_since_ = -1;
  if (!flat) {
    // Nothing wrong: the usual view and detail follow slowly (seasons, day and night, a parked car).
    const double k = 1.0 - std::exp(-dt / kReferenceSeconds);
    result_.usual_detail = usual + (detail - usual) * k;
    const auto kf = static_cast<float>(k);
    for (std::size_t i = 0; i < reference_.size(); ++i) reference_[i] += (work.pixels[i] - reference_[i]) * kf;
  }
  return result_;
}

}  // namespace freehold::analytics
