// SPDX-License-Identifier: GPL-3.0-or-later
// ONVIF events: the device's states as properties — motion on the two topics NVRs listen to
// (tns1:VideoSource/MotionAlarm with State, tns1:RuleEngine/CellMotionDetector/Motion with IsMotion), and where the
// analytics run, tampering (tns1:VideoSource/GlobalSceneChange/AnalyticsService, State) and people
// (tns1:RuleEngine/ObjectDetection/Object, ClassTypes "Person" or empty) — pull points with bounded queues that
// expire, and the "Initialized" current state first. Runs on the I/O thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <array>
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace freehold::onvif {

struct EventMessage {
  std::string topic;  // "tns1:VideoSource/MotionAlarm"
  std::chrono::system_clock::time_point time;
  std::string operation;  // "Initialized", "Changed", "Deleted"
  std::vector<std::pair<std::string, std::string>> source;
  std::vector<std::pair<std::string, std::string>> data;
};

// A state the device reports; motion always, tamper and person once advertised (the analytics run).
enum class Property { motion, tamper, person };
inline constexpr std::size_t kProperties = 3;

// One topic of the topic set, which GetEventProperties describes and the messages carry: its path, its source
// items (name, type, this device's value) and its data item (name, type, its value while the property is on, off).
struct TopicItem {
  std::string_view name, type, value;
};
struct Topic {
  Property property;
  std::string_view path;  // "tns1:VideoSource/MotionAlarm"
  std::vector<TopicItem> source;
  TopicItem data;  // `value` unused: on and off below
  std::string_view on, off;
};
// In the order GetEventProperties lists them and a pull point's current state sends them.
[[nodiscard]] const std::vector<Topic>& topics();

class Events final {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t kMaxPullPoints = 16;
  static constexpr std::size_t kQueueLimit = 256;  // per pull point; the oldest are dropped beyond it
  static constexpr std::chrono::seconds kMaxTermination{3600};
  static constexpr std::chrono::seconds kMaxPullTimeout{300};

  explicit Events(boost::asio::any_io_executor io);
  ~Events();

  // A state changed (or its first value is known): subscribers get its topics as "Changed" if it is advertised.
  void set_state(Property p, bool on, std::chrono::system_clock::time_point when);
  void set_motion(bool motion, std::chrono::system_clock::time_point when) {
    set_state(Property::motion, motion, when);
  }
  [[nodiscard]] bool motion() const { return state(Property::motion).on; }
  // Makes a property's topics part of the current state and of GetEventProperties (motion is from the start).
  void advertise(Property p) { state(p).advertised = true; }
  [[nodiscard]] bool advertised(Property p) const { return state(p).advertised; }

  // Topic paths a subscription wants ("VideoSource/MotionAlarm"; a prefix matches its subtopics); empty: all.
  using TopicFilter = std::vector<std::string>;
  // A new pull point with the current state queued as "Initialized"; its id (unguessable), or empty when full.
  [[nodiscard]] std::string create(std::chrono::seconds termination, TopicFilter filter = {});
  // A push subscription (WS-BaseNotification): every message goes to `consumer` through the notifier, starting
  // with the current state. Same id space, limit, renewal and expiry as pull points.
  [[nodiscard]] std::string subscribe(std::string consumer, std::chrono::seconds termination, TopicFilter filter = {});
  using Notifier = std::function<void(const std::string& consumer, std::vector<EventMessage> messages)>;
  void set_notifier(Notifier n) { notifier_ = std::move(n); }
  [[nodiscard]] bool exists(const std::string& id);
  // The termination time (system clock) of a pull point.
  [[nodiscard]] std::chrono::system_clock::time_point termination(const std::string& id);
  bool renew(const std::string& id, std::chrono::seconds termination);
  bool remove(const std::string& id);
  // Queues the current state again as "Initialized".
  bool synchronize(const std::string& id);

  enum class PullStatus { ok, unknown, busy };
  struct Pulled {
    PullStatus status = PullStatus::ok;
    std::vector<EventMessage> messages;
  };
  // Returns queued messages at once, or waits until one arrives or `timeout` passes.
  [[nodiscard]] boost::asio::awaitable<Pulled> pull(std::string id, std::chrono::milliseconds timeout, std::size_t limit);

  // Ends every pull point; waiting pulls return at once.
  void stop();
  [[nodiscard]] std::size_t dropped() const { return dropped_; }

 private:
  struct PullPoint;
  void sweep();
  struct State {
    bool advertised = false;
    bool on = false;
    std::chrono::system_clock::time_point since = std::chrono::system_clock::now();
  };
  [[nodiscard]] State& state(Property p) { return states_[static_cast<std::size_t>(p)]; }
  [[nodiscard]] const State& state(Property p) const { return states_[static_cast<std::size_t>(p)]; }
  [[nodiscard]] std::vector<EventMessage> current_state(const std::string& operation) const;
  // The messages of one property's topics: "Initialized" stamped now, "Changed" with the time of the change.
  void append_messages(Property p, const std::string& operation, std::vector<EventMessage>& out) const;
  PullPoint* find(const std::string& id);
  std::string add(std::shared_ptr<PullPoint> p, std::chrono::seconds termination);
  void deliver(PullPoint& p, std::vector<EventMessage> messages);
  Notifier notifier_;

  boost::asio::any_io_executor io_;
  std::map<std::string, std::shared_ptr<PullPoint>> points_;
  std::array<State, kProperties> states_{};
  std::size_t dropped_ = 0;
};

}  // namespace freehold::onvif
