// SPDX-License-Identifier: GPL-3.0-or-later
// The event service (ver10): the topic set, pull-point subscriptions and the subscription manager operations.
#include <boost/asio/awaitable.hpp>
#include <algorithm>

#include "onvif/events.hpp"
#include "onvif/ops.hpp"
#include "onvif/service.hpp"
#include "onvif/wsse.hpp"

namespace freehold::onvif {

namespace {

using namespace std::chrono_literals;
constexpr std::string_view kSubscriptionPath = "/onvif/subscription/";
constexpr auto kDefaultTermination = 60s;
constexpr std::string_view kTopicDialect = "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet";

// The pull point a request is for: from the path it was posted to, or else from the wsa:To header.
std::string subscription_id(const Call& c) {
  std::string_view path = c.http.path;
  if (!path.starts_with(kSubscriptionPath)) {
    const auto root = c.req.parent().parent();  // Body, then Envelope
    const std::string to = text_of(child(child(root, "Header"), "To"));
    const auto at = to.find(kSubscriptionPath);
    if (at == std::string::npos) return {};
    return to.substr(at + kSubscriptionPath.size());
  }
  return std::string(path.substr(kSubscriptionPath.size()));
}

Fault unknown_subscription() {
  return sender_fault("ter:InvalidArgVal", "no such subscription (it expired or was unsubscribed)",
                      "wsrf-rw:ResourceUnknownFault");
}

// InitialTerminationTime / TerminationTime: a duration ("PT60S") or an absolute UTC time.
std::optional<std::chrono::seconds> termination_of(pugi::xml_node n, std::chrono::seconds fallback) {
  if (!n) return fallback;
  const std::string t = text_of(n);
  if (t.empty()) return fallback;
  if (auto d = parse_duration(t)) return std::chrono::duration_cast<std::chrono::seconds>(*d);
  if (auto at = parse_datetime(t)) {
    return std::chrono::duration_cast<std::chrono::seconds>(*at - std::chrono::system_clock::now());
  }
  return std::nullopt;
}

void write_message(pugi::xml_node parent, const EventMessage& m) {
  auto nm = add(parent, "wsnt:NotificationMessage");
  auto topic = add(nm, "wsnt:Topic", m.topic);
  attr(topic, "Dialect", kTopicDialect);
  auto msg = add(add(nm, "wsnt:Message"), "tt:Message");
  attr(msg, "UtcTime", xs_datetime(m.time));
  attr(msg, "PropertyOperation", m.operation);
  auto src = add(msg, "tt:Source");
  for (const auto& [k, v] : m.source) {
    auto item = add(src, "tt:SimpleItem");
    attr(item, "Name", k);
    attr(item, "Value", v);
  }
  auto data = add(msg, "tt:Data");
  for (const auto& [k, v] : m.data) {
    auto item = add(data, "tt:SimpleItem");
    attr(item, "Name", k);
    attr(item, "Value", v);
  }
}

void simple_item_description(pugi::xml_node parent, std::string_view name, std::string_view type) {
  auto d = add(parent, "tt:SimpleItemDescription");
  attr(d, "Name", name);
  attr(d, "Type", type);
}

OpResult get_event_properties(Call& c) {
  auto r = c.reply.add("tev:GetEventPropertiesResponse");
  add(r, "tev:TopicNamespaceLocation", "http://www.onvif.org/onvif/ver10/topics/topicns.xml");
  add(r, "wsnt:FixedTopicSet", "true");
  auto set = add(r, "wstop:TopicSet");
  // tns1:VideoSource/MotionAlarm
  auto alarm = add(add(set, "tns1:VideoSource"), "MotionAlarm");
  attr(alarm, "wstop:topic", "true");
  auto m1 = add(alarm, "tt:MessageDescription");
  attr(m1, "IsProperty", "true");
  simple_item_description(add(m1, "tt:Source"), "Source", "tt:ReferenceToken");
  simple_item_description(add(m1, "tt:Data"), "State", "xs:boolean");
  // tns1:RuleEngine/CellMotionDetector/Motion
  auto motion = add(add(add(set, "tns1:RuleEngine"), "CellMotionDetector"), "Motion");
  attr(motion, "wstop:topic", "true");
  auto m2 = add(motion, "tt:MessageDescription");
  attr(m2, "IsProperty", "true");
  auto src = add(m2, "tt:Source");
  simple_item_description(src, "VideoSourceConfigurationToken", "tt:ReferenceToken");
  simple_item_description(src, "VideoAnalyticsConfigurationToken", "tt:ReferenceToken");
  simple_item_description(src, "Rule", "xs:string");
  simple_item_description(add(m2, "tt:Data"), "IsMotion", "xs:boolean");
  add(r, "wstop:TopicExpressionDialect", "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet");
  add(r, "wstop:TopicExpressionDialect", "http://docs.oasis-open.org/wsn/t-1/TopicExpression/Concrete");
  add(r, "tev:MessageContentFilterDialect", "http://www.onvif.org/ver10/tev/messageContentFilter/ItemFilter");
  add(r, "tev:MessageContentSchemaLocation", "http://www.onvif.org/onvif/ver10/schema/onvif.xsd");
  return std::nullopt;
}

void subscription_reference(Call& c, pugi::xml_node r, const std::string& id) {
  auto ref = add(r, "tev:SubscriptionReference");
  std::string base = service_url(c, "events_service");
  base.resize(base.size() - std::string_view("/onvif/events_service").size());
  add(ref, "wsa:Address", base + std::string(kSubscriptionPath) + id);
}

OpResult create_pull_point(Call& c) {
  auto term = termination_of(child(c.req, "InitialTerminationTime"), kDefaultTermination);
  if (!term || *term <= 0s) return invalid_arg("InitialTerminationTime must be a positive duration such as PT60S");
  const std::string id = c.events.create(*term);
  if (id.empty()) {
    return receiver_fault("ter:Action", "too many pull points; unsubscribe one or wait until one expires",
                          "ter:TooManySubscriptions");
  }
  auto r = c.reply.add("tev:CreatePullPointSubscriptionResponse");
  subscription_reference(c, r, id);
  add(r, "wsnt:CurrentTime", xs_datetime(std::chrono::system_clock::now()));
  add(r, "wsnt:TerminationTime", xs_datetime(c.events.termination(id)));
  return std::nullopt;
}

boost::asio::awaitable<OpResult> pull_messages(Call& c) {
  const std::string id = subscription_id(c);
  auto timeout = parse_duration(text_of(child(c.req, "Timeout")));
  if (!timeout) co_return invalid_arg("Timeout must be an xs:duration such as PT5S");
  long long limit = 0;
  try {
    limit = std::stoll(text_of(child(c.req, "MessageLimit")));
  } catch (...) {
    co_return invalid_arg("MessageLimit must be an integer");
  }
  auto pulled = co_await c.events.pull(id, *timeout, static_cast<std::size_t>(std::clamp(limit, 1LL, 1024LL)));
  if (pulled.status == Events::PullStatus::unknown) co_return unknown_subscription();
  if (pulled.status == Events::PullStatus::busy) {
    co_return receiver_fault("ter:Action", "another PullMessages is already waiting on this subscription");
  }
  auto r = c.reply.add("tev:PullMessagesResponse");
  add(r, "tev:CurrentTime", xs_datetime(std::chrono::system_clock::now()));
  add(r, "tev:TerminationTime", xs_datetime(c.events.termination(id)));
  for (const auto& m : pulled.messages) write_message(r, m);
  co_return std::nullopt;
}

OpResult set_synchronization_point(Call& c) {
  if (!c.events.synchronize(subscription_id(c))) return unknown_subscription();
  c.reply.add("tev:SetSynchronizationPointResponse");
  return std::nullopt;
}

OpResult renew(Call& c) {
  const std::string id = subscription_id(c);
  auto term = termination_of(child(c.req, "TerminationTime"), kDefaultTermination);
  if (!term || *term <= 0s) return invalid_arg("TerminationTime must be a positive duration such as PT60S");
  if (!c.events.renew(id, *term)) return unknown_subscription();
  auto r = c.reply.add("wsnt:RenewResponse");
  add(r, "wsnt:TerminationTime", xs_datetime(c.events.termination(id)));
  add(r, "wsnt:CurrentTime", xs_datetime(std::chrono::system_clock::now()));
  return std::nullopt;
}

OpResult unsubscribe(Call& c) {
  if (!c.events.remove(subscription_id(c))) return unknown_subscription();
  c.reply.add("wsnt:UnsubscribeResponse");
  return std::nullopt;
}

OpResult get_service_capabilities(Call& c) {
  auto caps = add(c.reply.add("tev:GetServiceCapabilitiesResponse"), "tev:Capabilities");
  attr(caps, "WSSubscriptionPolicySupport", "false");
  attr(caps, "WSPausableSubscriptionManagerInterfaceSupport", "false");
  attr(caps, "MaxNotificationProducers", "0");
  attr(caps, "MaxPullPoints", std::to_string(Events::kMaxPullPoints));
  attr(caps, "PersistentNotificationStorage", "false");
  return std::nullopt;
}

}  // namespace

const std::vector<Op>& events_ops() {
  static const std::vector<Op> ops = {
      {ns::tev, "GetServiceCapabilities", std::nullopt, &get_service_capabilities},
      {ns::tev, "GetEventProperties", Role::viewer, &get_event_properties},
      {ns::tev, "CreatePullPointSubscription", Role::viewer, &create_pull_point},
      {ns::tev, "PullMessages", Role::viewer, nullptr, &pull_messages},
      {ns::tev, "SetSynchronizationPoint", Role::viewer, &set_synchronization_point},
      {ns::wsnt, "Renew", Role::viewer, &renew},
      {ns::wsnt, "Unsubscribe", Role::viewer, &unsubscribe},
  };
  return ops;
}

}  // namespace freehold::onvif
