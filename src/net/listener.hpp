// SPDX-License-Identifier: GPL-3.0-or-later
// Listening TCP sockets shared by every server (HTTP, RTSP): how to open one, and an accept loop that survives
// running out of descriptors, enforces a connection cap and never lets an exception escape a connection.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <string>

namespace freehold::net {

// Opens `acceptor` on address:port ("::" serves IPv4 as well). The error names the address and port.
[[nodiscard]] std::optional<std::string> listen(boost::asio::ip::tcp::acceptor& acceptor, const std::string& address,
                                                std::uint16_t port);

struct AcceptPolicy {
  std::string name;                     // log prefix: "http", "rtsp"
  std::function<std::size_t()> open;    // connections open now
  std::size_t limit = 64;               // refuse (close at once) beyond this
  std::function<bool()> stopping;       // true once the server shuts down
  std::function<void(boost::asio::ip::tcp::socket)> serve;  // spawns the connection
};

// Accepts until the acceptor is closed.
[[nodiscard]] boost::asio::awaitable<void> accept_loop(boost::asio::ip::tcp::acceptor& acceptor, AcceptPolicy policy);

// A co_spawn completion handler that logs an exception escaping a connection as `<name>.connection_failed`.
[[nodiscard]] std::function<void(std::exception_ptr)> log_failure(std::string name);

}  // namespace freehold::net
