// SPDX-License-Identifier: GPL-3.0-or-later
#include "relay/sockets.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace freehold::relay {

namespace {

#ifndef TCP_RTO_MAX_MS
constexpr int TCP_RTO_MAX_MS = 44;  // include/uapi/linux/tcp.h since Linux 6.15
#endif
constexpr int kRtoMaxMs = 1000;  // the smallest cap the kernel accepts

}  // namespace

void tune_session_socket(boost::asio::ip::tcp::socket& socket) {
  boost::system::error_code ignored;
  socket.set_option(boost::asio::ip::tcp::no_delay(true), ignored);
  const int on = 1, idle = 60, interval = 15, count = 4;
  const int fd = socket.native_handle();
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
  ::setsockopt(fd, IPPROTO_TCP, TCP_RTO_MAX_MS, &kRtoMaxMs, sizeof kRtoMaxMs);  // ENOPROTOOPT on older kernels
}

}  // namespace freehold::relay
