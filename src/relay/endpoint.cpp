// SPDX-License-Identifier: GPL-3.0-or-later
#include "relay/endpoint.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>
#include <random>
#include <deque>
#include <unordered_map>
#include <unordered_set>

#include "core/log.hpp"
#include "core/url.hpp"
#include "relay/direct.hpp"
#include "relay/link.hpp"
#include "relay/noise.hpp"
#include "relay/tunnel.hpp"

namespace freehold::relay {
namespace asio = boost::asio;
namespace {

constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);
constexpr auto kDialTimeout = std::chrono::seconds(10);
constexpr auto kIdle = std::chrono::seconds(90);
constexpr size_t kMaxDeviceSessions = 32;
constexpr size_t kReplayMemory = 4096;  // ephemeral keys of recent session requests
constexpr size_t kIdSize = 20;

// Proves `identity` to the relay: hello, the relay's challenge, the signed transcript, then ready (returns the
// keep-alive interval) or the relay's reason for refusing.
asio::awaitable<std::optional<std::chrono::seconds>> authenticate(Link& link, const Identity& identity, LinkRole role,
                                                                  std::string* error) {
  link.send(FrameType::hello, 0, hello_payload(role, identity.public_key()));
  auto challenge = co_await link.read(error);
  if (!challenge) co_return std::nullopt;
  if (challenge->header.type == FrameType::close) {
    *error = "the relay refused: " + parse_close(challenge->payload).text;
    co_return std::nullopt;
  }
  if (challenge->header.type != FrameType::challenge) {
    *error = "the relay did not send a challenge";
    co_return std::nullopt;
  }
  const auto sig = identity.sign(auth_transcript(role, link.exporter(), challenge->payload));
  link.send(FrameType::auth, 0, {reinterpret_cast<const char*>(sig.data()), sig.size()});
  auto ready = co_await link.read(error);
  if (!ready) co_return std::nullopt;
  if (ready->header.type == FrameType::close) {
    *error = "the relay refused: " + parse_close(ready->payload).text;
    co_return std::nullopt;
  }
  if (ready->header.type != FrameType::ready) {
    *error = "the relay did not answer with ready";
    co_return std::nullopt;
  }
  const auto& p = ready->payload;
  const int secs = (static_cast<unsigned char>(p[2]) << 8) | static_cast<unsigned char>(p[3]);
  co_return std::chrono::seconds(std::clamp(secs, 5, 300));
}

asio::awaitable<void> keep_alive(std::shared_ptr<Link> link, std::chrono::seconds every) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  while (!link->closed()) {
    t.expires_after(every);
    co_await t.async_wait(tuple_awaitable);
    link->send(FrameType::ping, 0, std::string(8, '\0'));
  }
}

// The carrier of an established session: a direct data connection when the relay offered one, else frames.
std::shared_ptr<Carrier> carrier(const std::shared_ptr<Link>& link, uint32_t sid, const std::string& direct_token,
                                 noise::Transport keys, asio::ip::tcp::socket local,
                                 std::function<void(CloseReason, const std::string&)> on_end) {
  if (direct_token.empty())
    return std::make_shared<Tunnel>(link, sid, std::move(keys), std::move(local), std::move(on_end));
  return std::make_shared<DirectTunnel>(link, sid, link->remote_endpoint(), direct_token, std::move(keys),
                                        std::move(local), std::move(on_end));
}

}  // namespace

std::optional<RelayAddress> parse_relay_url(const std::string& url, std::string* error) {
  const auto u = parse_service_url(url, relay_schemes(), false, error);
  if (!u) return std::nullopt;
  RelayAddress a;
  a.host = u->host;
  a.port = std::to_string(u->port);
  a.websocket = u->scheme == "wss";
  return a;
}

// ---------------------------------------------------------------------------------------------------- device

