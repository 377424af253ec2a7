// SPDX-License-Identifier: GPL-3.0-or-later
#include "onvif/service.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cctype>
#include <cstdio>
#include <sstream>
#include <ctime>
#include <unordered_map>

#include "core/log.hpp"
#include "onvif/events.hpp"
#include "onvif/ops.hpp"
#include "onvif/wsse.hpp"
#include "rtsp/digest.hpp"
#include "web/offload.hpp"

namespace freehold::onvif {

namespace asio = boost::asio;
using asio::awaitable;

namespace {

constexpr std::string_view kSoapType = "application/soap+xml; charset=utf-8";
constexpr std::string_view kPrefix = "/onvif/";

web::Response soap_response(int status, std::string body) {
  web::Response r;
  r.status = status;
  r.body = std::move(body);
  r.header("Content-Type", std::string(kSoapType));
  return r;
}

web::Response fault_response(const Fault& f) { return soap_response(f.http_status, render_fault(f)); }

// The host part of the Host header, if it is a plain host name or address (what the client used to reach us).
std::string host_from_header(std::string_view host) {
  if (host.empty() || host.size() > 255) return {};
  std::string_view h = host;
  if (h.front() == '[') {
    const auto close = h.find(']');
    if (close == std::string_view::npos) return {};
    h = h.substr(0, close + 1);
  } else if (auto colon = h.rfind(':'); colon != std::string_view::npos) {
    h = h.substr(0, colon);
  }
  for (char ch : h) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
                    ch == '-' || ch == ':' || ch == '[' || ch == ']' || ch == '_';
    if (!ok) return {};
  }
  return std::string(h);
}

}  // namespace

struct Service::Impl {
  ServiceDeps deps;
  NonceCache nonces;
  rtsp::DigestAuth digest;
  Events events;
  std::unordered_map<std::string, const Op*> table;
  EventBus::EventSignal::Subscription motion_events;
  DeviceModel::ChangeSignal::Subscription analytics_states;

  explicit Impl(ServiceDeps d)
      : deps(std::move(d)), digest("ONVIF", crypto::random_bytes(32)), events(deps.io) {
    for (const auto* list : {&device_ops(), &media_ops(), &events_ops(), &imaging_ops(), &ptz_ops()}) {
      for (const auto& op : *list) table.emplace(std::string(op.ns) + '#' + std::string(op.name), &op);
    }
    install_notifier(events, deps.io);
    // The motion events of the bus drive the motion topics, stamped with the time of the picture that showed it.
    if (auto m = deps.model.state("motion"); m && std::holds_alternative<bool>(*m)) {
      events.set_motion(std::get<bool>(*m), std::chrono::system_clock::now());
    }
    if (deps.events) {
      motion_events = deps.events->subscribe([this](const Event& e) {
        if (e.type == event_type::motion_start) events.set_motion(true, e.time);
        if (e.type == event_type::motion_end) events.set_motion(false, e.time);
      });
    }
    // Tampering and people: the analytics' sensors, as they change (topics once analytics_started() says so).
    analytics_states = deps.model.subscribe([this](const Change& c) {
      if (c.kind != Change::Kind::state || !std::holds_alternative<bool>(c.value)) return;
      const auto now = std::chrono::system_clock::now();
      if (auto p = analytics_property(c.key)) events.set_state(*p, std::get<bool>(c.value), now);
    });
  }

  static std::optional<Property> analytics_property(std::string_view entity) {
    if (entity == "tamper") return Property::tamper;
    if (entity == "person") return Property::person;
    return std::nullopt;
  }

  web::Response challenge(bool stale) {
    auto r = fault_response(sender_fault("ter:NotAuthorized", "authentication required"));
    r.status = 401;
    r.header("WWW-Authenticate", digest.challenge(rtsp::DigestAuth::Clock::now(), stale));
    return r;
  }

  static web::Response not_authorized(std::string reason) {
    return fault_response(sender_fault("ter:NotAuthorized", std::move(reason)));
  }

