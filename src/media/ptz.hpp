// SPDX-License-Identifier: GPL-3.0-or-later
// Pan, tilt and zoom behind one driver interface, so that a motorised head can replace the digital one: moves
// (absolute, relative, relative in the field of view, continuous with a time limit), stop and status. Positions are
// in the ONVIF generic spaces (core/ptz_presets.hpp); speeds and velocities are fractions of the driver's fastest.
//
// DigitalPtz crops the sensor picture: zoom 0 is the whole picture, zoom 1 a window a quarter of its width (the
// magnification grows linearly, 1 + 3 * zoom); pan and tilt place the window within the picture (-1 left/bottom
// edge, +1 right/top edge). Moves are straight lines in time evaluated when asked for, so a continuous move needs
// no timer: its end (the time limit or the edge of the range) is part of the move, and it stops by itself.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>

#include "core/ptz_presets.hpp"

namespace freehold::media {

enum class MoveStatus { idle, moving };

struct PtzStatus {
  PtzPosition position;
  MoveStatus pan_tilt = MoveStatus::idle;
  MoveStatus zoom = MoveStatus::idle;
};

// Axes left unset keep what they are doing.
struct PtzTarget {
  std::optional<double> pan, tilt, zoom;
};

// Fractions of the fastest speed, (0, 1]; values outside are clamped.
struct PtzSpeed {
  double pan_tilt = 1;
  double zoom = 1;
};

// Fractions of the fastest speed, [-1, 1]; 0 leaves the axis still.
struct PtzVelocity {
  double pan = 0, tilt = 0, zoom = 0;
};

inline constexpr std::chrono::milliseconds kMaxContinuousMove{60000};

class PtzDriver {
 public:
  virtual ~PtzDriver() = default;
  virtual void move_to(const PtzTarget& position, const PtzSpeed& speed) = 0;
  virtual void move_by(const PtzTarget& translation, const PtzSpeed& speed) = 0;
  // Centres the point (x, y) of the current view, (0, 0) the centre and (1, 1) the top right corner (the ONVIF
  // TranslationSpaceFov).
  virtual void move_by_fov(double x, double y, const PtzSpeed& speed) = 0;
  // Moves until stopped, the end of the range, or `timeout` (at most kMaxContinuousMove).
  virtual void move_continuous(const PtzVelocity& velocity, std::chrono::milliseconds timeout) = 0;
  virtual void stop(bool pan_tilt, bool zoom) = 0;
  [[nodiscard]] virtual PtzStatus status() const = 0;
};

// A window of the picture, in pixels; x, y, width and height even (4:2:0 chroma).
struct CropWindow {
  int x = 0, y = 0, width = 0, height = 0;
  friend bool operator==(const CropWindow&, const CropWindow&) = default;
};

// The window the position shows of a width x height picture (the whole picture at zoom 0).
[[nodiscard]] CropWindow crop_window(const PtzPosition& position, int width, int height);
// The fraction of the picture width the window spans at this zoom.
[[nodiscard]] double window_fraction(double zoom);

class DigitalPtz final : public PtzDriver {
 public:
  using Clock = std::chrono::steady_clock;
  // Full range in 2 s at speed 1 for pan and tilt (2 units per second), and for zoom (0.5 units per second).
  static constexpr double kPanTiltUnitsPerSecond = 1.0;
  static constexpr double kZoomUnitsPerSecond = 0.5;

  explicit DigitalPtz(std::function<Clock::time_point()> now = {});

  void move_to(const PtzTarget& position, const PtzSpeed& speed) override;
  void move_by(const PtzTarget& translation, const PtzSpeed& speed) override;
  void move_by_fov(double x, double y, const PtzSpeed& speed) override;
  void move_continuous(const PtzVelocity& velocity, std::chrono::milliseconds timeout) override;
  void stop(bool pan_tilt, bool zoom) override;
  [[nodiscard]] PtzStatus status() const override;

  // The window to crop from a width x height picture now (capture thread, every picture).
  [[nodiscard]] CropWindow window(int width, int height) const;

 private:
  // One axis moving in a straight line from `from` at `start` to `to` at `end`.
  struct Axis {
    double from = 0, to = 0;
    Clock::time_point start{}, end{};
    [[nodiscard]] double at(Clock::time_point t) const;
    [[nodiscard]] bool moving(Clock::time_point t) const { return t < end; }
    void go(Clock::time_point now, double target, double units_per_second);
  };
  void go_pan_tilt(Clock::time_point now, std::optional<double> pan, std::optional<double> tilt, double speed);

  std::function<Clock::time_point()> now_;
  mutable std::mutex mutex_;
  Axis pan_, tilt_, zoom_;
};

}  // namespace freehold::media
