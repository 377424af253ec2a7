// SPDX-License-Identifier: GPL-3.0-or-later
#include "relay/direct.hpp"
#include "relay/sockets.hpp"

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <vector>

namespace freehold::relay {
namespace asio = boost::asio;
namespace {

constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);
constexpr auto kDialTimeout = std::chrono::seconds(10);
constexpr size_t kSlot = 2 + noise::kMaxMessage;  // one length-prefixed message
constexpr size_t kSlots = 4;                      // messages per system call, each way

}  // namespace

DirectTunnel::DirectTunnel(std::shared_ptr<Link> link, uint32_t session, asio::ip::tcp::endpoint relay,
                           std::string token, noise::Transport keys, asio::ip::tcp::socket local,
                           std::function<void(CloseReason, const std::string&)> on_end)
    : link_(link), session_(session), relay_address_(std::move(relay)), token_(std::move(token)),
      keys_(std::move(keys)), local_(std::move(local)), relay_(local_.get_executor()), on_end_(std::move(on_end)) {
  boost::system::error_code ec;
  local_.set_option(asio::ip::tcp::no_delay(true), ec);
}

void DirectTunnel::start() {
  asio::co_spawn(local_.get_executor(), [self = shared_from_this()] { return self->run(); }, asio::detached);
}

asio::awaitable<void> DirectTunnel::run() {
  auto self = shared_from_this();
  asio::steady_timer deadline(local_.get_executor());
  deadline.expires_after(kDialTimeout);
  connecting_ = true;
  deadline.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    // A handler queued just as the connection came up finds connecting_ down and leaves it alone.
    if (auto s = weak.lock(); s && !ec && s->connecting_) {
      boost::system::error_code ignored;
      s->relay_.cancel(ignored);
    }
  });
  auto [ec] = co_await relay_.async_connect(relay_address_, tuple_awaitable);
  std::string preamble(kDirectMagic);
  preamble += token_;
  if (!ec && !ended_) {
    tune_session_socket(relay_);
    std::tie(ec, std::ignore) = co_await asio::async_write(relay_, asio::buffer(preamble), tuple_awaitable);
  }
  connecting_ = false;
  deadline.cancel();
  if (ended_) co_return;
  if (ec) {
    end(CloseReason::direct_failed, "no direct data connection to the relay: " + ec.message());
    co_return;
  }
  asio::co_spawn(local_.get_executor(), [self] { return self->pump_out(); }, asio::detached);
  asio::co_spawn(local_.get_executor(), [self] { return self->pump_in(); }, asio::detached);
}

asio::awaitable<void> DirectTunnel::pump_out() {
  // One message's room to begin with (requests, RTSP control); all the slots once a read fills it (a bulk stream).
  std::vector<unsigned char> buf;
  std::vector<asio::mutable_buffer> in;
  auto grow = [&](size_t slots) {
    buf.resize(slots * kSlot);
    in.clear();
    for (size_t i = 0; i < slots; ++i) in.push_back(asio::buffer(buf.data() + i * kSlot + 2, noise::kMaxPlaintext));
  };
  grow(1);
  std::vector<asio::const_buffer> out;
  while (!ended_) {
    auto [ec, n] = co_await local_.async_read_some(in, tuple_awaitable);
    if (ended_) co_return;
    if (ec && ec != asio::error::eof) {
      // A reset or failure of the local connection is not an end of stream: the peer must see a cut too.
      end(CloseReason::reset, "the local connection failed: " + ec.message());
      co_return;
    }
    if (ec) n = 0;  // the end of the local stream: an empty message says so
    out.clear();
    size_t left = n;
    for (size_t i = 0; i == 0 || left > 0; ++i) {
      const size_t m = std::min(left, noise::kMaxPlaintext);
      unsigned char* p = buf.data() + i * kSlot;
      if (!keys_.send.seal(p + 2, p + 2, m)) {
        end(CloseReason::protocol_error, "the session's nonces are used up");
        co_return;
      }
      const size_t wire = m + noise::kTagSize;
      p[0] = static_cast<unsigned char>(wire >> 8);
      p[1] = static_cast<unsigned char>(wire);
      out.push_back(asio::buffer(p, 2 + wire));
      left -= m;
    }
    auto [wec, written] = co_await asio::async_write(relay_, out, tuple_awaitable);
    if (ended_) co_return;
    if (wec) {
      end(CloseReason::reset, "the direct connection to the relay failed: " + wec.message());
      co_return;
    }
    if (n == 0) {
      boost::system::error_code sec;
      relay_.shutdown(asio::ip::tcp::socket::shutdown_send, sec);
      out_eof_ = true;
      finish_if_done();
      co_return;
    }
    if (n == in.size() * noise::kMaxPlaintext && in.size() < kSlots) grow(kSlots);
  }
}

