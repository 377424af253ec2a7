// SPDX-License-Identifier: GPL-3.0-or-later
// The two ends that dial the relay. A DeviceLink (in freeholdd) keeps one link up, reconnecting with jittered
// exponential backoff, answers session requests with the device key and connects each admitted session to a local
// service. A ClientConnect (in `freehold connect`) listens on local ports and carries each accepted connection to
// the device in a session of its own. For the I/O thread only.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "core/tunnels.hpp"
#include "relay/frame.hpp"
#include "relay/identity.hpp"
#include "relay/messages.hpp"

namespace freehold::relay {

struct RelayAddress {
  std::string host;
  std::string port = "443";
  std::string fingerprint;  // the relay certificate's SHA-256, "AB:CD:…"
  bool websocket = false;   // wss://: the link inside a WebSocket (docs/relay-protocol.md)
};
// "relay://host:port" or "wss://host:port"; the error names what is wrong.
[[nodiscard]] std::optional<RelayAddress> parse_relay_url(const std::string& url, std::string* error);


struct DeviceLinkOptions {
  RelayAddress relay;
  std::map<std::string, uint16_t> services;  // "rtsp" -> 554, "https" -> 443, … on service_address
  std::string service_address = "127.0.0.1";  // where the services listen: loopback, or their bind address
  std::function<Admission(const PublicKey& client, const std::string& service, const std::string& grant)> admit;
  std::chrono::milliseconds backoff_min{3000}, backoff_max{30000};
  // Where each admitted session's local connection is registered with its client's role (core/tunnels.hpp).
  Tunnels* tunnels = nullptr;
};

class DeviceLink final {
 public:
  DeviceLink(boost::asio::io_context& io, const Identity& identity, DeviceLinkOptions options);
  ~DeviceLink();
  void start();
  void stop();
  [[nodiscard]] bool connected() const;
  [[nodiscard]] size_t sessions() const;
  // Ends the open sessions of a client (it was revoked).
  void end_sessions_of(const Id& client);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

struct Forward {
  std::string service;  // rtsp, https, onvif, http
  std::string bind = "127.0.0.1";
  uint16_t port = 0;    // 0: any free port (reported through on_listening)
};

struct ClientConnectOptions {
  RelayAddress relay;
  Id device{};
  PublicKey device_key{};
  std::string grant;  // empty for the owner
  std::vector<Forward> forwards;
  std::function<void(const Forward&, uint16_t port)> on_listening;
  // A session or the link failed in a way the user must see (refusal, key mismatch, device offline).
  std::function<void(const std::string& message)> on_problem;
  std::function<void()> on_ready;  // the link to the relay is up
};

class ClientConnect final {
 public:
  ClientConnect(boost::asio::io_context& io, const Identity& identity, ClientConnectOptions options);
  ~ClientConnect();
  // Dials the relay and opens the local ports; the error says why not (relay unreachable, pin mismatch, refused).
  void start(std::function<void(const std::string& error)> on_fatal);
  void stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace freehold::relay
