// SPDX-License-Identifier: GPL-3.0-or-later
#include "web/server.hpp"

#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <list>
#include <tuple>

#include "core/log.hpp"
#include "net/listener.hpp"
#include "web/wire.hpp"

namespace freehold::web {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::awaitable;
using tcp = asio::ip::tcp;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

namespace {

constexpr std::chrono::seconds kHandshakeTimeout{10};
constexpr std::chrono::seconds kWriteTimeout{30};
constexpr std::chrono::seconds kSseKeepAlive{15};
// A WebSocket peer that sends nothing (not even a pong to our pings) for this long is gone.
constexpr std::chrono::seconds kWsIdleTimeout{20};
constexpr size_t kWsMaxIncoming = 4096;    // clients only send control frames; anything bigger is abuse
constexpr int kWsSendBuffer = 256 * 1024;  // the kernel doubles it
constexpr size_t kHeaderLimit = 16 * 1024;

void security_headers(http::fields& h) {
  h.set(http::field::cache_control, "no-store");
  h.set("X-Content-Type-Options", "nosniff");
  h.set("X-Frame-Options", "DENY");
  h.set("Referrer-Policy", "no-referrer");
  h.set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
}

http::response<http::string_body> to_beast(const Response& r, unsigned version, bool keep_alive) {
  http::response<http::string_body> res{static_cast<http::status>(r.status), version};
  res.set(http::field::server, "freeholdd");
  security_headers(res);
  // A response may loosen the defaults (the web UI's pages and assets): those replace, the rest add.
  for (const auto& [k, v] : r.headers) {
    if (beast::iequals(k, "Cache-Control") || beast::iequals(k, "Content-Security-Policy")) {
      res.set(k, v);
    } else {
      res.insert(k, v);
    }
  }
  res.body() = r.body;
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

// The answer to a request that could not be parsed; the connection closes after it.
Response parse_failure(const beast::error_code& ec, size_t body_limit) {
  if (ec == http::error::body_limit) {
    return Response::error(413, "too_large", "request body exceeds " + std::to_string(body_limit) + " bytes");
  }
  if (ec == http::error::header_limit) {
    return Response::error(431, "headers_too_large", "request headers exceed 16 KiB");
  }
  return Response::error(400, "bad_request", "malformed HTTP request: " + ec.message());
}

}  // namespace

Request to_request(const http::request<http::string_body>& r, const Peer& peer, bool tls) {
  Request req;
  req.method = std::string(r.method_string());
  std::string_view target = r.target();
  auto q = target.find('?');
  req.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) req.query = std::string(target.substr(q + 1));
  for (const auto& f : r) {
    std::string name(f.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    req.headers.emplace_back(std::move(name), std::string(f.value()));
  }
  req.body = r.body();
  req.remote = peer.remote;
  req.remote_port = peer.remote_port;
  req.local_port = peer.local_port;
  req.local_address = peer.local;
  req.tls = tls;
  return req;
}

// The peer's (or our own) address; an IPv4 address on the dual-stack socket without its ::ffff: prefix.
std::string address_of(const tcp::socket& socket, bool peer) {
  beast::error_code ec;
  const auto ep = peer ? socket.remote_endpoint(ec) : socket.local_endpoint(ec);
  if (ec) return "unknown";
  auto a = ep.address();
  if (a.is_v6() && a.to_v6().is_v4_mapped()) a = asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  return a.to_string();
}

// A live connection's entry in the closer list, removed however the connection ends (return or exception).
struct Registration {
  std::list<std::function<void()>>& list;
  std::list<std::function<void()>>::iterator it;
  Registration(std::list<std::function<void()>>& l, std::function<void()> closer)
      : list(l), it(l.insert(l.end(), std::move(closer))) {}
  Registration(const Registration&) = delete;
  Registration& operator=(const Registration&) = delete;
  ~Registration() { list.erase(it); }
};

struct Server::Impl {
  asio::io_context& io;
  asio::ssl::context& tls;
  Api& api;
  ServerOptions options;
  std::optional<tcp::acceptor> https_acceptor;
  std::optional<tcp::acceptor> plain_acceptor;
  std::list<std::function<void()>> closers;  // one per live connection
  struct Mount {
    std::string prefix;
    Handler handler;
    bool plain_http;
  };
  std::vector<Mount> mounts;
  std::optional<Mount> fallback;  // every path that is neither mounted nor under /api/ (the web UI)
  net::ConnectionLimit limit;                 // both listeners share it
  bool stopping = false;

  Impl(asio::io_context& i, asio::ssl::context& t, Api& a, ServerOptions o)
      : io(i), tls(t), api(a), options(std::move(o)), limit(options.max_connections) {}

