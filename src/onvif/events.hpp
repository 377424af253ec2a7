// SPDX-License-Identifier: GPL-3.0-or-later
// ONVIF events: the motion state as the two topics NVRs listen to (tns1:VideoSource/MotionAlarm with State, and
// tns1:RuleEngine/CellMotionDetector/Motion with IsMotion), pull points with bounded queues that expire, and the
// "Initialized" current state first. Runs on the I/O thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace freehold::onvif {

struct EventMessage {
  std::string topic;  // "tns1:VideoSource/MotionAlarm"
  std::chrono::system_clock::time_point time;
  std::string operation;  // "Initialized", "Changed", "Deleted"
  std::vector<std::pair<std::string, std::string>> source;
  std::vector<std::pair<std::string, std::string>> data;
};

class Events final {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t kMaxPullPoints = 16;
  static constexpr std::size_t kQueueLimit = 256;  // per pull point; the oldest are dropped beyond it
  static constexpr std::chrono::seconds kMaxTermination{3600};
  static constexpr std::chrono::seconds kMaxPullTimeout{300};

  explicit Events(boost::asio::any_io_executor io);
  ~Events();

  // The motion sensor changed (or its first state is known).
  void set_motion(bool motion, std::chrono::system_clock::time_point when);
  [[nodiscard]] bool motion() const { return motion_; }

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
  [[nodiscard]] std::vector<EventMessage> current_state(const std::string& operation) const;
  PullPoint* find(const std::string& id);
  std::string add(std::shared_ptr<PullPoint> p, std::chrono::seconds termination);
  void deliver(PullPoint& p, std::vector<EventMessage> messages);
  Notifier notifier_;

  boost::asio::any_io_executor io_;
  std::map<std::string, std::shared_ptr<PullPoint>> points_;
  bool motion_ = false;
  std::chrono::system_clock::time_point motion_since_ = std::chrono::system_clock::now();
  std::size_t dropped_ = 0;
};

}  // namespace freehold::onvif
