// SPDX-License-Identifier: GPL-3.0-or-later
#include "onvif/events.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/crypto.hpp"

namespace freehold::onvif {

namespace asio = boost::asio;

struct Events::PullPoint {
  std::deque<EventMessage> queue;
  Clock::time_point expires;
  std::chrono::system_clock::time_point expires_wall;
  asio::steady_timer* waiter = nullptr;  // a pull waiting for messages
  bool closed = false;
  TopicFilter filter;
  std::string consumer;  // set: a push subscription

  bool wants(const EventMessage& m) const {
    if (filter.empty()) return true;
    const std::string_view path = std::string_view(m.topic).substr(m.topic.find(':') + 1);
    for (const auto& f : filter) {
      if (path.starts_with(f) && (path.size() == f.size() || path[f.size()] == '/')) return true;
    }
    return false;
  }

  void set_termination(std::chrono::seconds t) {
    expires = Clock::now() + t;
    expires_wall = std::chrono::system_clock::now() + t;
  }
  void wake() {
    if (waiter) waiter->cancel();
  }
};

Events::Events(asio::any_io_executor io) : io_(std::move(io)) { advertise(Property::motion); }
Events::~Events() { stop(); }

const std::vector<Topic>& topics() {
  static const std::vector<Topic> table{
      {Property::motion,
       "tns1:VideoSource/MotionAlarm",
       {{"Source", "tt:ReferenceToken", "VideoSource_1"}},
       {"State", "xs:boolean", ""},
       "true",
       "false"},
      // The cell motion detector's source items name the configurations the profiles carry.
      {Property::motion,
       "tns1:RuleEngine/CellMotionDetector/Motion",
       {{"VideoSourceConfigurationToken", "tt:ReferenceToken", "VideoSourceConfig_1"},
        {"VideoAnalyticsConfigurationToken", "tt:ReferenceToken", "Analytics_1"},
        {"Rule", "xs:string", "MotionDetectorRule"}},
       {"IsMotion", "xs:boolean", ""},
       "true",
       "false"},
      {Property::tamper,
       "tns1:VideoSource/GlobalSceneChange/AnalyticsService",
       {{"Source", "tt:ReferenceToken", "VideoSource_1"}},
       {"State", "xs:boolean", ""},
       "true",
       "false"},
      // A "specified rule" (Analytics spec, annex): sourced by the video source, analytics configuration and rule.
      {Property::person,
       "tns1:RuleEngine/ObjectDetection/Object",
       {{"VideoSource", "tt:ReferenceToken", "VideoSource_1"},
        {"AnalyticsConfiguration", "tt:ReferenceToken", "Analytics_1"},
        {"Rule", "xs:string", "PersonDetectorRule"}},
       {"ClassTypes", "tt:StringList", ""},
       "Person",
       ""},
  };
  return table;
}

void Events::append_messages(Property p, const std::string& operation, std::vector<EventMessage>& out) const {
  const State& s = state(p);
  const auto when = operation == "Initialized" ? std::chrono::system_clock::now() : s.since;
  for (const auto& t : topics()) {
    if (t.property != p) continue;
    EventMessage m{std::string(t.path), when, operation, {}, {}};
    m.data.emplace_back(t.data.name, s.on ? t.on : t.off);
    for (const auto& item : t.source) m.source.emplace_back(item.name, item.value);
    out.push_back(std::move(m));
  }
}

std::vector<EventMessage> Events::current_state(const std::string& operation) const {
  std::vector<EventMessage> out;
  for (auto p : {Property::motion, Property::tamper, Property::person})
    if (state(p).advertised) append_messages(p, operation, out);
  return out;
}

void Events::set_state(Property p, bool on, std::chrono::system_clock::time_point when) {
  State& s = state(p);
  if (on == s.on) return;
  s.on = on;
  s.since = when;
  if (!s.advertised) return;
  sweep();
  std::vector<EventMessage> changed;
  append_messages(p, "Changed", changed);
  for (auto& [id, point] : points_) deliver(*point, changed);
}

void Events::deliver(PullPoint& p, std::vector<EventMessage> messages) {
  std::erase_if(messages, [&p](const EventMessage& m) { return !p.wants(m); });
  if (messages.empty()) return;
  if (!p.consumer.empty()) {
    if (notifier_) notifier_(p.consumer, std::move(messages));
    return;
  }
  for (auto& m : messages) {
    if (p.queue.size() >= kQueueLimit) {
      p.queue.pop_front();
      ++dropped_;
    }
    p.queue.push_back(std::move(m));
  }
  p.wake();
}

void Events::sweep() {
  const auto now = Clock::now();
  for (auto it = points_.begin(); it != points_.end();) {
    if (it->second->expires <= now && !it->second->waiter) {
      it->second->closed = true;
      it = points_.erase(it);
    } else {
      ++it;
    }
  }
}

Events::PullPoint* Events::find(const std::string& id) {
  sweep();
  auto it = points_.find(id);
  return it == points_.end() ? nullptr : it->second.get();
}

std::string Events::add(std::shared_ptr<PullPoint> p, std::chrono::seconds termination) {
  sweep();
  if (points_.size() >= kMaxPullPoints) return {};
  p->set_termination(std::min(termination, kMaxTermination));
  std::string id = crypto::hex(crypto::random_bytes(12));
  auto& point = *points_.emplace(id, std::move(p)).first->second;
  deliver(point, current_state("Initialized"));
  return id;
}

std::string Events::create(std::chrono::seconds termination, TopicFilter filter) {
  auto p = std::make_shared<PullPoint>();
  p->filter = std::move(filter);
  return add(std::move(p), termination);
}

std::string Events::subscribe(std::string consumer, std::chrono::seconds termination, TopicFilter filter) {
  auto p = std::make_shared<PullPoint>();
  p->filter = std::move(filter);
  p->consumer = std::move(consumer);
  return add(std::move(p), termination);
}

bool Events::exists(const std::string& id) { return find(id) != nullptr; }

std::chrono::system_clock::time_point Events::termination(const std::string& id) {
  auto* p = find(id);
  return p ? p->expires_wall : std::chrono::system_clock::now();
}

bool Events::renew(const std::string& id, std::chrono::seconds termination) {
  auto* p = find(id);
  if (!p) return false;
  p->set_termination(std::min(termination, kMaxTermination));
  return true;
}

bool Events::remove(const std::string& id) {
  auto it = points_.find(id);
  if (it == points_.end()) return false;
  it->second->closed = true;
  it->second->wake();
  points_.erase(it);
  return true;
}

bool Events::synchronize(const std::string& id) {
  auto* p = find(id);
  if (!p) return false;
  deliver(*p, current_state("Initialized"));
  return true;
}

asio::awaitable<Events::Pulled> Events::pull(std::string id, std::chrono::milliseconds timeout, std::size_t limit) {
  Pulled out;
  sweep();
  auto it = points_.find(id);
  if (it == points_.end()) {
    out.status = PullStatus::unknown;
    co_return out;
  }
  std::shared_ptr<PullPoint> p = it->second;  // it may be removed while we wait
  if (!p->consumer.empty()) {
    out.status = PullStatus::unknown;  // a push subscription has nothing to pull
    co_return out;
  }
  if (p->waiter) {
    out.status = PullStatus::busy;
    co_return out;
  }
  timeout = std::min<std::chrono::milliseconds>(timeout, kMaxPullTimeout);
  if (p->queue.empty() && timeout.count() > 0) {
    asio::steady_timer timer(io_);
    timer.expires_after(timeout);
    p->waiter = &timer;
    (void)co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    p->waiter = nullptr;
  }
  limit = std::max<std::size_t>(limit, 1);
  while (!p->queue.empty() && out.messages.size() < limit) {
    out.messages.push_back(std::move(p->queue.front()));
    p->queue.pop_front();
  }
  // The pull point stays alive for at least the timeout after a response (Core: pull point keep-alive).
  const auto keep = std::chrono::duration_cast<std::chrono::seconds>(timeout) + std::chrono::seconds(1);
  if (!p->closed && p->expires < Clock::now() + keep) p->set_termination(keep);
  co_return out;
}

void Events::stop() {
  for (auto& [id, p] : points_) {
    p->closed = true;
    p->wake();
  }
  points_.clear();
}

}  // namespace freehold::onvif
