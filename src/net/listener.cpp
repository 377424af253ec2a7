// SPDX-License-Identifier: GPL-3.0-or-later
#include "net/listener.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/log.hpp"

namespace freehold::net {

namespace asio = boost::asio;
using asio::ip::tcp;

std::optional<std::string> listen(tcp::acceptor& acc, const std::string& address, std::uint16_t port) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(address, ec);
  if (ec) return "'" + address + "' is not an IP address";
  const tcp::endpoint ep(addr, port);
  if (acc.open(ep.protocol(), ec); !ec) {
    acc.set_option(asio::socket_base::reuse_address(true), ec);
    // "::" serves IPv4 too, as users expect from "every interface".
    if (addr.is_v6()) acc.set_option(asio::ip::v6_only(false), ec);
    ec = {};
    if (acc.bind(ep, ec); !ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  }
  if (!ec) return std::nullopt;
  boost::system::error_code ignored;
  acc.close(ignored);
  return "cannot listen on [" + address + "]:" + std::to_string(port) + ": " + ec.message();
}

ConnectionLimit::ConnectionLimit(std::size_t max) : state_(std::make_shared<State>(State{max, 0})) {}

std::optional<ConnectionSlot> ConnectionLimit::take() const {
  if (state_->open >= state_->max) return std::nullopt;
  return ConnectionSlot(state_);
}

ConnectionSlot::ConnectionSlot(std::shared_ptr<ConnectionLimit::State> state) : state_(std::move(state)) {
  ++state_->open;
}

ConnectionSlot::~ConnectionSlot() {
  if (state_) --state_->open;
}

asio::awaitable<void> accept_loop(tcp::acceptor& acc, AcceptPolicy policy) {
  const std::string refused = policy.name + ".connection_refused";
  const std::string failed = policy.name + ".accept_failed";
  auto take = [&](tcp::socket socket) {
    auto slot = policy.limit.take();
    if (!slot) {
      log::warn(refused, {{"reason", "connection limit"}, {"limit", policy.limit.max()}});
      return;  // the socket closes as it goes out of scope
    }
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    policy.serve(std::move(socket), std::move(*slot));
  };
  boost::system::error_code nb;
  acc.non_blocking(true, nb);
  for (;;) {
    auto [ec, socket] = co_await acc.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (policy.stopping() || ec == asio::error::operation_aborted) co_return;
      log::warn(failed, {{"error", ec.message()}});
      // Out of descriptors (EMFILE/ENFILE) fails at once: pause instead of spinning.
      asio::steady_timer pause(acc.get_executor(), std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    take(std::move(socket));
    // A busy I/O thread comes back here seldom: take every connection already waiting, not one per wake-up
    // (bounded, so a flood of connections cannot starve the sessions).
    for (int i = 0; i < 256 && !policy.stopping(); ++i) {
      tcp::socket next(acc.get_executor());
      boost::system::error_code aec;
      acc.accept(next, aec);
      if (aec) break;  // would_block: the backlog is empty; a real error shows on the next async_accept
      take(std::move(next));
    }
  }
}

std::function<void(std::exception_ptr)> log_failure(std::string name) {
  return [event = std::move(name) + ".connection_failed"](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      log::error(event, {{"error", ex.what()}});
    } catch (...) {
      log::error(event, {{"error", "unknown exception"}});
    }
  };
}

}  // namespace freehold::net