struct DeviceLink::Impl : std::enable_shared_from_this<Impl> {
  asio::io_context& io;
  Identity identity;
  DeviceLinkOptions options;
  asio::ssl::context tls{asio::ssl::context::tls_client};
  std::shared_ptr<Link> link;
  std::unordered_map<uint32_t, std::shared_ptr<Carrier>> tunnels;
  std::unordered_map<uint32_t, Id> tunnel_clients;
  std::unordered_map<uint32_t, std::string> direct_tokens;  // offered by the relay for sessions not yet opened
  std::unordered_set<std::string> seen_ephemerals;
  std::deque<std::string> seen_order;
  asio::steady_timer retry;
  bool stopped = false;
  std::mt19937 rng{std::random_device{}()};

  Impl(asio::io_context& i, const Identity& id, DeviceLinkOptions o)
      : io(i), identity(id), options(std::move(o)), retry(i) {
    configure_pinned_client(tls, options.relay.fingerprint);
  }

  asio::awaitable<void> run() {
    auto self = shared_from_this();
    auto delay = options.backoff_min;
    while (!stopped) {
      std::string error;
      auto l = co_await dial(tls, options.relay.host, options.relay.port, kDialTimeout, kIdle, &error,
                             options.relay.websocket);
      std::optional<std::chrono::seconds> keepalive;
      if (l) keepalive = co_await authenticate(*l, identity, LinkRole::device, &error);
      if (l && keepalive && !stopped) {
        link = l;
        const auto up_since = std::chrono::steady_clock::now();
        log::info("relay.link_up", {{"relay", options.relay.host + ":" + options.relay.port},
                                    {"device_id", id_text(identity.id())}});
        asio::co_spawn(io, keep_alive(l, *keepalive), asio::detached);
        error = co_await serve(l);
        // Back to the shortest wait only after a link that held: two devices with one key (a cloned image)
        // replace each other's link, and must not do it in a tight loop.
        if (std::chrono::steady_clock::now() - up_since > std::chrono::minutes(1)) delay = options.backoff_min;
        link.reset();
        for (auto& [sid, t] : std::unordered_map(tunnels)) t->end(CloseReason::device_offline, "relay link lost", false);
        tunnels.clear();
        direct_tokens.clear();
        l->abort();
        if (stopped) break;
        log::warn("relay.link_down", {{"relay", options.relay.host + ":" + options.relay.port}, {"error", error}});
      } else if (l) {
        l->abort();
      }
      if (stopped) break;
      // Jittered exponential backoff, as ONVIF Uplink: 3 s doubling to 30 s, each wait 50–100 % of the step.
      std::uniform_int_distribution<long> jitter(delay.count() / 2, delay.count());
      const auto wait = std::chrono::milliseconds(jitter(rng));
      log::warn("relay.connect_failed", {{"relay", options.relay.host + ":" + options.relay.port}, {"error", error},
                                         {"retry_in_ms", wait.count()}});
      retry.expires_after(wait);
      co_await retry.async_wait(tuple_awaitable);
      delay = std::min(options.backoff_max, delay * 2);
    }
  }

  asio::awaitable<std::string> serve(std::shared_ptr<Link> l) {
    std::string error;
    for (;;) {
      auto f = co_await l->read(&error);
      if (!f) co_return error;
      const auto sid = f->header.session;
      switch (f->header.type) {
        case FrameType::ping: l->send(FrameType::pong, 0, f->payload); break;
        case FrameType::pong: break;
        case FrameType::open: co_await open(l, *f); break;
        case FrameType::direct:
          if (direct_tokens.size() >= 2 * kMaxDeviceSessions) direct_tokens.clear();  // offers never followed up
          direct_tokens[sid] = f->payload;
          break;
        case FrameType::data: case FrameType::credit: case FrameType::close:
          if (sid == 0) co_return "the relay closed the link: " + parse_close(f->payload).text;
          if (auto it = tunnels.find(sid); it != tunnels.end()) it->second->on_frame(std::move(*f));
          break;
        default: co_return "unexpected frame from the relay";
      }
    }
  }

