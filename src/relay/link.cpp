// SPDX-License-Identifier: GPL-3.0-or-later
#include "relay/link.hpp"
#include "relay/sockets.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <cstring>
#include <sys/socket.h>

#include "core/crypto.hpp"
#include "core/tls_cert.hpp"
#include "relay/websocket.hpp"

namespace freehold::relay {
namespace asio = boost::asio;
namespace {

constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);
constexpr size_t kBatch = 256 * 1024;
// Two whole frames: one being parsed while the next arrives.
constexpr size_t kBufferSize = 2 * (kHeaderSize + kMaxPayload);
constexpr size_t kMaxHead = 8192;  // an HTTP upgrade request or answer
using Clock = std::chrono::steady_clock;

// The fingerprint the pin refused last on this thread, for the error message.
thread_local std::string last_refused_fingerprint;

int pin_index() {
  static const int index = SSL_CTX_get_ex_new_index(
      0, nullptr, nullptr, nullptr, [](void*, void* p, CRYPTO_EX_DATA*, int, long, void*) {
        delete static_cast<std::string*>(p);
      });
  return index;
}

int verify_pin(int, X509_STORE_CTX* store) {
  if (X509_STORE_CTX_get_error_depth(store) != 0) return 1;  // the chain is not checked: the pin decides
  auto* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  const auto* pin = static_cast<const std::string*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), pin_index()));
  X509* cert = X509_STORE_CTX_get_current_cert(store);
  last_refused_fingerprint = cert ? certificate_fingerprint(cert) : std::string();
  if (cert && pin && crypto::equal_constant_time(last_refused_fingerprint, *pin)) {
    X509_STORE_CTX_set_error(store, X509_V_OK);
    return 1;
  }
  X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
  return 0;
}

std::string openssl_error() {
  const unsigned long e = ERR_get_error();
  if (e == 0) return "TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

}  // namespace

Link::Link(asio::ip::tcp::socket socket, SSL_CTX* ctx, bool server, std::chrono::seconds idle)
    : socket_(std::move(socket)), server_(server), idle_(idle), watchdog_timer_(socket_.get_executor()),
      last_read_(Clock::now()) {
  boost::system::error_code ec;
  auto ep = socket_.remote_endpoint(ec);
  if (!ec) {
    auto a = ep.address();
    if (a.is_v6() && a.to_v6().is_v4_mapped()) a = asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
    remote_ = a.to_string();
  }
  tune_session_socket(socket_);
  socket_.non_blocking(true, ec);
  ssl_ = SSL_new(ctx);
  SSL_set_fd(ssl_, static_cast<int>(socket_.native_handle()));  // the socket keeps the descriptor
  SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
  // One read(2) for a record's header and body, and for several records; not on the relay's side, which takes the
  // record layer over after the handshake and so must find nothing read ahead in OpenSSL.
  SSL_set_read_ahead(ssl_, server ? 0 : 1);
  if (server) {
    SSL_set_accept_state(ssl_);
  } else {
    SSL_set_connect_state(ssl_);
  }
}

Link::~Link() { SSL_free(ssl_); }  // null once the records took over

void Link::set_server_name(const std::string& host) {
  SSL_ctrl(ssl_, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, const_cast<char*>(host.c_str()));
}

Link::Want Link::want_of(int ret) {
  switch (SSL_get_error(ssl_, ret)) {
    case SSL_ERROR_WANT_READ: return Want::read;
    case SSL_ERROR_WANT_WRITE: return Want::write;
    case SSL_ERROR_ZERO_RETURN:
      if (end_reason_.empty()) end_reason_ = "closed by the peer";
      return Want::failed;
    case SSL_ERROR_SYSCALL:
      if (end_reason_.empty()) end_reason_ = errno ? std::strerror(errno) : "connection closed";
      return Want::failed;
    default:
      if (end_reason_.empty()) end_reason_ = openssl_error();
      return Want::failed;
  }
}

asio::awaitable<bool> Link::wait(Want want) {
  if (closed_) co_return false;
  auto [ec] = co_await socket_.async_wait(want == Want::read ? asio::socket_base::wait_read
                                                             : asio::socket_base::wait_write,
                                          tuple_awaitable);
  co_return !ec && !closed_;
}

