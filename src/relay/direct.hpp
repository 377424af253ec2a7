// SPDX-License-Identifier: GPL-3.0-or-later
// One end of a session whose data goes on a direct data connection to the relay (docs/relay-protocol.md, "Direct
// data connections"): it dials the relay's address, sends the magic and its token, then pumps the local TCP
// connection to and from length-prefixed Noise transport messages. Flow control is TCP's. Reads are gathered into
// several messages per system call each way. Anything but an authenticated end of both streams resets the local
// connection. Used by the device link and by `freehold connect`. For the I/O thread only.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>
#include <string>

#include "relay/tunnel.hpp"

namespace freehold::relay {

class DirectTunnel final : public Carrier, public std::enable_shared_from_this<DirectTunnel> {
 public:
  // `link` and `session` are for telling the peer why this side ended the session; `relay` is where the link
  // itself is connected.
  DirectTunnel(std::shared_ptr<Link> link, uint32_t session, boost::asio::ip::tcp::endpoint relay, std::string token,
               noise::Transport keys, boost::asio::ip::tcp::socket local,
               std::function<void(CloseReason, const std::string&)> on_end);
  void start() override;
  // Only a close can come on the link for a direct session (a refusal, a revocation, the relay's direct_failed).
  void on_frame(Link::Frame&& frame) override;
  void end(CloseReason reason, const std::string& text, bool tell_peer = true) override;

 private:
  boost::asio::awaitable<void> run();
  boost::asio::awaitable<void> pump_out();  // local -> relay
  boost::asio::awaitable<void> pump_in();   // relay -> local
  void finish_if_done();

  std::weak_ptr<Link> link_;
  uint32_t session_;
  boost::asio::ip::tcp::endpoint relay_address_;
  std::string token_;
  noise::Transport keys_;
  boost::asio::ip::tcp::socket local_, relay_;
  std::function<void(CloseReason, const std::string&)> on_end_;
  bool out_eof_ = false, in_eof_ = false, local_eof_written_ = false, ended_ = false, connecting_ = false;
};

}  // namespace freehold::relay
