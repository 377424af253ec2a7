// SPDX-License-Identifier: GPL-3.0-or-later
#include "relay/link.hpp"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <vector>

#include "core/crypto.hpp"
#include "core/tls_cert.hpp"

namespace freehold::relay {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace {

constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);
constexpr size_t kBatch = 256 * 1024;
// The fingerprint the pin refused last on this thread, for the error message.
thread_local std::string last_refused_fingerprint;

}  // namespace

Link::Link(Stream stream, std::chrono::seconds idle)
    : stream_(std::move(stream)), idle_(idle), in_(2 * (kHeaderSize + kMaxPayload)),
      wake_(stream_.get_executor()) {
  boost::system::error_code ec;
  auto ep = beast::get_lowest_layer(stream_).socket().remote_endpoint(ec);
  if (!ec) remote_ = ep.address().to_string();
  beast::get_lowest_layer(stream_).socket().set_option(asio::ip::tcp::no_delay(true), ec);
}

asio::awaitable<std::optional<Link::Frame>> Link::read(std::string* error) {
  auto& lowest = beast::get_lowest_layer(stream_);
  for (;;) {
    if (closed_) {
      *error = "link closed";
      co_return std::nullopt;
    }
    if (in_.size() >= kHeaderSize) {
      const auto* p = static_cast<const unsigned char*>(in_.data().data());
      auto header = parse_header(p, error);
      if (!header) co_return std::nullopt;
      if (in_.size() >= kHeaderSize + header->length) {
        Frame f{*header, std::string(reinterpret_cast<const char*>(p) + kHeaderSize, header->length)};
        in_.consume(kHeaderSize + header->length);
        if (auto e = check_payload(f.header, f.payload)) {
          *error = *e;
          co_return std::nullopt;
        }
        if (in_.size() == 0) in_.shrink_to_fit();  // an idle link keeps no buffer
        co_return f;
      }
    }
    lowest.expires_after(idle_);
    auto [ec, n] = co_await stream_.async_read_some(in_.prepare(kHeaderSize + kMaxPayload), tuple_awaitable);
    if (ec) {
      *error = ec == beast::error::timeout ? "idle timeout" : ec.message();
      co_return std::nullopt;
    }
    in_.commit(n);
    bytes_in_ += n;
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
  wake();
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

void Link::wake() {
  if (!writing_) {
    writing_ = true;
    asio::co_spawn(stream_.get_executor(), [self = shared_from_this()] { return self->writer(); }, asio::detached);
  } else {
    wake_.cancel();
  }
}

asio::awaitable<void> Link::writer() {
  auto& lowest = beast::get_lowest_layer(stream_);
  std::vector<std::string> batch;
  std::vector<asio::const_buffer> buffers;
  while (!closed_) {
    batch.clear();
    size_t size = 0;
    while (!control_.empty() && size < kBatch) {
      size += control_.front().size();
      batch.push_back(std::move(control_.front()));
      control_.pop_front();
    }
    // One frame per ready session per round, until the batch is full.
    while (!ready_.empty() && size < kBatch) {
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
      size += q.frames.front().size();
      batch.push_back(std::move(q.frames.front()));
      q.frames.pop_front();
      if (q.frames.empty()) {
        sessions_.erase(it);
      } else {
        ready_.push_back(id);
      }
    }
    if (batch.empty()) {
      if (closing_) break;
      wake_.expires_at(asio::steady_timer::time_point::max());
      co_await wake_.async_wait(tuple_awaitable);
      continue;
    }
    buffers.clear();
    for (auto& f : batch) buffers.emplace_back(asio::buffer(f));
    lowest.expires_after(idle_);
    auto [ec, n] = co_await asio::async_write(stream_, buffers, tuple_awaitable);
    bytes_out_ += n;
    if (ec) {
      abort();
      co_return;
    }
  }
  if (closing_ && !closed_) {
    lowest.expires_after(std::chrono::seconds(2));
    co_await stream_.async_shutdown(tuple_awaitable);
    abort();
  }
  writing_ = false;
}

void Link::close() {
  if (closed_ || closing_) return;
  closing_ = true;
  if (!writing_) {
    writing_ = true;
    asio::co_spawn(stream_.get_executor(), [self = shared_from_this()] { return self->writer(); }, asio::detached);
  } else {
    wake_.cancel();
  }
}

void Link::abort() {
  if (closed_) return;
  closed_ = true;
  control_.clear();
  sessions_.clear();
  ready_.clear();
  wake_.cancel();
  boost::system::error_code ec;
  beast::get_lowest_layer(stream_).socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  beast::get_lowest_layer(stream_).socket().close(ec);
}

std::string Link::exporter() {
  std::string out(32, '\0');
  if (SSL_export_keying_material(stream_.native_handle(), reinterpret_cast<unsigned char*>(out.data()), out.size(),
                                 kExporterLabel.data(), kExporterLabel.size(), nullptr, 0, 0) != 1)
    return {};
  return out;
}

std::string peer_fingerprint(SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  return cert ? certificate_fingerprint(cert) : std::string();
}

std::string handshake_failure(SSL* ssl, const boost::system::error_code& ec) {
  if (SSL_get_verify_result(ssl) == X509_V_ERR_CERT_REJECTED)
    return "its certificate " + last_refused_fingerprint + " is not the pinned one (possible interception)";
  return ec.message();
}

void configure_pinned_client(asio::ssl::context& ctx, const std::string& pin) {
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_3_VERSION);
  ctx.set_verify_mode(asio::ssl::verify_peer);
  // The chain is not checked against any authority: the pin is the whole trust decision.
  ctx.set_verify_callback([pin](bool, asio::ssl::verify_context& vc) {
    X509_STORE_CTX* store = vc.native_handle();
    if (X509_STORE_CTX_get_error_depth(store) != 0) return true;
    X509* cert = X509_STORE_CTX_get_current_cert(store);
    last_refused_fingerprint = cert ? certificate_fingerprint(cert) : std::string();
    if (cert && crypto::equal_constant_time(last_refused_fingerprint, pin)) return true;
    X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
    return false;
  });
}

asio::awaitable<std::shared_ptr<Link>> dial(asio::ssl::context& ctx, const std::string& host, const std::string& port,
                                            std::chrono::seconds timeout, std::chrono::seconds idle,
                                            std::string* error) {
  auto ex = co_await asio::this_coro::executor;
  asio::ip::tcp::resolver resolver(ex);
  auto [rec, results] = co_await resolver.async_resolve(host, port, tuple_awaitable);
  if (rec) {
    *error = "cannot resolve " + host + ": " + rec.message();
    co_return nullptr;
  }
  Link::Stream stream(beast::tcp_stream(ex), ctx);
  auto& lowest = beast::get_lowest_layer(stream);
  lowest.expires_after(timeout);
  auto [cec, ep] = co_await lowest.async_connect(results, tuple_awaitable);
  if (cec) {
    *error = "cannot connect to " + host + ":" + port + ": " + (cec == beast::error::timeout ? "timed out" : cec.message());
    co_return nullptr;
  }
  SSL_ctrl(stream.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, const_cast<char*>(host.c_str()));
  lowest.expires_after(timeout);
  auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::client, tuple_awaitable);
  if (hec) {
    *error = "TLS handshake with " + host + ":" + port + " failed: " + handshake_failure(stream.native_handle(), hec);
    co_return nullptr;
  }
  co_return std::make_shared<Link>(std::move(stream), idle);
}

}  // namespace freehold::relay
