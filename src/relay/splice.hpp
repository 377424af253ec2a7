// SPDX-License-Identifier: GPL-3.0-or-later
// Joins two TCP connections byte for byte, as the relay does with a session's two direct data connections:
// splice(2) moves each direction through a pipe of its own, so the bytes never enter user space. A FIN passes on
// as a half-close, a reset or error as a reset of the other connection. For the I/O thread only.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <functional>
#include <string>
#include <boost/asio/awaitable.hpp>
#include <memory>

namespace freehold::relay {

class Splice final : public std::enable_shared_from_this<Splice> {
 public:
  // `on_end` runs once when both directions are over: `bytes` copied in all, `clean` if both ended with a FIN.
  // `counter`, if given, grows as bytes are copied (a metric); it must outlive the splice.
  Splice(boost::asio::ip::tcp::socket a, boost::asio::ip::tcp::socket b,
         std::function<void(uint64_t bytes, bool clean)> on_end, uint64_t* counter = nullptr);
  ~Splice();
  Splice(const Splice&) = delete;
  Splice& operator=(const Splice&) = delete;
  // The pipes; false with `error` set when the system has none left.
  [[nodiscard]] bool start(std::string* error);
  // Resets both connections now.
  void abort();

 private:
  struct Pipe {
    int read = -1, write = -1;
  };
  boost::asio::awaitable<void> pump(int direction);  // sockets_[direction] -> the other
  void finish(bool clean);

  boost::asio::ip::tcp::socket sockets_[2];
  Pipe pipes_[2];
  std::function<void(uint64_t, bool)> on_end_;
  uint64_t* counter_;
  uint64_t bytes_ = 0;
  int running_ = 0;
  bool failed_ = false, ended_ = false;
};

}  // namespace freehold::relay