  asio::awaitable<void> open(std::shared_ptr<Link> l, const Link::Frame& f) {
    const uint32_t sid = f.header.session;
    std::string direct_token;
    if (auto node = direct_tokens.extract(sid)) direct_token = std::move(node.mapped());
    auto refuse_plain = [&](CloseReason r, const std::string& text) { l->send(FrameType::close, sid, close_payload(r, text)); };
    if (tunnels.contains(sid)) co_return refuse_plain(CloseReason::protocol_error, "session number in use");
    if (tunnels.size() >= kMaxDeviceSessions)
      co_return refuse_plain(CloseReason::too_many_sessions, "the device has its maximum of sessions open");
    // A request seen before is a replay (only the relay could send it again): its ephemeral key says so.
    const std::string ephemeral = f.payload.substr(kIdSize, 32);
    if (seen_ephemerals.contains(ephemeral))
      co_return refuse_plain(CloseReason::protocol_error, "a replayed session request");
    seen_ephemerals.insert(ephemeral);
    seen_order.push_back(ephemeral);
    if (seen_order.size() > kReplayMemory) {
      seen_ephemerals.erase(seen_order.front());
      seen_order.pop_front();
    }
    Id asked{};
    std::memcpy(asked.data(), f.payload.data(), asked.size());
    if (asked != identity.id()) co_return refuse_plain(CloseReason::unknown_device, "not this device");
    auto hs = noise::Handshake::responder(identity.x25519_secret(), session_prologue(asked));
    auto request = hs.read_request(std::string_view(f.payload).substr(asked.size()));
    if (!request) co_return refuse_plain(CloseReason::decrypt_failed, "the request is not for this device's key");
    Admission a;
    std::string why;
    const auto req = parse_session_request(*request, &why);
    const std::string service = req ? req->service : std::string();
    const PublicKey client_key = req ? req->key : PublicKey{};
    const auto x = req ? x25519_of(req->key) : std::nullopt;
    if (!req) {
      a = {false, "", "bad_request", why};
    } else if (!x || *x != hs.remote_static()) {
      a = {false, "", "key_mismatch", "the client key in the request is not the key of the handshake"};
    } else if (!options.services.contains(service)) {
      a = {false, "", "unknown_service", "this device offers no service \"" + service + "\" through the relay"};
    } else {
      a = options.admit(req->key, service, req->grant);
    }
    asio::ip::tcp::socket local(io);
    if (a.ok) {
      boost::system::error_code aec;
      const auto address = asio::ip::make_address(options.service_address, aec);
      const asio::ip::tcp::endpoint target(aec ? asio::ip::make_address("127.0.0.1") : address,
                                           options.services.at(service));
      auto [ec] = co_await local.async_connect(target, tuple_awaitable);
      if (ec) a = {false, "", "service_unavailable", "the device's " + service + " service is not running"};
    }
    l->send(FrameType::accept, sid, hs.write_response(session_answer_json(a)));
    if (!a.ok) {
      log::notice("relay.session_refused", {{"error", a.error}, {"service", service}});
      l->send(FrameType::close, sid, close_payload(CloseReason::refused, a.error));
      co_return;
    }
    boost::system::error_code pec;
    const auto local_end = local.local_endpoint(pec);
    const uint16_t local_port = local_end.port();
    const uint16_t service_port = options.services.at(service);
    if (options.tunnels && !pec)
      options.tunnels->add(local_end.address().to_string(), local_port, service_port,
                           TunnelPrincipal{id_text(id_of(client_key)), parse_role(a.role).value_or(freehold::Role::viewer)});
    log::info("relay.session", {{"client", id_text(id_of(client_key))}, {"service", service}, {"role", a.role}});
    auto weak = weak_from_this();
    auto* registry = options.tunnels;
    auto t = carrier(l, sid, direct_token, hs.split(), std::move(local),
                     [weak, sid, registry, local_port, service_port](CloseReason, const std::string&) {
                       if (registry) registry->remove(local_port, service_port);
                       if (auto self = weak.lock()) {
                         self->tunnels.erase(sid);
                         self->tunnel_clients.erase(sid);
                       }
                     });
    tunnel_clients[sid] = id_of(client_key);
    tunnels[sid] = t;
    t->start();
  }
};