asio::awaitable<void> Link::watchdog() {
  auto self = shared_from_this();
  while (!closed_) {
    watchdog_timer_.expires_after(std::min<std::chrono::seconds>(idle_ / 3 + std::chrono::seconds(1), std::chrono::seconds(10)));
    co_await watchdog_timer_.async_wait(tuple_awaitable);
    if (closed_) break;
    const auto now = Clock::now();
    if (now - last_read_ > idle_) {
      end_reason_ = "idle timeout";
      abort();
    } else if (write_blocked_ && now - write_blocked_since_ > idle_) {
      end_reason_ = "write timeout: the peer reads nothing";
      abort();
    }
  }
}

asio::awaitable<bool> Link::handshake(std::chrono::seconds timeout, std::string* error) {
  const auto idle = idle_;
  idle_ = timeout;
  last_read_ = Clock::now();
  asio::co_spawn(socket_.get_executor(), watchdog(), asio::detached);
  for (;;) {
    ERR_clear_error();
    const int r = SSL_do_handshake(ssl_);
    if (r == 1) break;
    const Want w = want_of(r);
    if (w == Want::failed || !co_await wait(w)) {
      const std::string why = end_reason_.empty() ? "closed" : end_reason_;
      *error = server_ ? why : handshake_failure(ssl_, why);
      abort();
      co_return false;
    }
  }
  idle_ = idle;
  last_read_ = Clock::now();
  if (server_) {
    if (auto r = Records::take(ssl_)) {
      records_ = std::make_unique<Records>(*r);
      SSL_free(ssl_);
      ssl_ = nullptr;
    }
  }
  co_return true;
}

Link::Want Link::read_plain(char* out, size_t cap, size_t* n) {
  if (records_) return read_records(out, cap, n);
  ERR_clear_error();
  const int r = SSL_read_ex(ssl_, out, cap, n);
  return r == 1 ? Want::none : want_of(r);
}

Link::Want Link::write_tls(const char* data, size_t len, size_t* n) {
  ERR_clear_error();
  const int r = SSL_write_ex(ssl_, data, len, n);
  return r == 1 ? Want::none : want_of(r);
}