  // nullopt with `user` set, or the refusal to send.
  std::optional<web::Response> authenticate(const web::Request& req, const Envelope& env, std::optional<User>& user) {
    if (const auto* t = deps.tunnels ? deps.tunnels->find(req.remote, req.remote_port, req.local_port) : nullptr) {
      user = User{t->user(), t->role, 0};
      return std::nullopt;
    }
    std::string token_error;
    auto token = find_username_token(env.header, &token_error);
    if (!token_error.empty()) return not_authorized("malformed UsernameToken: " + token_error);
    const std::string_view authorization = req.header("authorization");
    if (!token && authorization.empty()) return challenge(false);
    if (!deps.accounts.claimed()) return not_authorized("the device is not claimed yet: claim it in the web UI");

    using Status = LegacyOutcome::Status;
    LegacyOutcome outcome;
    if (token) {
      if (!token->digest && !req.tls) {
        return not_authorized("PasswordText is accepted only over HTTPS; use PasswordDigest");
      }
      const auto now = NonceCache::Clock::now();
      outcome = deps.auth.check("onvif", req.remote, token->username, [&](std::string_view secret, std::string& why) {
        const auto v = nonces.verify(*token, secret, now);
        why = std::string(to_string(v));
        return v == TokenVerdict::ok ? Proof::ok : Proof::wrong;
      });
    } else if (rtsp::auth_scheme(authorization) == rtsp::AuthScheme::digest) {
      std::string perror;
      auto creds = rtsp::parse_digest_authorization(authorization, &perror);
      if (!creds) return not_authorized("malformed Digest Authorization: " + perror);
      const std::string uri = req.query.empty() ? req.path : req.path + "?" + req.query;
      const auto now = rtsp::DigestAuth::Clock::now();
      outcome = deps.auth.check("onvif", req.remote, creds->username, [&](std::string_view secret, std::string& why) {
        const auto v = digest.verify(*creds, req.method, uri, secret, now);
        why = std::string(rtsp::to_string(v));
        return v == rtsp::DigestVerdict::ok ? Proof::ok : v == rtsp::DigestVerdict::stale ? Proof::retry : Proof::wrong;
      });
      if (outcome.status == Status::retry) return challenge(true);
    } else if (rtsp::auth_scheme(authorization) == rtsp::AuthScheme::basic && req.tls) {
      auto creds = rtsp::parse_basic_authorization(authorization);
      if (!creds) return not_authorized("malformed Basic Authorization");
      outcome = deps.auth.check("onvif", req.remote, creds->username, [&](std::string_view secret, std::string&) {
        return crypto::equal_constant_time(creds->password, secret) ? Proof::ok : Proof::wrong;
      });
    } else {
      return challenge(false);
    }
    if (outcome.status == Status::locked) {
      auto r = not_authorized("too many failed attempts; try again in " + std::to_string(outcome.retry_after_s) +
                              " seconds");
      r.header("Retry-After", std::to_string(outcome.retry_after_s));
      return r;
    }
    if (outcome.status != Status::ok) {
      log::notice("onvif.auth_failed", {{"remote", req.remote}, {"reason", outcome.why}});
      return not_authorized("wrong user name or password (" + outcome.why + ")");
    }
    user = outcome.user;
    return std::nullopt;
  }

  // Not a coroutine: GCC 12 mishandles a capturing lambda built inside a co_await operand.
  awaitable<web::Snapshot> take_snapshot(std::string stream) {
    return web::offload<web::Snapshot>(deps.slow_work, [this, s = std::move(stream)] { return deps.snapshot(s); });
  }

  awaitable<web::Response> snapshot(const web::Request& req) {
    std::optional<User> user;
    Envelope none;
    if (auto refused = authenticate(req, none, user)) co_return *refused;
    std::string stream = req.query_param("profile").value_or("main");
    if (stream.starts_with("Profile_")) stream = stream.substr(8);
    if (stream != "main" && stream != "sub") {
      web::Response r;
      r.status = 404;
      r.body = "no such profile\n";
      co_return r;
    }
    auto shot = co_await take_snapshot(stream);
    web::Response r;
    if (shot.jpeg.empty()) {
      r.status = 503;
      r.body = shot.error + "\n";
      r.header("Content-Type", "text/plain");
      co_return r;
    }
    r.body = std::move(shot.jpeg);
    r.header("Content-Type", "image/jpeg");
    r.header("Cache-Control", "no-store");
    co_return r;
  }

