// SPDX-License-Identifier: GPL-3.0-or-later
// One end of an established session: pumps a local TCP connection to and from the session's frames on a link,
// sealing and opening each frame with the session's Noise transport keys. Either direction sends at most the
// peer's window of unacknowledged bytes and returns credit as it delivers; an empty message ends a direction.
// A frame that does not open ends the session and resets the local connection: the application sees an error,
// never altered or truncated data. Used by the device link and by `freehold connect`. For the I/O thread only.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include "relay/frame.hpp"
#include "relay/link.hpp"
#include "relay/noise.hpp"

namespace freehold::relay {

// One established session at the device or at `freehold connect`, whichever way its data goes: in frames on the
// link (Tunnel) or on a direct data connection (DirectTunnel, relay/direct.hpp).
class Carrier {
 public:
  virtual ~Carrier() = default;
  virtual void start() = 0;
  // A frame of this session from the link.
  virtual void on_frame(Link::Frame&& frame) = 0;
  // Ends the session from this side: tells the peer (unless the link is gone) and resets the local connection.
  virtual void end(CloseReason reason, const std::string& text, bool tell_peer = true) = 0;
};

class Tunnel final : public Carrier, public std::enable_shared_from_this<Tunnel> {
 public:
  // `on_end` runs once, when the session is over, with the reason (for the owner's table and logs).
  Tunnel(std::shared_ptr<Link> link, uint32_t session, noise::Transport keys, boost::asio::ip::tcp::socket local,
         std::function<void(CloseReason, const std::string&)> on_end);
  void start() override;
  // A data, credit or close frame of this session (a data frame is decrypted in place).
  void on_frame(Link::Frame&& frame) override;
  void end(CloseReason reason, const std::string& text, bool tell_peer = true) override;

 private:
  boost::asio::awaitable<void> pump_out();  // local -> link
  boost::asio::awaitable<void> pump_in();   // queued plaintext -> local
  void finish_if_done();

  std::shared_ptr<Link> link_;
  uint32_t session_;
  noise::Transport keys_;
  boost::asio::ip::tcp::socket local_;
  std::function<void(CloseReason, const std::string&)> on_end_;
  uint64_t sent_ = 0, credited_ = kInitialWindow;  // bytes we sent; bytes the peer allowed
  uint64_t received_unacked_ = 0;
  uint32_t credit_due_ = 0;  // delivered and not yet credited: sent in batches
  std::deque<std::string> to_local_;
  size_t to_local_wire_ = 0;  // wire bytes of what is queued for the local socket, credited once written
  bool in_eof_ = false, peer_done_ = false, out_eof_ = false, local_eof_written_ = false, ended_ = false;
  boost::asio::steady_timer credit_wait_, data_wait_;
};

}  // namespace freehold::relay
