// SPDX-License-Identifier: GPL-3.0-or-later
// The analytics engine: one thread that takes raw pictures from the camera's capture at its own rate (motion.fps,
// independent of the streams), runs the motion and tamper detectors on each, and the person detector on the
// moving regions at most once per person.interval_ms. What it finds goes out as events (core/events.hpp) and
// sensor states through a sink; the daemon posts both to the I/O thread, where the event bus and the device model
// live. Settings come from the device model (analytics_settings) and apply live.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "analytics/motion.hpp"
#include "analytics/person.hpp"
#include "core/config.hpp"
#include "core/events.hpp"
#include "media/capture.hpp"

namespace freehold::analytics {

struct AnalyticsSettings {
  bool enabled = true;  // motion.enabled, and not in privacy mode: nothing is analysed otherwise
  int fps = 5;
  MotionSettings motion;
  bool tamper = true;
  bool person = true;
  PersonOptions person_options;
  std::chrono::milliseconds person_interval{1000};
  bool snapshots = true;
  bool draw_boxes = true;
};

// The motion.*, tamper.*, person.* and events.* settings (already validated by the settings schema).
[[nodiscard]] AnalyticsSettings analytics_settings(const Config& config);

struct AnalyticsSink {
  std::function<void(Event)> event;                             // a finished event (without id)
  std::function<void(std::string_view entity, bool on)> state;  // the motion, tamper and person sensors
};

// Pictures wider than this are analysed scaled down (the capture scales them once for every subscriber).
inline constexpr int kMaxAnalysisWidth = 1280;

class Engine final {
 public:
  // Subscribes to `capture`, which must not have started yet and must give raw pictures.
  Engine(media::Capture& capture, AnalyticsSettings settings, AnalyticsSink sink);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  void start();
  void stop();
  // Any thread; the next picture is analysed with these.
  void configure(AnalyticsSettings settings);

  struct Stats {
    std::uint64_t pictures = 0;   // analysed
    std::uint64_t motion_us = 0;  // total time in the motion and tamper detectors
    std::uint64_t person_calls = 0;
    std::uint64_t person_us = 0;
  };
  [[nodiscard]] Stats stats() const;

 private:
  void run();
  void apply_settings(AnalyticsSettings fresh);
  void analyse(const hal::Picture& picture, const AnalyticsSettings& s);
  void load_person_detector(const AnalyticsSettings& s);
  void look_for_people(const hal::Picture& picture, const MotionResult& motion, const AnalyticsSettings& s);
  void set_state(std::string_view entity, bool on);
  std::shared_ptr<const std::vector<std::uint8_t>> snapshot(const hal::Picture& picture,
                                                            const std::vector<Detection>& objects,
                                                            const AnalyticsSettings& s) const;

  std::shared_ptr<media::Feed> feed_;
  AnalyticsSink sink_;
  mutable std::mutex mutex_;
  AnalyticsSettings pending_;
  bool changed_ = true;
  std::atomic<bool> running_{false};
  std::thread thread_;

  std::optional<Zone> overlay_;  // the source's own overlay: never motion

  // Analytics thread only.
  AnalyticsSettings settings_;
  MotionDetector motion_;
  std::unique_ptr<class TamperDetector> tamper_;
  std::unique_ptr<PersonDetector> person_;
  std::optional<PersonOptions> person_loaded_;  // the options person_ was made with (or failed with)
  std::int64_t last_person_call_us_ = -1;
  std::int64_t last_person_event_us_ = -1;
  std::size_t people_reported_ = 0;  // most people reported in the current motion
  bool motion_on_ = false, tamper_on_ = false, person_on_ = false;
  std::chrono::system_clock::time_point motion_since_;  // the current motion's start
  std::vector<std::string> motion_zones_;

  mutable std::mutex stats_mutex_;
  Stats stats_;
};

}  // namespace freehold::analytics