  awaitable<web::Response> dispatch(web::Request& req) {
    if (req.path == "/onvif/snapshot" && (req.method == "GET" || req.method == "HEAD")) co_return co_await snapshot(req);
    if (req.method != "POST") {
      web::Response r;
      r.status = 405;
      r.header("Allow", "POST");
      r.body = "ONVIF services take SOAP 1.2 requests by POST\n";
      co_return r;
    }
    const std::string_view type = req.header("content-type");
    if (!type.empty() && !type.starts_with("application/soap+xml") && !type.starts_with("text/xml") &&
        !type.starts_with("application/xml")) {
      web::Response r;
      r.status = 415;
      r.body = "ONVIF takes application/soap+xml\n";
      co_return r;
    }
    if (req.body.find_first_not_of(" \t\r\n") == std::string::npos) {
      // No SOAP message: an HTTP error, not a fault (Core 5.11.3). curl --digest probes like this first.
      if (req.header("authorization").empty()) co_return challenge(false);
      web::Response r;
      r.status = 400;
      r.body = "no SOAP message in the request\n";
      co_return r;
    }
    auto parsed = parse_envelope(req.body);
    if (auto* f = std::get_if<Fault>(&parsed)) co_return fault_response(*f);
    auto& env = std::get<Envelope>(parsed);
    auto it = table.find(env.op_ns + '#' + env.op_name);
    if (it == table.end()) {
      co_return fault_response(receiver_fault("ter:ActionNotSupported",
                                              "operation not supported: " + env.op_name + " in " + env.op_ns));
    }
    const Op& op = *it->second;
    std::optional<User> user;
    if (op.role) {
      if (auto refused = authenticate(req, env, user)) co_return *refused;
      if (!role_at_least(user->role, *op.role)) {
        co_return not_authorized(env.op_name + " needs the " + std::string(role_name(*op.role)) + " role");
      }
    }
    Reply reply;
    std::string host = host_from_header(req.header("host"));
    if (host.empty()) host = req.local_address;
    if (host.find(':') != std::string::npos && host.front() != '[') host = "[" + host + "]";
    Requester who{"anonymous", req.remote, std::nullopt};
    if (user) {
      who.actor = "user:" + user->username;
      who.role = user->role;
    }
    Call call{env.operation, reply, req, user, std::move(who), std::move(host), deps, events};
    OpResult result;
    if (op.afn) {
      result = co_await op.afn(call);
    } else {
      result = op.fn(call);
    }
    if (result) co_return fault_response(*result);
    co_return soap_response(200, reply.str());
  }
};

Service::Service(ServiceDeps deps) : impl_(std::make_unique<Impl>(std::move(deps))) {}
Service::~Service() = default;

void Service::stop() { impl_->events.stop(); }

void Service::analytics_started() {
  for (const char* entity : {"tamper", "person"}) {
    const auto property = *Impl::analytics_property(entity);
    impl_->events.advertise(property);
    if (auto s = impl_->deps.model.state(entity); s && std::holds_alternative<bool>(*s))
      impl_->events.set_state(property, std::get<bool>(*s), std::chrono::system_clock::now());
  }
}

awaitable<web::Response> Service::handle(web::Request req) {
  web::Response res;
  try {
    res = co_await impl_->dispatch(req);
  } catch (const std::exception& e) {
    log::error("onvif.internal_error", {{"path", req.path}, {"error", e.what()}});
    res = fault_response(receiver_fault("ter:Action", "internal error; see the device log"));
  }
  co_return res;
}

// ---- helpers shared by the services ------------------------------------------------------------------------

