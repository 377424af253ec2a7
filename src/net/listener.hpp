// SPDX-License-Identifier: GPL-3.0-or-later
// Listening TCP sockets shared by every server (HTTP, RTSP): how to open one, and an accept loop that survives
// running out of descriptors, enforces a connection cap and never lets an exception escape a connection.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace freehold::net {

// Opens `acceptor` on address:port ("::" serves IPv4 as well). The error names the address and port.
[[nodiscard]] std::optional<std::string> listen(boost::asio::ip::tcp::acceptor& acceptor, const std::string& address,
                                                std::uint16_t port);

class ConnectionSlot;

// The connection cap of a server, shared by its listeners (copies share one count). The accept loop takes a slot
// for each socket before it hands the socket on, and the slot is given back when the connection drops it: the cap
// holds whenever the connection's coroutine starts to run, at once or later. For the I/O thread only.
class ConnectionLimit final {
 public:
  explicit ConnectionLimit(std::size_t max);
  // A slot, or nullopt when `max` connections are open.
  [[nodiscard]] std::optional<ConnectionSlot> take() const;
  [[nodiscard]] std::size_t open() const { return state_->open; }
  [[nodiscard]] std::size_t max() const { return state_->max; }

 private:
  friend class ConnectionSlot;
  struct State {
    std::size_t max;
    std::size_t open;
  };
  std::shared_ptr<State> state_;
};

// One open connection's place under its ConnectionLimit; the connection keeps it for as long as it lives.
class ConnectionSlot final {
 public:
  ConnectionSlot(ConnectionSlot&& other) noexcept = default;
  ConnectionSlot& operator=(ConnectionSlot&&) = delete;
  ConnectionSlot(const ConnectionSlot&) = delete;
  ConnectionSlot& operator=(const ConnectionSlot&) = delete;
  ~ConnectionSlot();

 private:
  friend class ConnectionLimit;
  explicit ConnectionSlot(std::shared_ptr<ConnectionLimit::State> state);
  std::shared_ptr<ConnectionLimit::State> state_;  // null once moved from
};

struct AcceptPolicy {
  std::string name;                 // log prefix: "http", "rtsp"
  ConnectionLimit limit;            // refuse (close at once) beyond it
  std::function<bool()> stopping;   // true once the server shuts down
  // Spawns the connection, which keeps the slot until it ends.
  std::function<void(boost::asio::ip::tcp::socket, ConnectionSlot)> serve;
};

// Accepts until the acceptor is closed.
[[nodiscard]] boost::asio::awaitable<void> accept_loop(boost::asio::ip::tcp::acceptor& acceptor, AcceptPolicy policy);

// A co_spawn completion handler that logs an exception escaping a connection as `<name>.connection_failed`.
[[nodiscard]] std::function<void(std::exception_ptr)> log_failure(std::string name);

}  // namespace freehold::net
