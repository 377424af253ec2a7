// SPDX-License-Identifier: GPL-3.0-or-later
// The event service (ver10): the topic set, pull-point subscriptions and the subscription manager operations.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <algorithm>
#include <memory>

#include "core/log.hpp"

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
  attr(msg, "UtcTime", xs_datetime(m.time, true));
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
  // Each advertised topic as a path of elements ("tns1:VideoSource" > "GlobalSceneChange" > ...), the levels it
  // shares with another topic written once, and at its end the description of its messages (all properties).
  for (const auto& t : topics()) {
    if (!c.events.advertised(t.property)) continue;
    pugi::xml_node at = set;
    for (size_t from = 0; from <= t.path.size();) {
      const size_t to = std::min(t.path.find('/', from), t.path.size());
      const std::string name(t.path.substr(from, to - from));
      auto existing = at.child(name.c_str());
      at = existing ? existing : add(at, name);
      from = to + 1;
    }
    attr(at, "wstop:topic", "true");
    auto m = add(at, "tt:MessageDescription");
    attr(m, "IsProperty", "true");
    auto src = add(m, "tt:Source");
    for (const auto& item : t.source) simple_item_description(src, item.name, item.type);
    simple_item_description(add(m, "tt:Data"), t.data.name, t.data.type);
  }
  add(r, "wsnt:TopicExpressionDialect", "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet");
  add(r, "wsnt:TopicExpressionDialect", "http://docs.oasis-open.org/wsn/t-1/TopicExpression/Concrete");
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

// The topics a Filter's TopicExpression names ("tns1:VideoSource/MotionAlarm|tns1:RuleEngine//."), as paths.
Events::TopicFilter topic_filter(pugi::xml_node request) {
  Events::TopicFilter out;
  const std::string expr = text_of(child(child(request, "Filter"), "TopicExpression"));
  size_t i = 0;
  while (i <= expr.size() && out.size() < 16) {
    auto end = std::min(expr.find('|', i), expr.size());
    std::string t = expr.substr(i, end - i);
    t.erase(0, t.find_first_not_of(" \t\r\n"));
    t.erase(t.find_last_not_of(" \t\r\n") + 1);
    if (auto colon = t.find(':'); colon != std::string::npos) t.erase(0, colon + 1);
    if (t.ends_with("//.")) t.resize(t.size() - 3);
    while (t.ends_with("/")) t.pop_back();
    if (!t.empty()) out.push_back(std::move(t));
    i = end + 1;
  }
  return out;
}

std::string render_notify(const std::vector<EventMessage>& messages) {
  Reply r;
  add(r.header(), "wsa:Action", "http://docs.oasis-open.org/wsn/bw-2/NotificationConsumer/Notify");
  auto notify = r.add("wsnt:Notify");
  for (const auto& m : messages) write_message(notify, m);
  return r.str();
}

struct Consumer {
  boost::asio::ip::tcp::endpoint endpoint;
  std::string host;
  std::string path;
};

// http://ADDRESS[:PORT]/PATH with an IP address: the device resolves no names and follows no redirects.
std::optional<Consumer> parse_consumer(std::string_view url) {
  constexpr std::string_view scheme = "http://";
  if (!url.starts_with(scheme) || url.size() > 512) return std::nullopt;
  url.remove_prefix(scheme.size());
  const auto slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  Consumer c;
  c.path = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  c.host = std::string(authority);
  std::string_view host = authority;
  unsigned long port = 80;
  if (authority.starts_with('[')) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return std::nullopt;
      try {
        port = std::stoul(std::string(authority.substr(close + 2)));
      } catch (...) {
        return std::nullopt;
      }
    }
  } else if (auto colon = authority.find(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    try {
      port = std::stoul(std::string(authority.substr(colon + 1)));
    } catch (...) {
      return std::nullopt;
    }
  }
  if (port == 0 || port > 65535) return std::nullopt;
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(std::string(host), ec);
  if (ec) return std::nullopt;
  c.endpoint = {address, static_cast<unsigned short>(port)};
  for (char ch : c.path) {
    if (static_cast<unsigned char>(ch) < 0x21 || ch == 0x7f) return std::nullopt;
  }
  return c;
}

int notifies_in_flight = 0;  // I/O thread only
constexpr int kMaxNotifiesInFlight = 32;