  std::optional<std::string> open(std::optional<tcp::acceptor>& acc, std::uint16_t port) {
    acc.emplace(io);
    if (auto e = net::listen(*acc, options.bind_address, port)) {
      acc.reset();
      return "http: " + *e;
    }
    return std::nullopt;
  }

  void accept(tcp::acceptor& acc, bool use_tls) {
    net::AcceptPolicy p{"http", limit, [this] { return stopping; },
                        [this, use_tls](tcp::socket s, net::ConnectionSlot slot) {
                          asio::co_spawn(io, connection(std::move(s), use_tls, std::move(slot)),
                                         net::log_failure("http"));
                        }};
    asio::co_spawn(io, net::accept_loop(acc, std::move(p)), asio::detached);
  }

  const Mount* mount_for(std::string_view path) const {
    for (const auto& m : mounts) {
      if (path.starts_with(m.prefix)) return &m;
    }
    if (fallback && !path.starts_with("/api/")) return &*fallback;
    return nullptr;
  }

  bool served_on_plain_http(std::string_view method, std::string_view path) const {
    if (const auto* m = mount_for(path)) return m->plain_http;
    return Api::served_on_plain_http(method, path);
  }

  // Not a coroutine: it only picks the handler whose awaitable the caller awaits.
  awaitable<Response> route(Request req) {
    if (const auto* m = mount_for(req.path)) {
      if (!req.tls && !m->plain_http) return not_on_plain_http();
      return m->handler(std::move(req));
    }
    return api.handle(std::move(req));
  }

  static awaitable<Response> not_on_plain_http() {
    co_return Response::error(404, "https_required", "this is served over HTTPS only");
  }