Link::Want Link::send_raw(const char* data, size_t len, size_t* n) {
  const ssize_t r = ::send(socket_.native_handle(), data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (r >= 0) {
    *n = static_cast<size_t>(r);
    return Want::none;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return Want::write;
  if (end_reason_.empty()) end_reason_ = std::strerror(errno);
  return Want::failed;
}

Link::Want Link::read_records(char* out, size_t cap, size_t* n) {
  constexpr size_t kRecBuffer = 2 * Records::kMaxRecord;
  for (;;) {
    if (plain_left_ > 0) {  // hand out the current record's plaintext
      *n = std::min(cap, plain_left_);
      std::memcpy(out, rec_.get() + plain_at_, *n);
      plain_at_ += *n;
      plain_left_ -= *n;
      if (plain_left_ == 0) rec_start_ += record_size_;
      return Want::none;
    }
    if (rec_) {
      size_t used = 0, plain = 0;
      std::string error;
      const auto r = records_->open(rec_.get() + rec_start_, rec_end_ - rec_start_, &used, &plain, &reply_, &error);
      if (r == Records::Result::data) {
        if (!reply_.empty()) spawn_writer();
        plain_at_ = rec_start_ + 5;
        plain_left_ = plain;
        record_size_ = used;
        if (plain == 0) rec_start_ += used;
        continue;
      }
      if (r == Records::Result::closed || r == Records::Result::failed) {
        if (end_reason_.empty()) end_reason_ = r == Records::Result::closed ? "closed by the peer" : error;
        return Want::failed;
      }
      // more: keep the partial record at the front, with room for the rest.
      if (rec_start_ == rec_end_) {
        rec_.reset();
        rec_start_ = rec_end_ = 0;
      } else if (rec_start_ > 0) {
        std::memmove(rec_.get(), rec_.get() + rec_start_, rec_end_ - rec_start_);
        rec_end_ -= rec_start_;
        rec_start_ = 0;
      }
    }
    if (!rec_) rec_.reset(new unsigned char[kRecBuffer]);
    const ssize_t got = ::recv(socket_.native_handle(), rec_.get() + rec_end_, kRecBuffer - rec_end_, MSG_DONTWAIT);
    if (got > 0) {
      rec_end_ += static_cast<size_t>(got);
      continue;
    }
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      if (rec_start_ == rec_end_) {  // waiting holds no buffer
        rec_.reset();
        rec_start_ = rec_end_ = 0;
      }
      return Want::read;
    }
    if (end_reason_.empty()) end_reason_ = got == 0 ? "connection closed" : std::strerror(errno);
    return Want::failed;
  }
}

asio::awaitable<std::optional<Link::Frame>> Link::read(std::string* error) {
  for (;;) {
    if (closed_) {
      *error = end_reason_.empty() ? "link closed" : end_reason_;
      co_return std::nullopt;
    }
    const size_t avail = in_end_ - in_start_;
    size_t need = kHeaderSize;
    if (avail >= kHeaderSize) {
      const auto* p = reinterpret_cast<const unsigned char*>(in_.get() + in_start_);
      auto header = parse_header(p, error);
      if (!header) co_return std::nullopt;
      need = kHeaderSize + header->length;
      if (avail >= need) {
        Frame f{*header, std::string(in_.get() + in_start_ + kHeaderSize, header->length)};
        in_start_ += need;
        if (in_start_ == in_end_) in_start_ = in_end_ = 0;
        if (auto e = check_payload(f.header, f.payload)) {
          *error = *e;
          co_return std::nullopt;
        }
        co_return f;
      }
    }
    if (!in_) in_.reset(new char[kBufferSize]);  // not zero-filled: only what SSL_read writes is read
    if (kBufferSize - in_end_ < need - avail) {  // make room for the rest of this frame
      std::memmove(in_.get(), in_.get() + in_start_, avail);
      in_start_ = 0;
      in_end_ = avail;
    }
    size_t n = 0;
    const Want w = read_plain(in_.get() + in_end_, kBufferSize - in_end_, &n);
    if (w == Want::none && ws_) {
      std::string why;
      const auto m = ws_->reader.decode(in_.get() + in_end_, n, &ws_->pongs, &why);
      if (!m) {
        websocket_goodbye(why);
        *error = why;
        abort();
        co_return std::nullopt;
      }
      if (!ws_->pongs.empty()) spawn_writer();
      bytes_in_ += n - *m;
      n = *m;
    }
    if (w == Want::none) {
      in_end_ += n;
      bytes_in_ += n;
      last_read_ = Clock::now();
      continue;
    }
    if (in_end_ == in_start_) {  // waiting holds no buffer
      in_.reset();
      in_start_ = in_end_ = 0;
    }
    if (w == Want::failed || !co_await wait(w)) {
      *error = end_reason_.empty() ? "link closed" : end_reason_;
      abort();
      co_return std::nullopt;
    }
  }
}

void Link::send(FrameType type, uint32_t session, std::string_view payload) {
  if (closed_ || closing_) return;
  std::string f = frame(type, session, payload);
  if (type == FrameType::data || (type == FrameType::close && session != 0)) {
    auto& q = sessions_[session];
    q.bytes += payload.size();
    q.frames.push_back(std::move(f));
    if (!q.ready) {
      q.ready = true;
      ready_.push_back(session);
    }
  } else {
    control_.push_back(std::move(f));
  }
  spawn_writer();
}

size_t Link::queued(uint32_t session) const {
  auto it = sessions_.find(session);
  return it == sessions_.end() ? 0 : it->second.bytes;
}

void Link::forget(uint32_t session) {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return;
  it->second.frames.clear();
  it->second.bytes = 0;
  if (!it->second.ready) sessions_.erase(it);  // else the writer erases it when it comes round
}

void Link::spawn_writer() {
  if (writing_ || closed_) return;
  writing_ = true;
  asio::co_spawn(socket_.get_executor(), [self = shared_from_this()] { return self->writer(); }, asio::detached);
}

asio::awaitable<void> Link::writer() {
  std::string batch, sealed;
  while (!closed_) {
    batch.clear();
    sealed.clear();
    if (!reply_.empty()) sealed.swap(reply_);  // sealed under the key before its update: first
    while (!control_.empty() && batch.size() < kBatch) {
      batch += control_.front();
      control_.pop_front();
    }
    // One frame per ready session per round, until the batch is full.
    while (!ready_.empty() && batch.size() < kBatch) {
      const uint32_t id = ready_.front();
      ready_.pop_front();
      auto it = sessions_.find(id);
      if (it == sessions_.end()) continue;
      auto& q = it->second;
      if (q.frames.empty()) {
        sessions_.erase(it);
        continue;
      }
      q.bytes -= q.frames.front().size() - kHeaderSize;
      batch += q.frames.front();
      q.frames.pop_front();
      if (q.frames.empty()) {
        sessions_.erase(it);
      } else {
        ready_.push_back(id);
      }
    }
    if (ws_) {
      std::string framed;
      framed.swap(ws_->pongs);
      if (!batch.empty()) websocket::append_message(websocket::kBinary, batch, !server_, framed);
      batch.swap(framed);
    }
    if (batch.empty() && sealed.empty()) break;
    if (records_ && !records_->seal(batch, sealed)) {
      end_reason_ = "a TLS record could not be sealed";
      abort();
      break;
    }
    const std::string& out = records_ ? sealed : batch;
    if (!co_await write_out(out)) {
      abort();
      writing_ = false;
      co_return;
    }
  }
  if (closing_ && !closed_) {
    // One close_notify, best effort: the link is done either way.
    if (records_) {
      std::string notify;
      size_t n = 0;
      if (records_->seal_close_notify(notify)) (void)send_raw(notify.data(), notify.size(), &n);
    } else {
      ERR_clear_error();
      SSL_shutdown(ssl_);
    }
    abort();
  }
  writing_ = false;
}

void Link::close() {
  if (closed_ || closing_) return;
  closing_ = true;
  spawn_writer();
}

void Link::abort() {
  if (closed_) return;
  closed_ = true;
  control_.clear();
  sessions_.clear();
  ready_.clear();
  watchdog_timer_.cancel();
  boost::system::error_code ec;
  socket_.cancel(ec);
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  socket_.close(ec);
}

asio::awaitable<size_t> Link::fill(size_t min, bool head, std::string* error) {
  for (;;) {
    const size_t avail = in_end_ - in_start_;
    if (head && in_) {
      const std::string_view v(in_.get() + in_start_, avail);
      const auto end = v.find("\r\n\r\n");
      if (end != std::string_view::npos) co_return end + 4;
      if (avail >= kMaxHead) {
        *error = "an HTTP request or answer of more than 8 KiB";
        co_return 0;
      }
    } else if (!head && avail >= min) {
      co_return avail;
    }
    if (!in_) in_.reset(new char[kBufferSize]);
    size_t n = 0;
    const Want w = read_plain(in_.get() + in_end_, kBufferSize - in_end_, &n);
    if (w == Want::none) {
      in_end_ += n;
      bytes_in_ += n;
      last_read_ = Clock::now();
      continue;
    }
    if (w == Want::failed || !co_await wait(w)) {
      *error = end_reason_.empty() ? "the connection closed" : end_reason_;
      co_return 0;
    }
  }
}

asio::awaitable<bool> Link::write_now(std::string_view data) {
  std::string sealed;
  if (records_ && !records_->seal(data, sealed)) co_return false;
  const std::string_view out = records_ ? std::string_view(sealed) : data;  // (GCC 12: no ?: inside co_await)
  const bool written = co_await write_out(out);
  co_return written;
}

asio::awaitable<bool> Link::write_out(std::string_view out) {
  size_t off = 0;
  while (off < out.size()) {
    size_t n = 0;
    const Want w = records_ ? send_raw(out.data() + off, out.size() - off, &n)
                            : write_tls(out.data() + off, out.size() - off, &n);
    if (w == Want::none) {
      off += n;
      bytes_out_ += n;
      write_blocked_ = false;
      continue;
    }
    if (!write_blocked_) {
      write_blocked_ = true;
      write_blocked_since_ = Clock::now();
    }
    if (w == Want::failed || !co_await wait(w)) co_return false;
  }
  write_blocked_ = false;
  co_return true;
}

void Link::start_websocket(size_t head) {
  ws_ = std::make_unique<WebSocketState>(WebSocketState{websocket::Reader(server_), {}});
  in_start_ += head;
  if (in_end_ > in_start_) {  // what followed the head is already WebSocket
    std::string why;
    const auto m = ws_->reader.decode(in_.get() + in_start_, in_end_ - in_start_, &ws_->pongs, &why);
    in_end_ = m ? in_start_ + *m : in_start_;
    if (!m) {
      end_reason_ = why;
      abort();
    }
  }
  if (in_start_ == in_end_) {
    in_.reset();
    in_start_ = in_end_ = 0;
  }
}

asio::awaitable<bool> Link::upgrade_to_websocket(const std::string& host, std::string* error) {
  const std::string key = websocket::new_key();
  const std::string request = "GET " + std::string(websocket::kPath) + " HTTP/1.1\r\nHost: " + host +
                              "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
                              "\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: " +
                              std::string(websocket::kProtocol) + "\r\n\r\n";
  if (!co_await write_now(request)) {
    *error = "the WebSocket upgrade request could not be sent: " + end_reason_;
    co_return false;
  }
  const size_t head = co_await fill(0, true, error);
  if (head == 0) co_return false;
  namespace http = boost::beast::http;
  http::response_parser<http::empty_body> parser;
  boost::system::error_code ec;
  parser.put(asio::buffer(in_.get() + in_start_, head), ec);
  if (ec || !parser.is_header_done()) {
    *error = "the relay's answer to the WebSocket upgrade is not HTTP";
    co_return false;
  }
  const auto& res = parser.get();
  if (res.result_int() != 101) {
    *error = "the relay refused the WebSocket upgrade: HTTP " + std::to_string(res.result_int());
    co_return false;
  }
  if (!boost::beast::iequals(res[http::field::upgrade], "websocket") ||
      res[http::field::sec_websocket_accept] != websocket::accept_key(key) ||
      res[http::field::sec_websocket_protocol] != websocket::kProtocol) {
    *error = "the relay's WebSocket answer does not match the request (accept key, upgrade or subprotocol)";
    co_return false;
  }
  start_websocket(head);
  co_return !closed_;
}

asio::awaitable<bool> Link::accept_websocket_if_asked(std::string* error) {
  if (co_await fill(1, false, error) == 0) co_return false;
  if (in_[in_start_] != 'G') co_return true;  // a hello: frames without WebSocket
  const size_t head = co_await fill(0, true, error);
  if (head == 0) co_return false;
  namespace http = boost::beast::http;
  http::request_parser<http::empty_body> parser;
  boost::system::error_code ec;
  parser.put(asio::buffer(in_.get() + in_start_, head), ec);
  const auto refuse = [&](std::string_view status, const std::string& why) -> asio::awaitable<bool> {
    *error = why;
    co_await write_now("HTTP/1.1 " + std::string(status) + "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    co_return false;
  };
  if (ec || !parser.is_header_done()) co_return co_await refuse("400 Bad Request", "not an HTTP request");
  const auto& req = parser.get();
  if (req.target() != websocket::kPath) co_return co_await refuse("404 Not Found", "an HTTP request for another path");
  const auto key = req[http::field::sec_websocket_key];
  if (req.method() != http::verb::get || !boost::beast::iequals(req[http::field::upgrade], "websocket") ||
      !websocket::has_token(req[http::field::connection], "upgrade") ||
      req[http::field::sec_websocket_version] != "13" || key.size() != 24 ||
      !websocket::has_token(req[http::field::sec_websocket_protocol], websocket::kProtocol))
    co_return co_await refuse("400 Bad Request", "not a WebSocket upgrade for the relay protocol");
  const std::string answer = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                             "Sec-WebSocket-Accept: " + websocket::accept_key(key) +
                             "\r\nSec-WebSocket-Protocol: " + std::string(websocket::kProtocol) + "\r\n\r\n";
  if (!co_await write_now(answer)) {
    *error = "the WebSocket answer could not be sent";
    co_return false;
  }
  start_websocket(head);
  co_return !closed_;
}

void Link::websocket_goodbye(const std::string& why) {
  // RFC 6455 §5.5.1: a close is answered with a close. A peer that broke the protocol is told why first, in a link
  // close frame, and gets 1002 (protocol error). Best effort: one non-blocking write, then the link ends.
  std::string bye;
  const bool clean = ws_->reader.peer_closed();
  if (!clean)
    websocket::append_message(websocket::kBinary, frame(FrameType::close, 0, close_payload(CloseReason::protocol_error, why)),
                              !server_, bye);
  websocket::append_message(websocket::kClose, clean ? std::string_view("\x03\xe8", 2) : std::string_view("\x03\xea", 2),
                            !server_, bye);
  std::string sealed;
  if (records_ && !records_->seal(bye, sealed)) return;
  const std::string_view out = records_ ? std::string_view(sealed) : std::string_view(bye);
  size_t n = 0;
  (void)(records_ ? send_raw(out.data(), out.size(), &n) : write_tls(out.data(), out.size(), &n));
}

void Link::forget_exporter() {
  if (records_) records_->forget_exporter();
}

std::string Link::exporter() {
  if (records_) return records_->exporter(kExporterLabel, 32);
  std::string out(32, '\0');
  if (SSL_export_keying_material(ssl_, reinterpret_cast<unsigned char*>(out.data()), out.size(), kExporterLabel.data(),
                                 kExporterLabel.size(), nullptr, 0, 0) != 1)
    return {};
  return out;
}

std::string handshake_failure(SSL* ssl, const std::string& fallback) {
  if (SSL_get_verify_result(ssl) == X509_V_ERR_CERT_REJECTED)
    return "its certificate " + last_refused_fingerprint + " is not the pinned one (possible interception)";
  return fallback;
}

void configure_pinned_client(asio::ssl::context& ctx, const std::string& pin) {
  SSL_CTX* c = ctx.native_handle();
  SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION);
  SSL_CTX_set_ex_data(c, pin_index(), new std::string(pin));
  SSL_CTX_set_verify(c, SSL_VERIFY_PEER, verify_pin);
}

void configure_relay_server(asio::ssl::context& ctx) {
  SSL_CTX* c = ctx.native_handle();
  SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION);
  SSL_CTX_set_num_tickets(c, 0);  // nobody resumes: tickets would cost memory and bytes for nothing
  SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
  record_secrets(c);  // each link's record layer moves out of OpenSSL after the handshake (relay/records.hpp)
}

