// SPDX-License-Identifier: GPL-3.0-or-later
// One framed TLS 1.3 connection of the relay protocol, used by all three parties. OpenSSL runs directly on the
// non-blocking socket and the link waits for readiness, not with a buffer: an idle link holds no I/O buffer at all
// (the relay keeps ten thousand of them). The owner's coroutine reads frames one at a time; sends are queued and
// written by a writer that exists only while there is something to write, serving control frames first and then
// the sessions round-robin, one frame each: a bulk stream never starves a request. A watchdog ends a link that
// reads nothing, or cannot write, for the idle limit. For the I/O thread only.
#pragma once

#include <openssl/types.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "relay/frame.hpp"
#include "relay/records.hpp"
#include "relay/websocket.hpp"

namespace freehold::relay {

class Link final : public std::enable_shared_from_this<Link> {
 public:
  struct Frame {
    FrameHeader header;
    std::string payload;
  };

  // Takes a connected socket; the TLS handshake is handshake()'s. `ctx` must outlive the link.
  Link(boost::asio::ip::tcp::socket socket, SSL_CTX* ctx, bool server, std::chrono::seconds idle);
  ~Link();
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  // The name a client asks for (SNI).
  void set_server_name(const std::string& host);
  // The TLS handshake within `timeout`; the error says why not (for a client, a refused pin names what it saw).
  [[nodiscard]] boost::asio::awaitable<bool> handshake(std::chrono::seconds timeout, std::string* error);
  // WebSocket transport (docs/relay-protocol.md), after the TLS handshake. A peer asks for the upgrade and checks
  // the answer; the relay looks at the first byte and, for an upgrade request, answers it (false: the request was
  // refused, or the connection failed; `error` says why). Either way the link's frames follow.
  [[nodiscard]] boost::asio::awaitable<bool> upgrade_to_websocket(const std::string& host, std::string* error);
  [[nodiscard]] boost::asio::awaitable<bool> accept_websocket_if_asked(std::string* error);
  [[nodiscard]] bool websocket() const { return ws_ != nullptr; }
  // The next frame; nullopt at the end of the link, with `error` saying why (closed, timed out, malformed).
  [[nodiscard]] boost::asio::awaitable<std::optional<Frame>> read(std::string* error);
  // The deadline for reading anything, and for any write to progress, from now on.
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
  // Wipes what exporter() needs, once the relay has checked the peer's signature with it.
  void forget_exporter();
  [[nodiscard]] const std::string& remote_address() const { return remote_; }
  // The address and port the link is connected to (for a peer: the relay's, where its direct connections go).
  [[nodiscard]] boost::asio::ip::tcp::endpoint remote_endpoint() const {
    boost::system::error_code ec;
    return socket_.remote_endpoint(ec);
  }
  [[nodiscard]] uint64_t bytes_out() const { return bytes_out_; }
  [[nodiscard]] uint64_t bytes_in() const { return bytes_in_; }

 private:
  enum class Want { none, read, write, failed };
  boost::asio::awaitable<bool> wait(Want want);
  // Plaintext in (none: `*n` bytes read) and bytes out (none: `*n` bytes sent), through OpenSSL or the records.
  Want read_plain(char* out, size_t cap, size_t* n);
  Want write_tls(const char* data, size_t len, size_t* n);
  Want read_records(char* out, size_t cap, size_t* n);
  Want send_raw(const char* data, size_t len, size_t* n);
  // Reads plaintext into in_ until it holds `min` bytes, or an HTTP head when `head` (its size then; 0 on failure).
  boost::asio::awaitable<size_t> fill(size_t min, bool head, std::string* error);
  // Writes `data` at once (the handshake phases, while nothing else writes).
  boost::asio::awaitable<bool> write_now(std::string_view data);
  // Writes bytes ready for the socket (sealed records, or plaintext for OpenSSL), waiting as needed.
  boost::asio::awaitable<bool> write_out(std::string_view out);
  void start_websocket(size_t head);
  void websocket_goodbye(const std::string& why);
  boost::asio::awaitable<void> writer();
  boost::asio::awaitable<void> watchdog();
  void spawn_writer();
  Want want_of(int ret);

  boost::asio::ip::tcp::socket socket_;
  SSL* ssl_ = nullptr;  // until the handshake, and on peers for good
  // The relay's links after the handshake: the record layer in user space, OpenSSL's state freed. Raw records in
  // [rec_start_, rec_end_) of rec_ (no buffer while idle); the plaintext of the current one being handed out.
  std::unique_ptr<Records> records_;
  std::unique_ptr<unsigned char[]> rec_;
  size_t rec_start_ = 0, rec_end_ = 0, plain_at_ = 0, plain_left_ = 0, record_size_ = 0;
  std::string reply_;  // a record the record layer must send before more data (a KeyUpdate)
  // WebSocket framing around the link's bytes, only on links that asked for it.
  struct WebSocketState {
    websocket::Reader reader;
    std::string pongs;  // to send
  };
  std::unique_ptr<WebSocketState> ws_;
  bool server_;
  std::chrono::seconds idle_;
  std::string remote_;
  // Bytes read and not yet parsed, in [start_, end_); no buffer at all while the link waits for data.
  std::unique_ptr<char[]> in_;
  size_t in_start_ = 0, in_end_ = 0;
  std::deque<std::string> control_;
  struct Queue {
    std::deque<std::string> frames;
    size_t bytes = 0;
    bool ready = false;  // listed in ready_
  };
  std::unordered_map<uint32_t, Queue> sessions_;
  std::deque<uint32_t> ready_;
  bool writing_ = false, closing_ = false, closed_ = false;
  boost::asio::steady_timer watchdog_timer_;
  std::chrono::steady_clock::time_point last_read_, write_blocked_since_;
  bool write_blocked_ = false;
  std::string end_reason_;
  uint64_t bytes_out_ = 0, bytes_in_ = 0;
};

// A TLS client context for links to a relay: TLS 1.3 only, and the relay's certificate accepted only if its SHA-256
// fingerprint ("AB:CD:…") is `pin`. Certificate authorities play no part.
void configure_pinned_client(boost::asio::ssl::context& ctx, const std::string& pin);
// The server side's context settings: TLS 1.3 only, no session tickets, buffers released while idle.
void configure_relay_server(boost::asio::ssl::context& ctx);
// Why a pinned TLS handshake failed: the refused fingerprint when the pin did not match, else the error.
[[nodiscard]] std::string handshake_failure(SSL* ssl, const std::string& fallback);

// Dials host:port and completes the TLS handshake (pinned as configured on `ctx`), and the WebSocket upgrade when
// asked, each within `timeout`.
[[nodiscard]] boost::asio::awaitable<std::shared_ptr<Link>> dial(boost::asio::ssl::context& ctx, const std::string& host,
                                                                 const std::string& port, std::chrono::seconds timeout,
                                                                 std::chrono::seconds idle, std::string* error,
                                                                 bool websocket = false);

}  // namespace freehold::relay
