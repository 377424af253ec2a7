// SPDX-License-Identifier: GPL-3.0-or-later
#include "relay/tunnel.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace freehold::relay {
namespace asio = boost::asio;
namespace {
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);
}

Tunnel::Tunnel(std::shared_ptr<Link> link, uint32_t session, noise::Transport keys, asio::ip::tcp::socket local,
               std::function<void(CloseReason, const std::string&)> on_end)
    : link_(std::move(link)), session_(session), keys_(std::move(keys)), local_(std::move(local)),
      on_end_(std::move(on_end)), credit_wait_(local_.get_executor()), data_wait_(local_.get_executor()) {
  boost::system::error_code ec;
  local_.set_option(asio::ip::tcp::no_delay(true), ec);
}

void Tunnel::start() {
  asio::co_spawn(local_.get_executor(), [self = shared_from_this()] { return self->pump_out(); }, asio::detached);
  asio::co_spawn(local_.get_executor(), [self = shared_from_this()] { return self->pump_in(); }, asio::detached);
}

asio::awaitable<void> Tunnel::pump_out() {
  std::string buf(noise::kMaxMessage, '\0');
  auto* p = reinterpret_cast<unsigned char*>(buf.data());
  while (!ended_) {
    // Wait for room in the peer's window: a full frame's worth, so frames stay large.
    while (!ended_ && credited_ - sent_ < noise::kMaxMessage) {
      credit_wait_.expires_at(asio::steady_timer::time_point::max());
      co_await credit_wait_.async_wait(tuple_awaitable);
    }
    if (ended_) break;
    auto [ec, n] = co_await local_.async_read_some(asio::buffer(p, noise::kMaxPlaintext), tuple_awaitable);
    if (ended_) break;
    if (ec && ec != asio::error::eof) {
      // A reset or failure of the local connection is not an end of stream: the peer must see a cut too.
      end(CloseReason::reset, "the local connection failed: " + ec.message());
      break;
    }
    if (ec) n = 0;  // the end of the local stream: an empty message says so
    if (!keys_.send.seal(p, p, n)) {
      end(CloseReason::protocol_error, "the session's nonces are used up");
      break;
    }
    link_->send(FrameType::data, session_, {buf.data(), n + noise::kTagSize});
    sent_ += n + noise::kTagSize;
    if (n == 0) {
      out_eof_ = true;
      finish_if_done();
      break;
    }
  }
}

void Tunnel::on_frame(Link::Frame&& f) {
  if (ended_) return;
  switch (f.header.type) {
    case FrameType::credit:
      credited_ += parse_credit(f.payload);
      credit_wait_.cancel();
      return;
    case FrameType::close: {
      const auto c = parse_close(f.payload);
      if (c.reason == CloseReason::normal && !(in_eof_ && out_eof_)) {
        // An orderly close counts only once both ends of stream were exchanged (the peer's one authenticated): anyone
        // on the path can send a close, and what it cuts short must look cut short.
        end(CloseReason::protocol_error, "the session was closed before the end of the peer's stream", false);
        return;
      }
      if (c.reason == CloseReason::normal && !to_local_.empty()) {
        peer_done_ = true;  // deliver what came before the close first
        return;
      }
      end(c.reason, c.text.empty() ? std::string(reason_name(c.reason)) : c.text, false);
      return;
    }
    case FrameType::data: {
      received_unacked_ += f.payload.size();
      if (received_unacked_ > kInitialWindow) {
        end(CloseReason::flow_control, "the peer exceeded its window");
        return;
      }
      if (in_eof_) {
        end(CloseReason::protocol_error, "data after the end of the stream");
        return;
      }
      std::string plain = std::move(f.payload);
      const size_t wire = plain.size();
      auto* p = reinterpret_cast<unsigned char*>(plain.data());
      if (!keys_.receive.open(p, p, wire)) {
        end(CloseReason::decrypt_failed, "a frame failed authentication: altered, replayed or reordered on the way");
        return;
      }
      plain.resize(wire - noise::kTagSize);
      if (plain.empty()) in_eof_ = true;
      to_local_wire_ += wire;
      to_local_.push_back(std::move(plain));
      data_wait_.cancel();
      return;
    }
    default:
      end(CloseReason::protocol_error, "unexpected frame in an open session");
  }
}

asio::awaitable<void> Tunnel::pump_in() {
  while (!ended_) {
    if (to_local_.empty()) {
      data_wait_.expires_at(asio::steady_timer::time_point::max());
      co_await data_wait_.async_wait(tuple_awaitable);
      continue;
    }
    std::string chunk = std::move(to_local_.front());
    to_local_.pop_front();
    const size_t wire = chunk.size() + noise::kTagSize;
    if (chunk.empty()) {
      boost::system::error_code ec;
      local_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
      local_eof_written_ = true;
      finish_if_done();
      co_return;
    }
    auto [ec, n] = co_await asio::async_write(local_, asio::buffer(chunk), tuple_awaitable);
    if (ended_) co_return;
    if (ec) {
      end(CloseReason::normal, "the local connection closed: " + ec.message());
      co_return;
    }
    to_local_wire_ -= wire;
    received_unacked_ -= wire;
    // Credit in batches of a quarter window (or when everything is delivered): fewer frames, and the sender
    // never waits while three quarters of its window are still open.
    credit_due_ += static_cast<uint32_t>(wire);
    if (!peer_done_ && (credit_due_ >= kInitialWindow / 4 || to_local_.empty())) {
      link_->send(FrameType::credit, session_, credit_payload(credit_due_));
      credit_due_ = 0;
    }
    finish_if_done();
  }
}

void Tunnel::finish_if_done() {
  if (ended_) return;
  if ((out_eof_ && local_eof_written_) || (peer_done_ && to_local_.empty())) end(CloseReason::normal, "done", !peer_done_);
}

void Tunnel::end(CloseReason reason, const std::string& text, bool tell_peer) {
  if (ended_) return;
  ended_ = true;
  // The owner's callback usually drops the owner's reference: this tunnel and the callback must outlive the call.
  auto keep = shared_from_this();
  auto on_end = std::move(on_end_);
  if (tell_peer && !link_->closed()) link_->send(FrameType::close, session_, close_payload(reason, text));
  boost::system::error_code ec;
  if (reason != CloseReason::normal) {
    // A reset, not an orderly end: whatever the application got so far must not look complete.
    local_.set_option(asio::socket_base::linger(true, 0), ec);
  }
  local_.close(ec);
  credit_wait_.cancel();
  data_wait_.cancel();
  if (on_end) on_end(reason, text);
}

}  // namespace freehold::relay
