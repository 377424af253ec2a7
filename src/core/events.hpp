// SPDX-License-Identifier: GPL-3.0-or-later
// The event bus: what happened in front of the camera (motion, a person, tampering), as one record that every
// consumer reads the same way: ONVIF events, the REST server-sent events stream and history, MQTT, recording.
// Detectors run on their own threads and post their events to the I/O thread; the bus lives there (like the
// device model) and is not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/signal.hpp"

namespace freehold {

// A rectangle in picture coordinates normalised to 0..1 (x, y: top left), so it does not depend on the stream size.
struct Box {
  float x = 0, y = 0, w = 0, h = 0;
  friend bool operator==(const Box&, const Box&) = default;
};

// Something a detector saw: "motion" regions, a "person", ...
struct Detection {
  std::string label;
  float confidence = 1;  // 0..1
  Box box;
};

namespace event_type {
inline constexpr std::string_view motion_start = "motion_start";
inline constexpr std::string_view motion_end = "motion_end";
inline constexpr std::string_view person = "person";
inline constexpr std::string_view tamper = "tamper";
}  // namespace event_type

struct Event {
  std::int64_t id = 0;  // set by the bus: increasing, never reused (also across restarts when a store is attached)
  std::string type;     // event_type::*
  std::chrono::system_clock::time_point time;  // when the picture that shows it was taken (UTC)
  std::string source = "camera";               // which detector input: the camera (later: a doorbell, ...)
  std::vector<std::string> zones;              // the zones it happened in (empty: no zones configured)
  std::vector<Detection> objects;              // boxes of moving regions or detected objects
  std::int64_t related = 0;                    // motion_end: the id of its motion_start; else 0
  std::int64_t duration_ms = 0;                // motion_end: how long the motion lasted
  std::string detail;                          // tamper: "covered" or "scene_changed"
  // JPEG of the picture that shows it (boxes drawn when configured); nullptr if none was taken.
  std::shared_ptr<const std::vector<std::uint8_t>> snapshot;
};

class EventBus final {
 public:
  using EventSignal = Signal<Event>;
  // The first id handed out (a store passes one past the newest id it holds).
  explicit EventBus(std::int64_t first_id = 1) : next_id_(first_id) {}

  // Stamps the id and hands the event to every subscriber, in subscription order; returns the id.
  std::int64_t publish(Event e);
  [[nodiscard]] EventSignal::Subscription subscribe(EventSignal::Handler h) { return signal_.subscribe(std::move(h)); }
  [[nodiscard]] std::int64_t next_id() const { return next_id_; }

 private:
  std::int64_t next_id_;
  EventSignal signal_;
};

}  // namespace freehold
