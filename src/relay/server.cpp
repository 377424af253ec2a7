// SPDX-License-Identifier: GPL-3.0-or-later
#include "relay/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstring>
#include <sys/socket.h>
#include <toml++/toml.h>
#include <unordered_map>

#include "core/atomic_file.hpp"
#include "core/crypto.hpp"
#include "core/log.hpp"
#include "net/listener.hpp"
#include "relay/link.hpp"
#include "relay/splice.hpp"

namespace freehold::relay {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace {

constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);
using Clock = std::chrono::steady_clock;

struct Bucket {
  double tokens;
  Clock::time_point at;
  bool take(double rate, double burst) {
    const auto now = Clock::now();
    tokens = std::min(burst, tokens + rate * std::chrono::duration<double>(now - at).count());
    at = now;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  }
};

// Cancels what `socket` waits for once `timeout` has passed, until it is disarmed or destroyed. A handler already
// queued when that happens finds the flag down and leaves the socket (which may be gone by then) alone.
class SocketDeadline {
 public:
  SocketDeadline(asio::ip::tcp::socket& socket, std::chrono::seconds timeout)
      : timer_(socket.get_executor(), timeout), armed_(std::make_shared<bool>(true)) {
    timer_.async_wait([&socket, armed = armed_](boost::system::error_code ec) {
      if (ec || !*armed) return;
      boost::system::error_code ignored;
      socket.cancel(ignored);
    });
  }
  ~SocketDeadline() { disarm(); }
  SocketDeadline(const SocketDeadline&) = delete;
  SocketDeadline& operator=(const SocketDeadline&) = delete;
  void disarm() {
    *armed_ = false;
    timer_.cancel();
  }

 private:
  asio::steady_timer timer_;
  std::shared_ptr<bool> armed_;
};

struct IdHash {
  size_t operator()(const Id& id) const {
    size_t h = 0;
    std::memcpy(&h, id.data(), sizeof h);
    return h;
  }
};

}  // namespace

std::optional<AccessList> load_access(const std::filesystem::path& file, std::string* error) {
  AccessList a;
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return a;
  try {
    const auto t = toml::parse_file(file.string());
    for (auto [key, set] : {std::pair{"devices", &a.devices}, std::pair{"clients", &a.clients}}) {
      const auto* arr = t[key].as_array();
      if (!arr) continue;
      for (const auto& v : *arr) {
        const auto s = v.value<std::string>();
        const auto id = s ? parse_id(*s) : std::nullopt;
        if (!id) {
          *error = file.string() + ": " + key + " holds \"" + s.value_or("?") + "\", which is not a 32-character ID";
          return std::nullopt;
        }
        set->insert(*id);
      }
    }
  } catch (const toml::parse_error& e) {
    *error = file.string() + ": " + std::string(e.description());
    return std::nullopt;
  }
  return a;
}

std::optional<std::string> save_access(const std::filesystem::path& file, const AccessList& a) {
  std::string text = "# freehold-relay access list: which device IDs may register and which client IDs may connect.\n";
  for (auto [key, set] : {std::pair{"devices", &a.devices}, std::pair{"clients", &a.clients}}) {
    text += std::string(key) + " = [";
    bool first = true;
    for (const auto& id : *set) {
      text += (first ? "\n  \"" : ",\n  \"") + id_text(id) + "\"";
      first = false;
    }
    text += first ? "]\n" : "\n]\n";
  }
  return write_file_atomic(file, text, 0600);
}

struct RelayServer::Impl : std::enable_shared_from_this<Impl> {
  struct Peer;
  struct Session {
    std::weak_ptr<Peer> client, device;
    uint32_t client_id = 0, device_id = 0;
    bool over = false;
    // Direct data connections: offered or not; each side's token, the connections that arrived (each holding its
    // place in the connection limit), then their splice.
    bool direct = false, client_offered = false;
    std::string tokens[2];  // [device, client]
    std::optional<asio::ip::tcp::socket> legs[2];
    std::optional<net::ConnectionSlot> slots[2];
    std::shared_ptr<Splice> splice;
    std::unique_ptr<asio::steady_timer> direct_deadline;
  };
  struct Peer {
    std::shared_ptr<Link> link;
    LinkRole role{};
    Id id{};
    std::unordered_map<uint32_t, std::shared_ptr<Session>> sessions;
    uint32_t next_session = 1;
    Bucket unknown{};
  };

