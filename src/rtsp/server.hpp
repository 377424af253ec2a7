// SPDX-License-Identifier: GPL-3.0-or-later
// The RTSP 1.0 server (RFC 2326): rtsp://HOST:PORT/main and /sub, H.264 (RFC 6184) or MJPEG (RFC 2435) over RTP,
// RTP over the RTSP TCP connection (interleaved) or over UDP unicast, Digest authentication against the device's
// accounts; RTSPS (the same inside TLS) on a port of its own.
// Each frame is packetized once per stream; every session is a cursor into that stream's ring of packetized
// frames, sent in one write per batch. A session that cannot keep up skips to the next keyframe and is counted;
// it never slows another. Runs on the I/O thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/tunnels.hpp"
#include "core/accounts.hpp"
#include "core/audit.hpp"
#include "core/histogram.hpp"
#include "core/device_model.hpp"
#include "core/lockout.hpp"
#include "media/video_stream.hpp"

namespace freehold::rtsp {

struct ServerOptions {
  std::string bind_address = "::";
  bool plain_enabled = true;
  std::uint16_t port = 554;  // 0: any free port (tests)
  // RTSPS (RTSP inside TLS) listens on its own port when a TLS context is given. Media then goes only interleaved
  // in the TLS connection (UDP would leave it in clear), and Basic authentication is accepted too.
  boost::asio::ssl::context* tls = nullptr;
  std::uint16_t tls_port = 322;
  std::size_t max_sessions = 64;
  std::chrono::seconds request_timeout{10};  // to receive a whole request
  std::chrono::seconds session_timeout{60};  // a session that shows no sign of life is closed
  std::uint16_t udp_port_first = 20000;      // RTP/RTCP server port pairs for UDP sessions
  std::uint16_t udp_port_last = 29999;
};

struct ServerStats {
  std::uint64_t connections = 0;  // open now
  std::uint64_t sessions_playing = 0;
  std::uint64_t frames_sent = 0;
  std::uint64_t frames_dropped = 0;  // lost by slow sessions
  std::uint64_t auth_failures = 0;
  LatencySummary send_latency;  // a frame leaving the encoder to its last byte in a session's socket
};

struct Dependencies {
  const DeviceModel& model;  // stream.<name>.enabled and privacy mode gate DESCRIBE, SETUP, PLAY and every batch sent
  Accounts& accounts;
  Audit& audit;
  Lockout& lockout;
  const Tunnels* tunnels = nullptr;  // connections from the relay link: their client's role, no password
};

class Server final {
 public:
  // `streams` are served at /<name>; they must outlive the server.
  Server(boost::asio::io_context& io, std::vector<media::VideoStream*> streams, Dependencies deps,
         ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  [[nodiscard]] std::optional<std::string> start();
  void stop();
  [[nodiscard]] std::uint16_t port() const;      // 0 when not listening
  [[nodiscard]] std::uint16_t tls_port() const;  // 0 when not listening
  [[nodiscard]] ServerStats stats() const;
  [[nodiscard]] std::size_t connections() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace freehold::rtsp