std::vector<std::pair<std::string, bool>> device_scopes(const Config& config, std::string_view model) {
  std::vector<std::pair<std::string, bool>> out = {
      {"onvif://www.onvif.org/type/video_encoder", true},
      {"onvif://www.onvif.org/type/Network_Video_Transmitter", true},
      {"onvif://www.onvif.org/Profile/Streaming", true},
      {"onvif://www.onvif.org/Profile/T", true},
      {"onvif://www.onvif.org/hardware/" + std::string(model), true},
  };
  std::istringstream words(config.get_string("onvif.scopes"));
  std::string s;
  bool named = false;
  while (words >> s) {
    named = named || s.starts_with("onvif://www.onvif.org/name/");
    out.emplace_back(s, false);
  }
  if (!named) {  // the device's name, percent-encoded
    std::string name;
    for (char ch : config.get_string("device.name")) {
      const bool plain = std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.';
      if (plain) {
        name += ch;
      } else {
        char esc[4];
        std::snprintf(esc, sizeof esc, "%%%02X", static_cast<unsigned char>(ch));
        name += esc;
      }
    }
    out.emplace_back("onvif://www.onvif.org/name/" + name, true);
  }
  return out;
}

std::string service_url(const Call& c, std::string_view service) {
  const bool tls = c.http.tls || c.deps.plain_port == 0;
  const auto port = tls ? c.deps.https_port : c.deps.plain_port;
  const bool default_port = (tls && port == 443) || (!tls && port == 80);
  return std::string(tls ? "https://" : "http://") + c.host + (default_port ? "" : ":" + std::to_string(port)) +
         std::string(kPrefix) + std::string(service);
}

std::string xs_datetime(std::chrono::system_clock::time_point t, bool millis) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  if (millis) {
    std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms % 1000));
  } else {
    std::snprintf(buf + n, sizeof buf - n, "Z");
  }
  return buf;
}

std::string xs_duration_seconds(long long s) { return "PT" + std::to_string(s) + "S"; }

std::optional<std::chrono::milliseconds> parse_duration(std::string_view s) {
  if (s.empty() || s.size() > 64 || s[0] != 'P') return std::nullopt;
  double total = 0;
  bool in_time = false, any = false;
  size_t i = 1;
  while (i < s.size()) {
    if (s[i] == 'T') {
      in_time = true;
      ++i;
      continue;
    }
    size_t j = i;
    while (j < s.size() && ((s[j] >= '0' && s[j] <= '9') || s[j] == '.')) ++j;
    if (j == i || j == s.size()) return std::nullopt;
    double v = 0;
    try {
      v = std::stod(std::string(s.substr(i, j - i)));
    } catch (...) {
      return std::nullopt;
    }
    const char unit = s[j];
    if (!in_time && unit == 'D') {
      total += v * 86400;
    } else if (!in_time && unit == 'Y') {
      total += v * 365 * 86400;
    } else if (!in_time && unit == 'M') {
      total += v * 30 * 86400;
    } else if (in_time && unit == 'H') {
      total += v * 3600;
    } else if (in_time && unit == 'M') {
      total += v * 60;
    } else if (in_time && unit == 'S') {
      total += v;
    } else {
      return std::nullopt;
    }
    any = true;
    i = j + 1;
  }
  if (!any || total > 1e9) return std::nullopt;
  return std::chrono::milliseconds(static_cast<long long>(total * 1000));
}

Fault invalid_arg(std::string reason, std::string subsubcode) {
  return sender_fault("ter:InvalidArgVal", std::move(reason), std::move(subsubcode));
}

OpResult apply_settings(Call& c, const std::vector<std::pair<std::string, Value>>& values) {
  auto result = c.deps.model.set_many(values, c.who);
  if (result.ok()) return std::nullopt;
  std::string why;
  bool forbidden = false;
  for (const auto& e : result.errors) {
    why += (why.empty() ? "" : "; ") + e.message;
    forbidden = forbidden || e.forbidden;
  }
  if (forbidden) return sender_fault("ter:NotAuthorized", why);
  return invalid_arg(why, "ter:ConfigModify");
}

}  // namespace freehold::onvif
