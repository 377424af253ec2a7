// SPDX-License-Identifier: GPL-3.0-or-later
// Conversion from Beast's parsed request to the API's Request (internal to web/, shared with the fuzz target).
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <string>

#include "web/http.hpp"

namespace freehold::web {

[[nodiscard]] Request to_request(const boost::beast::http::request<boost::beast::http::string_body>& r,
                                 const std::string& remote, bool tls);

}  // namespace freehold::web