  asio::io_context& io;
  asio::ssl::context& tls;
  RelayLimits limits;
  std::function<const AccessList&()> access;
  asio::ip::tcp::acceptor acceptor, metrics_acceptor;
  net::ConnectionLimit conn_limit;
  bool stopping = false;
  std::unordered_map<Id, std::shared_ptr<Peer>, IdHash> devices;
  std::set<std::shared_ptr<Peer>> clients;
  std::unordered_map<std::string, Bucket> open_buckets;
  // Offered direct-connection tokens: the session and the side (0 device, 1 client) each one is for.
  std::unordered_map<std::string, std::pair<std::weak_ptr<Session>, int>> direct_tokens;
  // Counters for /metrics.
  uint64_t links_total = 0, auth_refused = 0, sessions_total = 0, sessions_open = 0, bytes_forwarded = 0,
           frames_forwarded = 0, direct_sessions = 0, direct_bytes = 0, websocket_links = 0;
  std::unordered_map<std::string, uint64_t> refused;  // by close reason

  Impl(asio::io_context& i, asio::ssl::context& t, RelayLimits l, std::function<const AccessList&()> a)
      : io(i), tls(t), limits(l), access(std::move(a)), acceptor(i), metrics_acceptor(i), conn_limit(l.max_links) {}

  void count_refusal(CloseReason r) { ++refused[std::string(reason_name(r))]; }

  asio::awaitable<void> serve(asio::ip::tcp::socket socket, net::ConnectionSlot slot) {
    (void)slot;
    auto self = shared_from_this();
    if (limits.direct) {
      // One port for both: a TLS record starts with 0x16, a direct data connection with its magic.
      const auto first = co_await first_byte(socket);
      if (!first) co_return;
      if (*first == kDirectMagic[0]) {
        co_await serve_direct(std::move(socket), std::move(slot));
        co_return;
      }
    }
    auto link = std::make_shared<Link>(std::move(socket), tls.native_handle(), true, limits.handshake);
    std::string herror;
    if (!co_await link->handshake(limits.handshake, &herror)) co_return;  // scanners, wrong pins: not logged
    if (!co_await link->accept_websocket_if_asked(&herror)) {
      link->close();
      co_return;
    }
    auto peer = co_await admit(link);
    if (!peer) {
      link->close();
      co_return;
    }
    std::string why;
    for (;;) {
      auto f = co_await link->read(&why);
      if (!f) break;
      if (!handle(peer, *f, &why)) {
        link->send(FrameType::close, 0, close_payload(CloseReason::protocol_error, why));
        break;
      }
    }
    drop(peer, why);
    link->close();
  }

