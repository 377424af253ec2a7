// SPDX-License-Identifier: GPL-3.0-or-later
// One framed TLS connection of the relay protocol, used by all three parties. The owner's coroutine reads frames
// one at a time; sends are queued and written by the link's own writer, which serves control frames first and then
// the sessions round-robin, one frame each, in batches of up to 256 KiB: a bulk stream never starves a request.
// Every read and write has the link's idle deadline. For the I/O thread only.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "relay/frame.hpp"

namespace freehold::relay {

class Link final : public std::enable_shared_from_this<Link> {
 public:
  using Stream = boost::beast::ssl_stream<boost::beast::tcp_stream>;
  struct Frame {
    FrameHeader header;
    std::string payload;
  };

  Link(Stream stream, std::chrono::seconds idle);
  // The next frame; nullopt at the end of the link, with `error` saying why (closed, timed out, malformed).
  [[nodiscard]] boost::asio::awaitable<std::optional<Frame>> read(std::string* error);
  // The deadline of each read and write from now on (admission uses a short one, an admitted link the idle limit).
  void set_idle(std::chrono::seconds idle) { idle_ = idle; }
  // Queues a frame. A session's data and close frames wait their turn, in order, behind other sessions'; all
  // others (credit, control) go first.
  void send(FrameType type, uint32_t session, std::string_view payload);
  // Payload bytes of `session` queued here and not yet written.
  [[nodiscard]] size_t queued(uint32_t session) const;
  // Discards what `session` still has queued (its peer is gone).
  void forget(uint32_t session);
  // Sends what is queued (bounded by the idle deadline), then shuts the connection down.
  void close();
  // Closes at once, dropping anything queued.
  void abort();
  [[nodiscard]] bool closed() const { return closed_; }
  // RFC 8446 §7.5 exporter of this TLS connection, kExporterLabel, 32 bytes: what auth signatures are bound to.
  [[nodiscard]] std::string exporter();
  [[nodiscard]] std::string remote_address() const { return remote_; }
  [[nodiscard]] Stream& stream() { return stream_; }
  // Bytes written and read so far, frames included.
  [[nodiscard]] uint64_t bytes_out() const { return bytes_out_; }
  [[nodiscard]] uint64_t bytes_in() const { return bytes_in_; }

 private:
  boost::asio::awaitable<void> writer();
  void wake();

  Stream stream_;
  std::chrono::seconds idle_;
  std::string remote_;
  boost::beast::flat_buffer in_;
  std::deque<std::string> control_;
  struct Queue {
    std::deque<std::string> frames;
    size_t bytes = 0;
    bool ready = false;  // listed in ready_
  };
  std::unordered_map<uint32_t, Queue> sessions_;
  std::deque<uint32_t> ready_;
  boost::asio::steady_timer wake_;
  bool writing_ = false;
  bool closing_ = false;
  bool closed_ = false;
  uint64_t bytes_out_ = 0, bytes_in_ = 0;
};

// A TLS client context for links to a relay: TLS 1.3 only, and the relay's certificate accepted only if its SHA-256
// fingerprint ("AB:CD:…") is `pin`. Certificate authorities play no part.
void configure_pinned_client(boost::asio::ssl::context& ctx, const std::string& pin);
// Why a pinned TLS handshake failed: the refused fingerprint when the pin did not match, else the error.
[[nodiscard]] std::string handshake_failure(SSL* ssl, const boost::system::error_code& ec);
// "AB:CD:…" of the peer certificate, as the pin compares it.
[[nodiscard]] std::string peer_fingerprint(SSL* ssl);

// Dials host:port, completes the TLS handshake (pinned as configured on `ctx`) within `timeout`.
[[nodiscard]] boost::asio::awaitable<std::shared_ptr<Link>> dial(boost::asio::ssl::context& ctx, const std::string& host,
                                                                 const std::string& port, std::chrono::seconds timeout,
                                                                 std::chrono::seconds idle, std::string* error);

}  // namespace freehold::relay