  // `slot` holds the connection's place under the limit until it ends.
  awaitable<void> connection(tcp::socket socket, bool use_tls,
                             [[maybe_unused]] net::ConnectionSlot slot) {
    beast::error_code pec;
    Peer remote{address_of(socket, true), address_of(socket, false), socket.remote_endpoint(pec).port(),
                socket.local_endpoint(pec).port()};
    if (use_tls) {
      asio::ssl::stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), tls);
      Registration reg(closers, [&stream] { beast::get_lowest_layer(stream).close(); });
      beast::get_lowest_layer(stream).expires_after(kHandshakeTimeout);
      auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::server, tuple_awaitable);
      if (!hec) {
        co_await serve(stream, remote, true, reg.it);
      } else {
        log::debug("http.tls_handshake_failed", {{"remote", remote.remote}, {"error", hec.message()}});
      }
    } else {
      beast::tcp_stream stream(std::move(socket));
      Registration reg(closers, [&stream] { stream.close(); });
      co_await serve(stream, remote, false, reg.it);
    }
  }

  template <typename Stream>
  awaitable<void> serve(Stream& stream, const Peer& remote, bool use_tls,
                        std::list<std::function<void()>>::iterator registration) {
    beast::flat_buffer buffer;
    auto& lowest = beast::get_lowest_layer(stream);
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(kHeaderLimit);
      parser.body_limit(options.max_body_bytes);
      // One deadline covers the whole request, so a slow sender cannot hold a connection open.
      lowest.expires_after(options.request_timeout);
      auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, tuple_awaitable);
      bool refuse_body = false;
      if (!ec && !parser.is_done() && beast::iequals(parser.get()[http::field::expect], "100-continue")) {
        // curl and others wait (about a second) for this before sending a body larger than 1 KiB. On plain HTTP
        // only endpoints served there may invite it: a password must not follow in clear before the refusal.
        const std::string_view target = parser.get().target();
        if (use_tls || served_on_plain_http(parser.get().method_string(), target.substr(0, target.find('?')))) {
          http::response<http::empty_body> cont{http::status::continue_, parser.get().version()};
          auto [cec, cn] = co_await http::async_write(stream, cont, tuple_awaitable);
          ec = cec;
        } else {
          refuse_body = true;
        }
      }
      if (refuse_body) {  // answer from the headers alone, then close without reading the body
        auto header_only = to_request(parser.get(), remote, use_tls);
        Response refused = co_await route(std::move(header_only));
        auto res = to_beast(refused, parser.get().version(), false);
        lowest.expires_after(kWriteTimeout);
        co_await http::async_write(stream, res, tuple_awaitable);
        co_return;
      }
      if (!ec && !parser.is_done()) std::tie(ec, n) = co_await http::async_read(stream, buffer, parser, tuple_awaitable);
      if (ec) {
        if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted ||
            ec == asio::error::eof || ec == asio::error::connection_reset || ec == asio::ssl::error::stream_truncated) {
          co_return;
        }
        auto res = to_beast(parse_failure(ec, options.max_body_bytes), 11, false);
        lowest.expires_after(kWriteTimeout);
        co_await http::async_write(stream, res, tuple_awaitable);
        co_return;
      }
      auto& raw = parser.get();
      const bool keep_alive = raw.keep_alive();
      const unsigned version = raw.version();
      Request request = to_request(raw, remote, use_tls);
      Response response = co_await route(std::move(request));
      log::debug("http.request", {{"remote", remote.remote}, {"method", std::string(raw.method_string())},
                                  {"target", std::string(raw.target())}, {"status", response.status}});
      if (response.stream) {
        co_await stream_events(stream, *response.stream, version, registration);
        co_return;
      }
      if (response.websocket) {
        if (beast::websocket::is_upgrade(raw)) {
          co_await serve_websocket(stream, raw, *response.websocket, registration);
          co_return;
        }
        // Upgrade: websocket without the rest of a valid upgrade (Connection: upgrade, HTTP/1.1, a key).
        response = Response::error(426, "upgrade_required", "not a valid WebSocket upgrade request")
                       .header("Upgrade", "websocket");
      }
      auto res = to_beast(response, version, keep_alive && !stopping);
      lowest.expires_after(kWriteTimeout);
      auto [wec, wn] = co_await http::async_write(stream, res, tuple_awaitable);
      if (wec || !res.keep_alive()) co_return;
    }
  }

  // The connection after a WebSocket upgrade: sends what the feed yields, answers the peer's control frames, and
  // closes when the feed ends, the session does, the peer goes quiet or the server stops.
  template <typename Stream>
  awaitable<void> serve_websocket(Stream& stream, const http::request<http::string_body>& req, WebSocketFeed& feed,
                                  std::list<std::function<void()>>::iterator registration) {
    namespace websocket = beast::websocket;
    auto& lowest = beast::get_lowest_layer(stream);
    lowest.expires_never();  // the WebSocket's own timeouts take over
    // A bounded kernel queue: a viewer that cannot keep up is felt here within a second or so (the feed then skips
    // ahead), instead of piling seconds of video into an auto-tuned send buffer.
    beast::error_code sec;
    lowest.socket().set_option(asio::socket_base::send_buffer_size(kWsSendBuffer), sec);
    websocket::stream<Stream&> ws(stream);
    ws.set_option(websocket::stream_base::timeout{kHandshakeTimeout, kWsIdleTimeout, true});
    ws.set_option(websocket::stream_base::decorator([](websocket::response_type& res) {
      res.set(http::field::server, "freeholdd");
    }));
    ws.read_message_max(kWsMaxIncoming);
    ws.auto_fragment(false);
    asio::steady_timer wake(io);
    bool reading = true;
    asio::steady_timer reader_done(io, asio::steady_timer::time_point::max());
    feed.wake = [&wake] { wake.cancel(); };
    *registration = [&lowest, &wake] {
      lowest.close();
      wake.cancel();
    };
    auto [aec] = co_await ws.async_accept(req, tuple_awaitable);
    if (aec) {
      log::debug("http.websocket_refused", {{"error", aec.message()}});
      feed.wake = nullptr;
      co_return;
    }
    // The reader only keeps control frames flowing (pong, close); what a client sends is not for us.
    asio::co_spawn(
        io,
        [&]() -> awaitable<void> {
          beast::flat_buffer in;
          for (;;) {
            auto [rec, rn] = co_await ws.async_read(in, tuple_awaitable);
            if (rec) {
              log::debug("http.websocket_closed", {{"error", rec.message()}});
              break;
            }
            in.consume(in.size());
          }
          reading = false;
          wake.cancel();
          reader_done.cancel();
        },
        asio::detached);
    std::vector<WsMessage> batch;
    bool closed_by_us = false;
    while (reading && !stopping) {
      batch.clear();
      if (feed.still_authorized && !feed.still_authorized()) {
        closed_by_us = true;
        break;
      }
      feed.pull(batch);
      if (batch.empty()) {
        if (feed.ended()) {
          closed_by_us = true;
          break;
        }
        wake.expires_after(kSseKeepAlive);
        co_await wake.async_wait(tuple_awaitable);
        continue;
      }
      beast::error_code wec;
      for (const auto& m : batch) {
        ws.binary(m.binary != nullptr);
        const asio::const_buffer data = m.binary ? asio::buffer(*m.binary) : asio::buffer(m.text);
        auto [e, n] = co_await ws.async_write(data, tuple_awaitable);
        wec = e;
        if (wec) break;
      }
      if (wec) {
        log::debug("http.websocket_write_failed", {{"error", wec.message()}});
        break;
      }
    }
    log::debug("http.websocket_end", {{"reading", reading}, {"closed_by_us", closed_by_us}, {"stopping", stopping}});
    feed.wake = nullptr;
    if (closed_by_us && reading && !stopping) {
      auto [cec] = co_await ws.async_close(websocket::close_code::normal, tuple_awaitable);
      (void)cec;
    }
    // The reader refers to this frame's locals: it must be finished before they go.
    if (reading) {
      lowest.close();
      co_await reader_done.async_wait(tuple_awaitable);
    }
  }

  template <typename Stream>
  awaitable<void> stream_events(Stream& stream, EventStream& events, unsigned version,
                                std::list<std::function<void()>>::iterator registration) {
    auto& lowest = beast::get_lowest_layer(stream);
    asio::steady_timer wake(io);
    events.wake = [&wake] { wake.cancel(); };
    *registration = [&lowest, &wake] {
      lowest.close();
      wake.cancel();
    };
    const bool sse = events.content_type() == "text/event-stream";
    http::response<http::empty_body> head{http::status::ok, version};
    head.set(http::field::server, "freeholdd");
    security_headers(head);
    head.set(http::field::content_type, events.content_type());
    head.keep_alive(false);
    http::response_serializer<http::empty_body> sr{head};
    lowest.expires_after(kWriteTimeout);
    auto [hec, hn] = co_await http::async_write_header(stream, sr, tuple_awaitable);
    while (!hec && !stopping) {
      std::string out;
      for (auto& m : events.take()) out += m;
      if (out.empty()) {
        if (events.closed()) break;
        wake.expires_after(kSseKeepAlive);
        auto [tec] = co_await wake.async_wait(tuple_awaitable);
        if (tec) continue;
        if (!sse) {  // a multipart body has no comments: only check that the session still holds
          if (events.still_authorized && !events.still_authorized()) break;
          continue;
        }
        out = ": keep-alive\n\n";  // a quiet period: keep proxies from timing out
      }
      if (events.still_authorized && !events.still_authorized()) break;  // logged out, expired or revoked
      lowest.expires_after(kWriteTimeout);
      auto [wec, wn] = co_await asio::async_write(stream, asio::buffer(out), tuple_awaitable);
      if (wec) break;
    }
    events.wake = nullptr;
    events.close();
  }
};