  asio::awaitable<std::shared_ptr<Peer>> admit(std::shared_ptr<Link> link) {
    std::string error;
    auto refuse = [&](CloseReason r, const std::string& text) -> std::shared_ptr<Peer> {
      ++auth_refused;
      log::notice("relay.link_refused", {{"peer", link->remote_address()}, {"reason", reason_name(r)}, {"detail", text}});
      link->send(FrameType::close, 0, close_payload(r, text));
      return nullptr;
    };
    auto hello = co_await link->read(&error);
    if (!hello || hello->header.type != FrameType::hello)
      co_return refuse(CloseReason::protocol_error, hello ? "expected hello" : error);
    const auto h = parse_hello(hello->payload);
    const std::string challenge = crypto::random_bytes(32);
    link->send(FrameType::challenge, 0, challenge);
    auto auth = co_await link->read(&error);
    if (!auth || auth->header.type != FrameType::auth)
      co_return refuse(CloseReason::protocol_error, auth ? "expected auth" : error);
    Signature sig{};
    std::memcpy(sig.data(), auth->payload.data(), sig.size());
    const auto exporter = link->exporter();
    link->forget_exporter();
    if (exporter.empty() || !verify(h.key, auth_transcript(h.role, exporter, challenge), sig))
      co_return refuse(CloseReason::protocol_error, "the signature does not prove the key");
    const Id id = id_of(h.key);
    const auto& acl = access();
    if (h.role == LinkRole::device && !acl.devices.contains(id))
      co_return refuse(CloseReason::unknown_device, "device " + id_text(id) + " is not on this relay's allow-list");
    if (h.role == LinkRole::client && !acl.clients.contains(id))
      co_return refuse(CloseReason::refused, "client " + id_text(id) + " is not allowed on this relay");
    auto peer = std::make_shared<Peer>();
    peer->link = link;
    peer->role = h.role;
    peer->id = id;
    peer->unknown = Bucket{limits.unknown_per_minute, Clock::now()};
    link->set_idle(limits.idle);
    std::string ready(4, '\0');
    ready[0] = static_cast<char>(kVersion);
    ready[2] = static_cast<char>(limits.keepalive.count() >> 8);
    ready[3] = static_cast<char>(limits.keepalive.count() & 0xff);
    link->send(FrameType::ready, 0, ready);
    ++links_total;
    if (link->websocket()) ++websocket_links;
    if (h.role == LinkRole::device) {
      if (auto old = devices.find(id); old != devices.end()) {
        auto previous = old->second;
        previous->link->send(FrameType::close, 0, close_payload(CloseReason::link_replaced, "a newer link replaced this one"));
        drop(previous, "replaced");
        previous->link->close();
      }
      devices[id] = peer;
    } else {
      clients.insert(peer);
    }
    log::info("relay.link_up", {{"role", h.role == LinkRole::device ? "device" : "client"}, {"id", id_text(id)},
                                {"peer", link->remote_address()}});
    co_return peer;
  }

  // Ends every session of `peer`, telling the other ends, and forgets the peer.
  void drop(const std::shared_ptr<Peer>& peer, const std::string& why) {
    if (peer->role == LinkRole::device) {
      auto it = devices.find(peer->id);
      if (it != devices.end() && it->second == peer) devices.erase(it);
    } else {
      clients.erase(peer);
    }
    auto sessions = std::move(peer->sessions);
    for (auto& [sid, s] : sessions) {
      end_session(s, peer->role == LinkRole::device ? CloseReason::device_offline : CloseReason::normal,
                  peer->role == LinkRole::device ? "the device's link to the relay ended" : "the client's link ended",
                  peer.get());
    }
    if (!peer->link->closed())
      log::info("relay.link_down", {{"role", peer->role == LinkRole::device ? "device" : "client"},
                                    {"id", id_text(peer->id)}, {"reason", why}});
  }

  // Ends a session at both ends with a close frame (except to `except`).
  void end_session(const std::shared_ptr<Session>& s, CloseReason reason, const std::string& text, Peer* except) {
    if (s->over) return;
    for (auto [weak, sid] : {std::pair{&s->client, s->client_id}, std::pair{&s->device, s->device_id}}) {
      auto p = weak->lock();
      if (p && p.get() != except) p->link->send(FrameType::close, sid, close_payload(reason, text));
    }
    forget(s);
  }

  // Forgets a session: off both links' tables, its direct connections reset, its tokens void.
  void forget(const std::shared_ptr<Session>& s) {
    if (s->over) return;
    s->over = true;
    --sessions_open;
    for (auto [weak, sid] : {std::pair{&s->client, s->client_id}, std::pair{&s->device, s->device_id}}) {
      if (auto p = weak->lock()) {
        auto it = p->sessions.find(sid);
        if (it != p->sessions.end() && it->second == s) p->sessions.erase(it);
      }
    }
    for (auto& t : s->tokens)
      if (!t.empty()) direct_tokens.erase(t);
    if (s->direct_deadline) s->direct_deadline->cancel();
    if (s->splice) s->splice->abort();
    for (auto& leg : s->legs) {
      if (!leg) continue;
      boost::system::error_code ec;
      leg->set_option(asio::socket_base::linger(true, 0), ec);
      leg->close(ec);
      leg.reset();
    }
    for (auto& slot : s->slots) slot.reset();
  }

  // Offers `side` (0 device, 1 client) a direct data connection for `s`: a fresh token in a direct frame.
  void offer_direct(const std::shared_ptr<Session>& s, int side, Link& link, uint32_t sid) {
    auto& token = s->tokens[side];
    if (!token.empty()) direct_tokens.erase(token);
    token = crypto::random_bytes(kDirectTokenSize);
    direct_tokens[token] = {s, side};
    link.send(FrameType::direct, sid, token);
  }

