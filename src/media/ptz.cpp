// SPDX-License-Identifier: GPL-3.0-or-later
#include "media/ptz.hpp"

#include <algorithm>
#include <cmath>

namespace freehold::media {
namespace {

double finite_or(double v, double fallback) {
  return std::isfinite(v) ? v : fallback;
}
double speed_fraction(double s) {
  return std::clamp(finite_or(s, 1.0), 0.01, 1.0);
}
int even(double v) {
  return static_cast<int>(std::lround(v / 2)) * 2;
}

}  // namespace

double window_fraction(double zoom) {
  return 1.0 / (1.0 + 3.0 * std::clamp(finite_or(zoom, 0), 0.0, 1.0));
}

CropWindow crop_window(const PtzPosition& position, int width, int height) {
  if (width < 2 || height < 2) return {0, 0, width, height};
  const PtzPosition p = clamp_position(position);
  const double f = window_fraction(p.zoom);
  const int w = std::clamp(even(width * f), 2, width & ~1);
  const int h = std::clamp(even(height * f), 2, height & ~1);
  // Pan -1..1 slides the window's centre across the room left for it; tilt +1 is the top.
  const double cx = width / 2.0 + p.pan * (width - w) / 2.0;
  const double cy = height / 2.0 - p.tilt * (height - h) / 2.0;
  const int x = std::clamp(even(cx - w / 2.0), 0, (width - w) & ~1);
  const int y = std::clamp(even(cy - h / 2.0), 0, (height - h) & ~1);
  return {x, y, w, h};
}

double DigitalPtz::Axis::at(Clock::time_point t) const {
  if (t >= end || end <= start) return to;
  if (t <= start) return from;
  const double done = std::chrono::duration<double>(t - start) / std::chrono::duration<double>(end - start);
  return from + (to - from) * done;
}

void DigitalPtz::Axis::go(Clock::time_point now, double target, double units_per_second) {
  from = at(now);
  to = target;
  start = now;
  const double seconds = std::abs(to - from) / units_per_second;
  if (!(units_per_second > 0) || !std::isfinite(seconds)) {  // speed 0 (or a NaN target): no move, not 0/0
    to = from;
    end = now;
    return;
  }
  end = now + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

DigitalPtz::DigitalPtz(std::function<Clock::time_point()> now) : now_(std::move(now)) {
  if (!now_) now_ = [] { return Clock::now(); };
}

void DigitalPtz::go_pan_tilt(Clock::time_point now, std::optional<double> pan, std::optional<double> tilt,
                             double speed) {
  // Both axes arrive together: the straight line from here to there, at the speed of the longer leg.
  const double dp = pan ? std::abs(*pan - pan_.at(now)) : 0, dt = tilt ? std::abs(*tilt - tilt_.at(now)) : 0;
  const double longest = std::max(dp, dt);
  const double units = kPanTiltUnitsPerSecond * speed_fraction(speed);
  if (pan) pan_.go(now, *pan, longest > 0 ? units * dp / longest : units);
  if (tilt) tilt_.go(now, *tilt, longest > 0 ? units * dt / longest : units);
}

void DigitalPtz::move_to(const PtzTarget& t, const PtzSpeed& speed) {
  std::lock_guard lock(mutex_);
  const auto now = now_();
  const auto pan = t.pan ? std::optional(std::clamp(finite_or(*t.pan, 0), -1.0, 1.0)) : std::nullopt;
  const auto tilt = t.tilt ? std::optional(std::clamp(finite_or(*t.tilt, 0), -1.0, 1.0)) : std::nullopt;
  go_pan_tilt(now, pan, tilt, speed.pan_tilt);
  if (t.zoom)
    zoom_.go(now, std::clamp(finite_or(*t.zoom, 0), 0.0, 1.0), kZoomUnitsPerSecond * speed_fraction(speed.zoom));
}

void DigitalPtz::move_by(const PtzTarget& d, const PtzSpeed& speed) {
  PtzTarget target;
  {
    std::lock_guard lock(mutex_);
    const auto now = now_();
    if (d.pan) target.pan = pan_.at(now) + finite_or(*d.pan, 0);
    if (d.tilt) target.tilt = tilt_.at(now) + finite_or(*d.tilt, 0);
    if (d.zoom) target.zoom = zoom_.at(now) + finite_or(*d.zoom, 0);
  }
  move_to(target, speed);
}

void DigitalPtz::move_by_fov(double x, double y, const PtzSpeed& speed) {
  PtzTarget target;
  {
    std::lock_guard lock(mutex_);
    const auto now = now_();
    // Half the view is x = 1; the pan range is the room left beside the window, (1 - f) of the picture on the two
    // sides together, so one unit of x is f / (1 - f) units of pan. Nothing moves at zoom 0.
    const double f = window_fraction(zoom_.at(now));
    const double scale = f < 1 ? f / (1 - f) : 0;
    target.pan = pan_.at(now) + std::clamp(finite_or(x, 0), -1.0, 1.0) * scale;
    target.tilt = tilt_.at(now) + std::clamp(finite_or(y, 0), -1.0, 1.0) * scale;
  }
  move_to(target, speed);
}

void DigitalPtz::move_continuous(const PtzVelocity& v, std::chrono::milliseconds timeout) {
  std::lock_guard lock(mutex_);
  const auto now = now_();
  const double limit_s =
      std::chrono::duration<double>(std::clamp(timeout, std::chrono::milliseconds(0), kMaxContinuousMove)).count();
  const auto run = [&](Axis& axis, double velocity, double units, double lo, double hi) {
    const double speed = std::clamp(finite_or(velocity, 0), -1.0, 1.0) * units;
    const double here = axis.at(now);
    if (speed == 0) {
      axis.go(now, here, 1);  // still
      return;
    }
    const double edge = speed > 0 ? hi : lo;
    const double to_edge_s = std::abs(edge - here) / std::abs(speed);
    const double target = to_edge_s <= limit_s ? edge : here + speed * limit_s;
    axis.go(now, target, std::abs(speed));
  };
  run(pan_, v.pan, kPanTiltUnitsPerSecond, -1, 1);
  run(tilt_, v.tilt, kPanTiltUnitsPerSecond, -1, 1);
  run(zoom_, v.zoom, kZoomUnitsPerSecond, 0, 1);
}

void DigitalPtz::stop(bool pan_tilt, bool zoom) {
  std::lock_guard lock(mutex_);
  const auto now = now_();
  if (pan_tilt) {
    pan_.go(now, pan_.at(now), 1);
    tilt_.go(now, tilt_.at(now), 1);
  }
  if (zoom) zoom_.go(now, zoom_.at(now), 1);
}

PtzStatus DigitalPtz::status() const {
  std::lock_guard lock(mutex_);
  const auto now = now_();
  PtzStatus s;
  s.position = clamp_position({pan_.at(now), tilt_.at(now), zoom_.at(now)});
  s.pan_tilt = pan_.moving(now) || tilt_.moving(now) ? MoveStatus::moving : MoveStatus::idle;
  s.zoom = zoom_.moving(now) ? MoveStatus::moving : MoveStatus::idle;
  return s;
}

CropWindow DigitalPtz::window(int width, int height) const {
  return crop_window(status().position, width, height);
}

}  // namespace freehold::media
