// SPDX-License-Identifier: GPL-3.0-or-later
// The address of a service the device connects out to (an MQTT broker, later the relay): scheme://host[:port].
// Credentials never go into it: they are settings of their own, so that the address can be shown and logged.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace freehold {

struct ServiceUrl {
  std::string scheme;  // lower case
  std::string host;    // a name, an IPv4 address, or an IPv6 address without its brackets
  std::uint16_t port = 0;
  std::string username;  // only when allowed (see parse_service_url)
  std::string password;
};

// Parses scheme://[user[:password]@]host[:port][/]. `schemes` lists the accepted schemes with their default
// ports. Userinfo is accepted only when `allow_userinfo` (the command line splits it into settings); percent
// escapes in it are decoded. On failure returns nullopt and says why in *error.
[[nodiscard]] std::optional<ServiceUrl> parse_service_url(
    std::string_view text, const std::vector<std::pair<std::string, std::uint16_t>>& schemes, bool allow_userinfo,
    std::string* error);

// mqtt:// (1883) and mqtts:// (8883), the IANA ports.
[[nodiscard]] const std::vector<std::pair<std::string, std::uint16_t>>& mqtt_schemes();

// relay:// (443): the owner's relay (relay/).
[[nodiscard]] const std::vector<std::pair<std::string, std::uint16_t>>& relay_schemes();

// host:port, with brackets around an IPv6 address.
[[nodiscard]] std::string host_port(const ServiceUrl& url);

}  // namespace freehold