std::optional<std::string> configure_tls(asio::ssl::context& ctx, const std::string& cert_pem,
                                         const std::string& key_pem) {
  beast::error_code ec;
  ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                  asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1 |
                  asio::ssl::context::single_dh_use | asio::ssl::context::no_compression);
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
  SSL_CTX_set_cipher_list(ctx.native_handle(),
                          "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305");
  SSL_CTX_set_options(ctx.native_handle(), SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
  ctx.use_certificate_chain(asio::buffer(cert_pem), ec);
  if (!ec) ctx.use_private_key(asio::buffer(key_pem), asio::ssl::context::pem, ec);
  if (ec) return "cannot load the TLS certificate or key: " + ec.message();
  return std::nullopt;
}

Server::Server(asio::io_context& io, asio::ssl::context& tls, Api& api, ServerOptions options)
    : impl_(std::make_unique<Impl>(io, tls, api, std::move(options))) {}

Server::~Server() = default;

void Server::mount(std::string prefix, Handler handler, bool plain_http) {
  impl_->mounts.push_back(Impl::Mount{std::move(prefix), std::move(handler), plain_http});
}

void Server::mount_fallback(Handler handler, bool plain_http) {
  impl_->fallback = Impl::Mount{"/", std::move(handler), plain_http};
}

std::optional<std::string> Server::start() {
  if (auto e = impl_->open(impl_->https_acceptor, impl_->options.https_port)) return e;
  if (impl_->options.plain_enabled) {
    if (auto e = impl_->open(impl_->plain_acceptor, impl_->options.plain_port)) return e;
  }
  impl_->accept(*impl_->https_acceptor, true);
  if (impl_->plain_acceptor) impl_->accept(*impl_->plain_acceptor, false);
  return std::nullopt;
}

void Server::stop() {
  impl_->stopping = true;
  beast::error_code ec;
  if (impl_->https_acceptor) impl_->https_acceptor->close(ec);
  if (impl_->plain_acceptor) impl_->plain_acceptor->close(ec);
  // Closing may erase entries as coroutines finish: copy first.
  auto closers = impl_->closers;
  for (auto& c : closers) c();
}

void Server::set_limits(size_t max_body_bytes, std::chrono::seconds request_timeout) {
  impl_->options.max_body_bytes = max_body_bytes;
  impl_->options.request_timeout = request_timeout;
}

std::uint16_t Server::https_port() const {
  beast::error_code ec;
  return impl_->https_acceptor ? impl_->https_acceptor->local_endpoint(ec).port() : 0;
}

std::uint16_t Server::plain_port() const {
  beast::error_code ec;
  return impl_->plain_acceptor ? impl_->plain_acceptor->local_endpoint(ec).port() : 0;
}

size_t Server::connections() const { return impl_->closers.size(); }

}  // namespace freehold::web
