// SPDX-License-Identifier: GPL-3.0-or-later
#include "relay/splice.hpp"

#include "relay/sockets.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <cstring>

namespace freehold::relay {
namespace asio = boost::asio;
namespace {

constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);
// Bytes moved per splice call: a pipe of 256 KiB where the system allows it (fewer calls per byte; the pages are
// only held while data waits in it), else the default 64 KiB.
constexpr int kPipeSize = 256 * 1024;
constexpr unsigned kFlags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;

}  // namespace

Splice::Splice(asio::ip::tcp::socket a, asio::ip::tcp::socket b, std::function<void(uint64_t, bool)> on_end,
               uint64_t* counter)
    : sockets_{std::move(a), std::move(b)}, on_end_(std::move(on_end)), counter_(counter) {}

Splice::~Splice() {
  for (auto& p : pipes_) {
    if (p.read >= 0) ::close(p.read);
    if (p.write >= 0) ::close(p.write);
  }
}

bool Splice::start(std::string* error) {
  for (auto& p : pipes_) {
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
      *error = std::string("no pipe for the splice: ") + std::strerror(errno);
      return false;
    }
    p = {fds[0], fds[1]};
    (void)::fcntl(p.write, F_SETPIPE_SZ, kPipeSize);
  }
  for (auto& s : sockets_) {
    boost::system::error_code ec;
    s.native_non_blocking(true, ec);
    tune_session_socket(s);
  }
  running_ = 2;
  auto self = shared_from_this();
  for (int i = 0; i < 2; ++i)
    asio::co_spawn(sockets_[i].get_executor(),
                   [self, i] { return self->pump(i); },
                   asio::detached);
  return true;
}

asio::awaitable<void> Splice::pump(int i) {
  auto self = shared_from_this();
  auto& in = sockets_[i];
  auto& out = sockets_[1 - i];
  const int from = in.native_handle(), to = out.native_handle();
  const Pipe pipe = pipes_[i];
  for (unsigned turn = 1;; ++turn) {
    if (failed_) co_return finish(false);
    if (turn % 16 == 0) {
      // Two ends that keep both sockets ready must not hold the relay's one thread: let the others run.
      co_await asio::post(in.get_executor(), asio::use_awaitable);
      if (failed_) co_return finish(false);
    }
    const ssize_t n = ::splice(from, nullptr, pipe.write, nullptr, kPipeSize, kFlags);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      auto [ec] = co_await in.async_wait(asio::socket_base::wait_read, tuple_awaitable);
      if (ec) co_return finish(false);
      continue;
    }
    if (n < 0) co_return finish(false);  // reset or error
    if (n == 0) {
      // The end of this direction: pass the FIN on.
      ::shutdown(to, SHUT_WR);
      co_return finish(true);
    }
    for (ssize_t left = n; left > 0;) {
      if (failed_) co_return finish(false);
      const ssize_t m = ::splice(pipe.read, nullptr, to, nullptr, static_cast<size_t>(left), kFlags);
      if (m < 0 && errno == EINTR) continue;
      if (m < 0 && errno == EAGAIN) {
        auto [ec] = co_await out.async_wait(asio::socket_base::wait_write, tuple_awaitable);
        if (ec) co_return finish(false);
        continue;
      }
      if (m <= 0) co_return finish(false);
      left -= m;
      bytes_ += static_cast<uint64_t>(m);
      if (counter_) *counter_ += static_cast<uint64_t>(m);
    }
  }
}

void Splice::finish(bool clean) {
  if (!clean && !failed_) {
    failed_ = true;
    // A reset, not a FIN, so that the peer sees the cut; the other direction's waits end.
    for (auto& s : sockets_) {
      boost::system::error_code ec;
      s.set_option(asio::socket_base::linger(true, 0), ec);
      s.cancel(ec);
    }
  }
  if (--running_ > 0) return;
  boost::system::error_code ec;
  for (auto& s : sockets_) s.close(ec);
  if (!ended_) {
    ended_ = true;
    if (auto on_end = std::move(on_end_)) on_end(bytes_, !failed_);
  }
}

void Splice::abort() {
  if (ended_ || failed_) return;
  failed_ = true;
  boost::system::error_code ec;
  for (auto& s : sockets_) {
    s.set_option(asio::socket_base::linger(true, 0), ec);
    s.cancel(ec);
  }
  if (running_ == 0) {
    for (auto& s : sockets_) s.close(ec);
  }
}

}  // namespace freehold::relay