DeviceLink::DeviceLink(asio::io_context& io, const Identity& identity, DeviceLinkOptions options)
    : impl_(std::make_shared<Impl>(io, identity, std::move(options))) {}
DeviceLink::~DeviceLink() { stop(); }
void DeviceLink::start() { asio::co_spawn(impl_->io, impl_->run(), asio::detached); }
void DeviceLink::stop() {
  impl_->stopped = true;
  impl_->retry.cancel();
  for (auto& [sid, t] : std::unordered_map(impl_->tunnels)) t->end(CloseReason::normal, "the device link stopped");
  impl_->tunnels.clear();
  if (impl_->link) impl_->link->close();
}
void DeviceLink::end_sessions_of(const Id& client) {
  std::vector<std::shared_ptr<Carrier>> doomed;
  for (const auto& [sid, id] : impl_->tunnel_clients)
    if (id == client) doomed.push_back(impl_->tunnels.at(sid));
  for (auto& t : doomed) t->end(CloseReason::refused, "the client was revoked");
}

bool DeviceLink::connected() const { return impl_->link != nullptr; }
size_t DeviceLink::sessions() const { return impl_->tunnels.size(); }

// ---------------------------------------------------------------------------------------------------- client

struct ClientConnect::Impl : std::enable_shared_from_this<Impl> {
  struct Pending {
    noise::Handshake hs;
    asio::ip::tcp::socket local;
    std::string service;
    std::string direct_token;  // when the relay offered a direct data connection
  };
  asio::io_context& io;
  Identity identity;
  ClientConnectOptions options;
  asio::ssl::context tls{asio::ssl::context::tls_client};
  std::shared_ptr<Link> link;
  std::vector<std::unique_ptr<asio::ip::tcp::acceptor>> acceptors;
  std::unordered_map<uint32_t, std::unique_ptr<Pending>> pending;
  std::unordered_map<uint32_t, std::shared_ptr<Carrier>> tunnels;
  uint32_t next_session = 1;
  bool stopped = false;

  Impl(asio::io_context& i, const Identity& id, ClientConnectOptions o) : io(i), identity(id), options(std::move(o)) {
    configure_pinned_client(tls, options.relay.fingerprint);
  }

  void problem(const std::string& m) {
    if (options.on_problem) options.on_problem(m);
  }

  asio::awaitable<void> run(std::function<void(const std::string&)> on_fatal) {
    auto self = shared_from_this();
    std::string error;
    link = co_await dial(tls, options.relay.host, options.relay.port, kDialTimeout, kIdle, &error,
                         options.relay.websocket);
    if (!link) co_return on_fatal("relay unreachable: " + error);
    auto keepalive = co_await authenticate(*link, identity, LinkRole::client, &error);
    if (!keepalive) co_return on_fatal(error);
    asio::co_spawn(io, keep_alive(link, *keepalive), asio::detached);
    for (const auto& fw : options.forwards) {
      auto acc = std::make_unique<asio::ip::tcp::acceptor>(io);
      boost::system::error_code ec;
      asio::ip::tcp::endpoint ep(asio::ip::make_address(fw.bind, ec), fw.port);
      if (!ec) acc->open(ep.protocol(), ec);
      if (!ec) acc->set_option(asio::socket_base::reuse_address(true), ec);
      if (!ec) acc->bind(ep, ec);
      if (!ec) acc->listen(64, ec);
      if (ec) co_return on_fatal("cannot listen on " + fw.bind + ":" + std::to_string(fw.port) + " for " + fw.service +
                                 ": " + ec.message());
      if (options.on_listening) options.on_listening(fw, acc->local_endpoint().port());
      asio::co_spawn(io, accept(*acc, fw.service), asio::detached);
      acceptors.push_back(std::move(acc));
    }
    if (options.on_ready) options.on_ready();
    for (;;) {
      auto f = co_await link->read(&error);
      if (!f) break;
      const auto sid = f->header.session;
      if (f->header.type == FrameType::ping) {
        link->send(FrameType::pong, 0, f->payload);
      } else if (f->header.type == FrameType::close && sid == 0) {
        error = "the relay closed the link: " + parse_close(f->payload).text;
        break;
      } else if (f->header.type == FrameType::direct) {
        if (auto it = pending.find(sid); it != pending.end()) it->second->direct_token = f->payload;
      } else if (f->header.type == FrameType::accept || (f->header.type == FrameType::close && pending.contains(sid))) {
        answered(*f);
      } else if (auto it = tunnels.find(sid); it != tunnels.end()) {
        it->second->on_frame(std::move(*f));
      }
    }
    // Every local connection is reset, so that no application takes a cut stream for a complete one.
    for (auto& [sid, t] : std::unordered_map(tunnels)) t->end(CloseReason::device_offline, "the relay link ended", false);
    tunnels.clear();
    for (auto& [sid, p] : pending) {
      boost::system::error_code ec;
      p->local.set_option(asio::socket_base::linger(true, 0), ec);
      p->local.close(ec);
    }
    pending.clear();
    if (!stopped) on_fatal("the link to the relay ended: " + error);
  }