  asio::awaitable<std::optional<char>> first_byte(asio::ip::tcp::socket& socket) {
    SocketDeadline deadline(socket, limits.handshake);
    auto [ec] = co_await socket.async_wait(asio::socket_base::wait_read, tuple_awaitable);
    deadline.disarm();
    if (ec) co_return std::nullopt;
    char c = 0;
    if (::recv(socket.native_handle(), &c, 1, MSG_PEEK) != 1) co_return std::nullopt;
    co_return c;
  }

  // A direct data connection: its preamble within the handshake time, then it waits for its session's other side.
  asio::awaitable<void> serve_direct(asio::ip::tcp::socket socket, net::ConnectionSlot slot) {
    auto self = shared_from_this();
    char preamble[kDirectPreamble];
    SocketDeadline deadline(socket, limits.handshake);
    auto [ec, n] = co_await asio::async_read(socket, asio::buffer(preamble), tuple_awaitable);
    deadline.disarm();
    if (ec || std::string_view(preamble, 4) != kDirectMagic) co_return;
    auto it = direct_tokens.find(std::string(preamble + 4, kDirectTokenSize));
    if (it == direct_tokens.end()) {
      count_refusal(CloseReason::direct_failed);
      co_return;  // unknown, used or expired: closed without a word
    }
    auto s = it->second.first.lock();
    const int side = it->second.second;
    direct_tokens.erase(it);  // one use
    if (!s || s->over) co_return;
    s->tokens[side].clear();
    s->legs[side].emplace(std::move(socket));
    s->slots[side].emplace(std::move(slot));
    if (!s->legs[0] || !s->legs[1]) co_return;
    s->direct_deadline.reset();
    std::weak_ptr<Session> weak = s;
    auto done = [self, weak](uint64_t, bool clean) {
      auto session = weak.lock();
      if (!session) return;
      session->splice.reset();
      if (clean) {
        self->forget(session);  // both ends said so in the stream: no frames needed
      } else {
        self->end_session(session, CloseReason::reset, "a direct connection was reset", nullptr);
      }
    };
    // `done` holds this server, so the byte counter outlives the splice.
    s->splice = std::make_shared<Splice>(std::move(*s->legs[0]), std::move(*s->legs[1]), done, &direct_bytes);
    s->legs[0].reset();
    s->legs[1].reset();
    std::string why;
    if (!s->splice->start(&why)) {
      log::warn("relay.direct_failed", {{"error", why}});
      s->splice.reset();
      end_session(s, CloseReason::direct_failed, "the relay could not join the direct connections", nullptr);
      co_return;
    }
    ++direct_sessions;
  }

  bool handle(const std::shared_ptr<Peer>& peer, const Link::Frame& f, std::string* why) {
    const auto type = f.header.type;
    if (type == FrameType::ping) {
      peer->link->send(FrameType::pong, 0, f.payload);
      return true;
    }
    if (type == FrameType::pong) return true;
    if (type == FrameType::close && f.header.session == 0) {
      *why = "closed by peer";
      return false;
    }
    if (type == FrameType::open) {
      if (peer->role != LinkRole::client) return (*why = "only clients open sessions", false);
      return open(peer, f, why);
    }
    const bool from_device = peer->role == LinkRole::device;
    if ((type == FrameType::accept) != from_device && type == FrameType::accept)
      return (*why = "only devices accept sessions", false);
    if (type != FrameType::accept && type != FrameType::data && type != FrameType::credit && type != FrameType::close)
      return (*why = "unexpected frame type " + std::to_string(int(type)), false);
    auto it = peer->sessions.find(f.header.session);
    if (it == peer->sessions.end()) return true;  // ended here already: frames in flight are dropped
    auto s = it->second;
    auto other = (from_device ? s->client : s->device).lock();
    if (!other) return true;
    const uint32_t sid = from_device ? s->client_id : s->device_id;
    if (type == FrameType::close) {
      other->link->send(FrameType::close, sid, f.payload);
      forget(s);
      return true;
    }
    if (type == FrameType::accept && s->direct && !s->client_offered) {  // once, however early the device's leg came
      s->client_offered = true;
      offer_direct(s, 1, *other->link, sid);
    }
    if (type == FrameType::data && other->link->queued(sid) + f.payload.size() > kInitialWindow + kMaxPayload) {
      count_refusal(CloseReason::flow_control);
      end_session(s, CloseReason::flow_control, "a sender exceeded its window", nullptr);
      return true;
    }
    other->link->send(type, sid, f.payload);
    bytes_forwarded += f.payload.size();
    ++frames_forwarded;
    return true;
  }