boost::asio::awaitable<void> post_notify(Consumer consumer, std::string body) {
  namespace beast = boost::beast;
  namespace http = beast::http;
  auto ex = co_await boost::asio::this_coro::executor;
  beast::tcp_stream stream(ex);
  stream.expires_after(5s);  // connect, send and the answer together
  constexpr auto tuple = boost::asio::as_tuple(boost::asio::use_awaitable);
  auto [cec] = co_await stream.async_connect(consumer.endpoint, tuple);
  if (!cec) {
    http::request<http::string_body> req{http::verb::post, consumer.path, 11};
    req.set(http::field::host, consumer.host);
    req.set(http::field::content_type, "application/soap+xml; charset=utf-8");
    req.set(http::field::user_agent, "freeholdd");
    req.body() = std::move(body);
    req.prepare_payload();
    auto [wec, wn] = co_await http::async_write(stream, req, tuple);
    if (!wec) {
      beast::flat_buffer buffer;
      http::response_parser<http::empty_body> parser;
      parser.skip(true);
      auto [rec, rn] = co_await http::async_read_header(stream, buffer, parser, tuple);
      if (rec) log::debug("onvif.notify_failed", {{"consumer", consumer.host}, {"error", rec.message()}});
    }
  } else {
    log::debug("onvif.notify_failed", {{"consumer", consumer.host}, {"error", cec.message()}});
  }
  --notifies_in_flight;
}

OpResult subscribe(Call& c) {
  const std::string address = text_of(child(child(c.req, "ConsumerReference"), "Address"));
  auto consumer = parse_consumer(address);
  if (!consumer) {
    return invalid_arg("ConsumerReference must be http://ADDRESS[:PORT]/PATH with an IP address",
                       "wsnt:SubscribeCreationFailedFault");
  }
  // Notifications go only to the subscriber's own address: an authenticated client cannot point the device at a
  // third host.
  if (consumer->endpoint.address().to_string() != c.http.remote) {
    return invalid_arg("the consumer must be at the subscriber's own address (" + c.http.remote + ")",
                       "wsnt:SubscribeCreationFailedFault");
  }
  auto term = termination_of(child(c.req, "InitialTerminationTime"), kDefaultTermination);
  if (!term || *term <= 0s) return invalid_arg("InitialTerminationTime must be a positive duration such as PT60S");
  const std::string id = c.events.subscribe(address, *term, topic_filter(c.req));
  if (id.empty()) {
    return receiver_fault("ter:Action", "too many subscriptions; unsubscribe one or wait until one expires",
                          "ter:TooManySubscriptions");
  }
  auto r = c.reply.add("wsnt:SubscribeResponse");
  auto ref = add(r, "wsnt:SubscriptionReference");
  std::string base = service_url(c, "events_service");
  base.resize(base.size() - std::string_view("/onvif/events_service").size());
  add(ref, "wsa:Address", base + std::string(kSubscriptionPath) + id);
  add(r, "wsnt:CurrentTime", xs_datetime(std::chrono::system_clock::now()));
  add(r, "wsnt:TerminationTime", xs_datetime(c.events.termination(id)));
  return std::nullopt;
}

OpResult create_pull_point(Call& c) {
  auto term = termination_of(child(c.req, "InitialTerminationTime"), kDefaultTermination);
  if (!term || *term <= 0s) return invalid_arg("InitialTerminationTime must be a positive duration such as PT60S");
  const std::string id = c.events.create(*term, topic_filter(c.req));
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
  attr(caps, "MaxNotificationProducers", std::to_string(Events::kMaxPullPoints));
  attr(caps, "MaxPullPoints", std::to_string(Events::kMaxPullPoints));
  attr(caps, "PersistentNotificationStorage", "false");
  return std::nullopt;
}

}  // namespace

void install_notifier(Events& events, boost::asio::any_io_executor io) {
  events.set_notifier([io](const std::string& url, std::vector<EventMessage> messages) {
    auto consumer = parse_consumer(url);
    if (!consumer) return;
    if (notifies_in_flight >= kMaxNotifiesInFlight) {
      log::warn("onvif.notify_dropped", {{"consumer", consumer->host}, {"reason", "too many notifications in flight"}});
      return;
    }
    ++notifies_in_flight;
    boost::asio::co_spawn(io, post_notify(std::move(*consumer), render_notify(messages)), boost::asio::detached);
  });
}

const std::vector<Op>& events_ops() {
  static const std::vector<Op> ops = {
      {ns::tev, "GetServiceCapabilities", std::nullopt, &get_service_capabilities},
      {ns::tev, "GetEventProperties", Role::viewer, &get_event_properties},
      {ns::tev, "CreatePullPointSubscription", Role::viewer, &create_pull_point},
      {ns::tev, "PullMessages", Role::viewer, nullptr, &pull_messages},
      {ns::tev, "SetSynchronizationPoint", Role::viewer, &set_synchronization_point},
      {ns::wsnt, "Subscribe", Role::viewer, &subscribe},
      {ns::wsnt, "Renew", Role::viewer, &renew},
      {ns::wsnt, "Unsubscribe", Role::viewer, &unsubscribe},
  };
  return ops;
}

}  // namespace freehold::onvif