asio::awaitable<std::shared_ptr<Link>> dial(asio::ssl::context& ctx, const std::string& host, const std::string& port,
                                            std::chrono::seconds timeout, std::chrono::seconds idle,
                                            std::string* error, bool websocket) {
  auto ex = co_await asio::this_coro::executor;
  asio::ip::tcp::resolver resolver(ex);
  auto [rec, results] = co_await resolver.async_resolve(host, port, tuple_awaitable);
  if (rec) {
    *error = "cannot resolve " + host + ": " + rec.message();
    co_return nullptr;
  }
  auto socket = std::make_shared<asio::ip::tcp::socket>(ex);
  asio::steady_timer deadline(ex);
  deadline.expires_after(timeout);
  deadline.async_wait([socket](boost::system::error_code ec) {
    if (!ec) {
      boost::system::error_code ignored;
      socket->close(ignored);
    }
  });
  auto [cec, ep] = co_await asio::async_connect(*socket, results, tuple_awaitable);
  const bool timed_out = !socket->is_open();
  deadline.cancel();
  if (cec) {
    *error = "cannot connect to " + host + ":" + port + ": " + (timed_out ? "timed out" : cec.message());
    co_return nullptr;
  }
  auto link = std::make_shared<Link>(std::move(*socket), ctx.native_handle(), false, idle);
  link->set_server_name(host);
  std::string why;
  if (!co_await link->handshake(timeout, &why)) {
    *error = "TLS handshake with " + host + ":" + port + " failed: " + why;
    co_return nullptr;
  }
  if (websocket) {
    link->set_idle(timeout);
    const bool upgraded = co_await link->upgrade_to_websocket(host, &why);
    link->set_idle(idle);
    if (!upgraded) {
      *error = "WebSocket upgrade with " + host + ":" + port + " failed: " + why;
      link->abort();
      co_return nullptr;
    }
  }
  co_return link;
}

}  // namespace freehold::relay