  bool open(const std::shared_ptr<Peer>& client, const Link::Frame& f, std::string* why) {
    const uint32_t csid = f.header.session;
    if (client->sessions.contains(csid)) return (*why = "session " + std::to_string(csid) + " opened twice", false);
    auto refuse = [&](CloseReason r, const std::string& text) {
      count_refusal(r);
      client->link->send(FrameType::close, csid, close_payload(r, text));
      return true;
    };
    auto& bucket = open_buckets.try_emplace(client->link->remote_address(), Bucket{limits.open_burst, Clock::now()})
                       .first->second;
    if (!bucket.take(limits.opens_per_second, limits.open_burst))
      return refuse(CloseReason::rate_limited, "too many sessions opened from this address; try again shortly");
    Id device{};
    std::memcpy(device.data(), f.payload.data(), device.size());
    auto d = devices.find(device);
    if (d == devices.end()) {
      if (!client->unknown.take(limits.unknown_per_minute / 60.0, limits.unknown_per_minute))
        return refuse(CloseReason::rate_limited, "too many sessions to unknown devices; try again in a minute");
      if (!access().devices.contains(device))
        return refuse(CloseReason::unknown_device, "no device " + id_text(device) + " is known to this relay");
      return refuse(CloseReason::device_offline, "device " + id_text(device) + " is not connected to the relay");
    }
    auto dev = d->second;
    if (dev->sessions.size() >= limits.sessions_per_device)
      return refuse(CloseReason::too_many_sessions, "the device has " + std::to_string(dev->sessions.size()) +
                                                        " sessions open, the relay's limit");
    uint32_t dsid = dev->next_session;
    while (dsid == 0 || dev->sessions.contains(dsid)) ++dsid;
    dev->next_session = dsid + 1;
    auto s = std::make_shared<Session>();
    s->client = client;
    s->device = dev;
    s->client_id = csid;
    s->device_id = dsid;
    client->sessions[csid] = s;
    dev->sessions[dsid] = s;
    ++sessions_open;
    ++sessions_total;
    // Direct connections only where both links are plain TLS: a WebSocket link says its network passes little else.
    if (limits.direct && !client->link->websocket() && !dev->link->websocket()) {
      s->direct = true;
      offer_direct(s, 0, *dev->link, dsid);
      s->direct_deadline = std::make_unique<asio::steady_timer>(io, limits.direct_wait);
      std::weak_ptr<Session> weak = s;
      s->direct_deadline->async_wait([self = shared_from_this(), weak](boost::system::error_code ec) {
        auto session = weak.lock();
        if (ec || !session || session->splice) return;
        self->count_refusal(CloseReason::direct_failed);
        self->end_session(session, CloseReason::direct_failed, "the session's direct data connections did not both arrive",
                          nullptr);
      });
    }
    dev->link->send(FrameType::open, dsid, f.payload);
    log::info("relay.session", {{"client", id_text(client->id)}, {"device", id_text(dev->id)},
                                {"sessions", dev->sessions.size()}});
    return true;
  }

  asio::awaitable<void> serve_metrics() {
    auto self = shared_from_this();
    for (;;) {
      auto [ec, socket] = co_await metrics_acceptor.async_accept(tuple_awaitable);
      if (ec) co_return;
      beast::tcp_stream stream(std::move(socket));
      stream.expires_after(std::chrono::seconds(5));
      beast::flat_buffer buffer(8192);
      beast::http::request<beast::http::empty_body> req;
      auto [rec, rn] = co_await beast::http::async_read(stream, buffer, req, tuple_awaitable);
      if (rec) continue;
      beast::http::response<beast::http::string_body> res;
      res.version(11);
      if (req.method() == beast::http::verb::get && req.target() == "/metrics") {
        res.result(beast::http::status::ok);
        res.set(beast::http::field::content_type, "text/plain; version=0.0.4");
        res.body() = metrics();
      } else {
        res.result(beast::http::status::not_found);
        res.body() = "GET /metrics\n";
      }
      res.keep_alive(false);
      res.prepare_payload();
      co_await beast::http::async_write(stream, res, tuple_awaitable);
    }
  }