asio::awaitable<void> DirectTunnel::pump_in() {
  // Room for the largest message to begin with; all the slots once a read fills it (a bulk stream).
  std::vector<unsigned char> buf(kSlot);
  size_t start = 0, stop = 0;  // unparsed bytes
  std::vector<asio::const_buffer> plain;
  while (!ended_) {
    const size_t size = buf.size();
    if (start == stop) {
      start = stop = 0;
    } else if (size - stop < kSlot) {
      std::memmove(buf.data(), buf.data() + start, stop - start);
      stop -= start;
      start = 0;
    }
    auto [ec, n] = co_await relay_.async_read_some(asio::buffer(buf.data() + stop, size - stop), tuple_awaitable);
    if (ended_) co_return;
    if (ec) {
      // Before the peer's authenticated end: a cut, whoever made it.
      end(CloseReason::protocol_error, "the connection through the relay ended before the end of the peer's stream" +
                                           (ec == asio::error::eof ? std::string() : ": " + ec.message()));
      co_return;
    }
    stop += n;
    if (stop == size && size < kSlots * kSlot) buf.resize(kSlots * kSlot);  // offsets stay valid
    plain.clear();
    while (!in_eof_) {
      std::string error;
      const auto next = next_direct_message(buf.data() + start, stop - start, &error);
      if (!next) {
        end(CloseReason::protocol_error, error);
        co_return;
      }
      if (*next == 0) break;
      const size_t len = *next;
      unsigned char* p = buf.data() + start + 2;
      if (!keys_.receive.open(p, p, len)) {
        end(CloseReason::decrypt_failed, "a frame failed authentication: altered, replayed or reordered on the way");
        co_return;
      }
      start += 2 + len;
      if (len == noise::kTagSize) {
        in_eof_ = true;
      } else {
        plain.push_back(asio::buffer(p, len - noise::kTagSize));
      }
    }
    if (in_eof_ && start != stop) {
      end(CloseReason::protocol_error, "data after the end of the stream");
      co_return;
    }
    if (!plain.empty()) {
      auto [wec, written] = co_await asio::async_write(local_, plain, tuple_awaitable);
      if (ended_) co_return;
      if (wec) {
        end(CloseReason::normal, "the local connection closed: " + wec.message());
        co_return;
      }
    }
    if (in_eof_) {
      boost::system::error_code sec;
      local_.shutdown(asio::ip::tcp::socket::shutdown_send, sec);
      local_eof_written_ = true;
      finish_if_done();
      co_return;
    }
  }
}

void DirectTunnel::on_frame(Link::Frame&& f) {
  if (ended_) return;
  if (f.header.type != FrameType::close) {
    end(CloseReason::protocol_error, "a data frame for a session on a direct connection");
    return;
  }
  // A complete session needs no close: any close that arrives cuts it (with a reset), whatever its reason.
  const auto c = parse_close(f.payload);
  const std::string text = c.text.empty() ? std::string(reason_name(c.reason)) : c.text;
  end(c.reason == CloseReason::normal ? CloseReason::protocol_error : c.reason, text, false);
}

void DirectTunnel::finish_if_done() {
  if (!ended_ && out_eof_ && in_eof_ && local_eof_written_) end(CloseReason::normal, "done", false);
}

void DirectTunnel::end(CloseReason reason, const std::string& text, bool tell_peer) {
  if (ended_) return;
  ended_ = true;
  auto keep = shared_from_this();
  auto on_end = std::move(on_end_);
  auto link = link_.lock();
  if (tell_peer && reason != CloseReason::normal && link && !link->closed())
    link->send(FrameType::close, session_, close_payload(reason, text));
  boost::system::error_code ec;
  if (reason != CloseReason::normal) {
    // Resets, not orderly ends: neither the application nor the peer may take a cut stream for a complete one.
    local_.set_option(asio::socket_base::linger(true, 0), ec);
    relay_.set_option(asio::socket_base::linger(true, 0), ec);
  }
  local_.close(ec);
  relay_.close(ec);
  if (on_end) on_end(reason, text);
}

}  // namespace freehold::relay
