// SPDX-License-Identifier: GPL-3.0-or-later
// TCP options of the connections that carry sessions over the network: the links, the direct data connections and
// the relay's legs of them.
#pragma once

#include <boost/asio/ip/tcp.hpp>

namespace freehold::relay {

// No Nagle delay. Keep-alive probes after 60 s of silence, every 15 s, given up after 4, so that a NAT that forgot
// an idle connection does not leave it silently dead. Retransmission timeouts capped at 1 s where the kernel has
// TCP_RTO_MAX_MS (Linux 6.15 and later; elsewhere the kernel's 120 s stays): TCP doubles the timeout for every
// retransmission lost in a row, and under heavy loss that stalls a live stream for tens of seconds.
void tune_session_socket(boost::asio::ip::tcp::socket& socket);

}  // namespace freehold::relay
