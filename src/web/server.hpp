// SPDX-License-Identifier: GPL-3.0-or-later
// The HTTP(S) listeners: HTTPS for the web UI and REST API, and an optional plain-HTTP listener for LAN protocols
// that cannot do TLS (ONVIF clients). One coroutine per connection on the I/O thread; every read has a deadline,
// every request a size limit, and the number of connections a cap.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "web/api.hpp"

namespace freehold::web {

struct ServerOptions {
  std::string bind_address = "::";
  std::uint16_t https_port = 443;  // 0: pick a free port (tests)
  bool plain_enabled = false;
  std::uint16_t plain_port = 80;
  size_t max_body_bytes = 65536;
  std::chrono::seconds request_timeout{10};
  size_t max_connections = 128;
};

// TLS ≥ 1.2 with forward-secret AEAD suites only, for the device's own certificate.
[[nodiscard]] std::optional<std::string> configure_tls(boost::asio::ssl::context& ctx, const std::string& cert_pem,
                                                       const std::string& key_pem);

// A handler for every path under a prefix (ONVIF's /onvif/), beside the REST API.
using Handler = std::function<boost::asio::awaitable<Response>(Request)>;

class Server final {
 public:
  Server(boost::asio::io_context& io, boost::asio::ssl::context& tls, Api& api, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Routes paths starting with `prefix` to `handler` (before start()); `plain_http`: also on the plain listener.
  void mount(std::string prefix, Handler handler, bool plain_http);
  // Routes every other path outside /api/ to `handler` (the web UI); `plain_http`: also on the plain listener.
  void mount_fallback(Handler handler, bool plain_http);
  // Binds and starts accepting; an error names the address and port that failed.
  [[nodiscard]] std::optional<std::string> start();
  // Stops accepting and closes every connection; returns at once.
  void stop();
  // Limits that may change at run time (SIGHUP, PATCH /config).
  void set_limits(size_t max_body_bytes, std::chrono::seconds request_timeout);

  [[nodiscard]] std::uint16_t https_port() const;
  [[nodiscard]] std::uint16_t plain_port() const;
  [[nodiscard]] size_t connections() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace freehold::web
