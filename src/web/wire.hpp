// SPDX-License-Identifier: GPL-3.0-or-later
// Conversion from Beast's parsed request to the API's Request (internal to web/, shared with the fuzz target).
#pragma once

#include <cstdint>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <string>

#include "web/http.hpp"

namespace freehold::web {

// The two ends of a connection: the peer's address and the local one it connected to.
struct Peer {
  std::string remote;
  std::string local;
  std::uint16_t remote_port = 0;
  std::uint16_t local_port = 0;
};

[[nodiscard]] Request to_request(const boost::beast::http::request<boost::beast::http::string_body>& r,
                                 const Peer& peer, bool tls);

}  // namespace freehold::web