  std::string metrics() const {
    std::string m;
    auto line = [&](const std::string& name, const std::string& help, const std::string& type, uint64_t v,
                    const std::string& labels = "") {
      if (!help.empty()) m += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
      m += name + labels + " " + std::to_string(v) + "\n";
    };
    line("freehold_relay_devices", "Device links up.", "gauge", devices.size());
    line("freehold_relay_clients", "Client links up.", "gauge", clients.size());
    line("freehold_relay_links_total", "Links admitted.", "counter", links_total);
    line("freehold_relay_links_refused_total", "Links refused at admission.", "counter", auth_refused);
    line("freehold_relay_websocket_links_total", "Links admitted over WebSocket.", "counter", websocket_links);
    line("freehold_relay_sessions", "Sessions open.", "gauge", sessions_open);
    line("freehold_relay_sessions_total", "Sessions spliced.", "counter", sessions_total);
    line("freehold_relay_forwarded_bytes_total", "Session payload bytes forwarded.", "counter", bytes_forwarded);
    line("freehold_relay_forwarded_frames_total", "Session frames forwarded.", "counter", frames_forwarded);
    line("freehold_relay_direct_sessions_total", "Sessions joined on direct data connections.", "counter",
         direct_sessions);
    line("freehold_relay_direct_bytes_total", "Bytes spliced between direct data connections.", "counter",
         direct_bytes);
    bool first = true;
    for (const auto& [reason, n] : refused) {
      line("freehold_relay_refused_total", first ? "Sessions refused or dropped by the relay, by reason." : "",
           "counter", n, "{reason=\"" + reason + "\"}");
      first = false;
    }
    return m;
  }
};

RelayServer::RelayServer(asio::io_context& io, asio::ssl::context& tls, RelayLimits limits,
                         std::function<const AccessList&()> access)
    : impl_(std::make_shared<Impl>(io, tls, limits, std::move(access))) {}

RelayServer::~RelayServer() = default;

std::optional<std::string> RelayServer::listen(const std::string& address, uint16_t port) {
  if (auto e = net::listen(impl_->acceptor, address, port)) return e;
  auto impl = impl_;
  net::AcceptPolicy policy{"relay", impl->conn_limit, [impl] { return impl->stopping; },
                           [impl](asio::ip::tcp::socket s, net::ConnectionSlot slot) {
                             asio::co_spawn(impl->io, impl->serve(std::move(s), std::move(slot)),
                                            net::log_failure("relay"));
                           }};
  asio::co_spawn(impl->io, net::accept_loop(impl->acceptor, std::move(policy)), asio::detached);
  return std::nullopt;
}

std::optional<std::string> RelayServer::listen_metrics(const std::string& address, uint16_t port) {
  if (auto e = net::listen(impl_->metrics_acceptor, address, port)) return e;
  asio::co_spawn(impl_->io, impl_->serve_metrics(), asio::detached);
  return std::nullopt;
}

uint16_t RelayServer::port() const {
  boost::system::error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

uint16_t RelayServer::metrics_port() const {
  boost::system::error_code ec;
  return impl_->metrics_acceptor.local_endpoint(ec).port();
}

std::string RelayServer::metrics_text() const { return impl_->metrics(); }

void RelayServer::stop() {
  impl_->stopping = true;
  boost::system::error_code ec;
  impl_->acceptor.close(ec);
  impl_->metrics_acceptor.close(ec);
  auto all = impl_->clients;
  for (auto& [id, d] : impl_->devices) all.insert(d);
  for (auto& p : all) {
    p->link->send(FrameType::close, 0, close_payload(CloseReason::relay_shutdown, "the relay is shutting down"));
    p->link->close();
  }
}

}  // namespace freehold::relay