  asio::awaitable<void> accept(asio::ip::tcp::acceptor& acc, std::string service) {
    auto self = shared_from_this();
    for (;;) {
      auto [ec, socket] = co_await acc.async_accept(tuple_awaitable);
      if (ec) co_return;
      const uint32_t sid = next_session++;
      auto hs = noise::Handshake::initiator(identity.x25519_secret(), *x25519_of(options.device_key),
                                            session_prologue(options.device));
      std::string open(reinterpret_cast<const char*>(options.device.data()), options.device.size());
      open += hs.write_request(session_request_json({service, identity.public_key(), options.grant}));
      link->send(FrameType::open, sid, open);
      pending[sid] = std::make_unique<Pending>(Pending{std::move(hs), std::move(socket), service, {}});
    }
  }

  void answered(const Link::Frame& f) {
    const uint32_t sid = f.header.session;
    auto node = pending.extract(sid);
    if (node.empty()) return;
    auto& p = *node.mapped();
    if (f.header.type == FrameType::close) {
      const auto c = parse_close(f.payload);
      problem("session refused by the relay (" + std::string(reason_name(c.reason)) + "): " + c.text);
      return;
    }
    const auto answer = p.hs.read_response(f.payload);
    if (!answer) {
      link->send(FrameType::close, sid, close_payload(CloseReason::decrypt_failed, "key mismatch"));
      problem("key mismatch: the answer was not made with the device's key (possible interception); refused");
      return;
    }
    const Admission verdict = parse_session_answer(*answer);
    if (!verdict.ok) {
      problem("the device refused the session: " + verdict.error + ": " + verdict.message);
      return;
    }
    auto weak = weak_from_this();
    auto t = carrier(link, sid, p.direct_token, p.hs.split(), std::move(p.local),
                     [weak, sid](CloseReason r, const std::string& text) {
                       auto self = weak.lock();
                       if (!self) return;
                       self->tunnels.erase(sid);
                       if (r != CloseReason::normal)
                         self->problem("session ended (" + std::string(reason_name(r)) + "): " + text);
                     });
    tunnels[sid] = t;
    t->start();
  }
};

ClientConnect::ClientConnect(asio::io_context& io, const Identity& identity, ClientConnectOptions options)
    : impl_(std::make_shared<Impl>(io, identity, std::move(options))) {}
ClientConnect::~ClientConnect() { stop(); }
void ClientConnect::start(std::function<void(const std::string&)> on_fatal) {
  asio::co_spawn(impl_->io, impl_->run(std::move(on_fatal)), asio::detached);
}
void ClientConnect::stop() {
  impl_->stopped = true;
  boost::system::error_code ec;
  for (auto& a : impl_->acceptors) a->close(ec);
  if (impl_->link) impl_->link->close();
}

}  // namespace freehold::relay
