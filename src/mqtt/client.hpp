// SPDX-License-Identifier: GPL-3.0-or-later
// An MQTT client on the daemon's I/O thread: libmosquitto does the protocol, our executor does the waiting (no
// library thread). MQTT 5, falling back to 3.1.1 when the broker refuses 5; TLS verified against a CA file or the
// system's CAs (with an optional certificate pin; there is no switch that turns verification off); reconnects
// with exponential backoff and jitter. Not thread-safe: every call comes from the executor's thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace freehold::mqtt {

struct ClientOptions {
  std::string host;  // a name or an address; resolved asynchronously before each connection
  std::uint16_t port = 1883;
  bool tls = false;
  std::string ca_file;    // empty: the system's CAs
  std::string cert_file;  // client certificate (optional)
  std::string key_file;
  std::string fingerprint;  // SHA-256 of the broker's certificate, hex (colons allowed); empty: no pin
  std::string username;
  std::string password;
  std::string client_id;
  std::chrono::seconds keepalive{30};
  std::string will_topic;  // retained, QoS 1, sent by the broker if the connection dies
  std::string will_payload;
  std::chrono::milliseconds backoff_min{1000};
  std::chrono::milliseconds backoff_max{60000};
};

struct Message {
  std::string topic;
  std::string payload;
  bool retain = false;
  std::string response_topic;  // MQTT 5 request/response
  std::string correlation;
};

struct ClientHandlers {
  std::function<void()> connected;  // after a successful CONNACK: subscribe and publish the states here
  std::function<void()> disconnected;
  std::function<void(const Message&)> message;
  std::function<void(int mid)> acknowledged;  // a QoS 1 message reached the broker (PUBACK)
};

class Client final {
 public:
  Client(boost::asio::any_io_executor executor, ClientOptions options, ClientHandlers handlers);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Checks the options (files readable, TLS context) and starts connecting. Returns the problem, if any.
  [[nodiscard]] std::optional<std::string> start();
  // Publishes offline-style `final` messages already queued, then DISCONNECT without the will; waits at most
  // `grace` for the socket to take them. Blocking, for the daemon's shutdown only.
  void stop(std::chrono::milliseconds grace);

  // Returns the message id (> 0), or 0 if not connected or refused by the library. A QoS 1 message handed over
  // is delivered by the library even across a reconnection.
  int publish(std::string_view topic, std::string_view payload, int qos, bool retain,
              std::string_view correlation = {});
  bool subscribe(std::string_view filter, int qos);

  [[nodiscard]] bool connected() const;
  [[nodiscard]] int protocol_version() const;  // 5 or 4 (3.1.1)
  [[nodiscard]] std::string_view last_error() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace freehold::mqtt
