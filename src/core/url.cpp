// SPDX-License-Identifier: GPL-3.0-or-later
#include "core/url.hpp"

#include <algorithm>
#include <cctype>

namespace freehold {
namespace {

bool fail(std::string* error, std::string message) {
  if (error) *error = std::move(message);
  return false;
}

std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      return std::nullopt;
    }
    out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
    i += 2;
  }
  return out;
}

bool valid_host_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
}

}  // namespace

std::optional<ServiceUrl> parse_service_url(std::string_view text,
                                            const std::vector<std::pair<std::string, std::uint16_t>>& schemes,
                                            bool allow_userinfo, std::string* error) {
  ServiceUrl url;
  const auto sep = text.find("://");
  std::string accepted;
  for (const auto& [s, port] : schemes) accepted += (accepted.empty() ? "" : ", ") + s + "://";
  if (sep == std::string_view::npos) {
    fail(error, "'" + std::string(text) + "' is not a URL; expected " + accepted + "host[:port]");
    return std::nullopt;
  }
  url.scheme = std::string(text.substr(0, sep));
  std::transform(url.scheme.begin(), url.scheme.end(), url.scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  auto scheme = std::find_if(schemes.begin(), schemes.end(), [&](const auto& s) { return s.first == url.scheme; });
  if (scheme == schemes.end()) {
    fail(error, "unknown scheme '" + url.scheme + "'; expected " + accepted);
    return std::nullopt;
  }
  std::string_view rest = text.substr(sep + 3);
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find_first_of("/?#") != std::string_view::npos) {
    fail(error, "a path, query or fragment has no meaning here; give only " + url.scheme + "://host[:port]");
    return std::nullopt;
  }
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    if (!allow_userinfo) {
      fail(error, "credentials do not belong in the URL; set them as the username and password settings");
      return std::nullopt;
    }
    const std::string_view info = rest.substr(0, at);
    const auto colon = info.find(':');
    auto user = percent_decode(info.substr(0, colon));
    auto pass = colon == std::string_view::npos ? std::optional<std::string>("") : percent_decode(info.substr(colon + 1));
    if (!user || !pass) {
      fail(error, "bad percent escape in the URL's user information");
      return std::nullopt;
    }
    url.username = std::move(*user);
    url.password = std::move(*pass);
    rest = rest.substr(at + 1);
  }
  std::string_view port_text;
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    if (close == std::string_view::npos) {
      fail(error, "unclosed '[' around an IPv6 address");
      return std::nullopt;
    }
    url.host = std::string(rest.substr(1, close - 1));
    if (url.host.empty() || url.host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string::npos) {
      fail(error, "'" + url.host + "' is not an IPv6 address");
      return std::nullopt;
    }
    rest = rest.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        fail(error, "unexpected text after the IPv6 address");
        return std::nullopt;
      }
      port_text = rest.substr(1);
    }
  } else {
    const auto colon = rest.find(':');
    url.host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) port_text = rest.substr(colon + 1);
    if (url.host.empty() || url.host.size() > 253 ||
        !std::all_of(url.host.begin(), url.host.end(), valid_host_char)) {
      fail(error, url.host.empty() ? "the URL has no host" : "'" + url.host + "' is not a host name or address");
      return std::nullopt;
    }
  }
  url.port = scheme->second;
  if (!port_text.empty() || (rest.size() && rest.back() == ':')) {
    if (port_text.empty() || port_text.size() > 5 ||
        port_text.find_first_not_of("0123456789") != std::string_view::npos) {
      fail(error, "'" + std::string(port_text) + "' is not a port number");
      return std::nullopt;
    }
    const int port = std::stoi(std::string(port_text));
    if (port < 1 || port > 65535) {
      fail(error, "port " + std::string(port_text) + " is out of range 1..65535");
      return std::nullopt;
    }
    url.port = static_cast<std::uint16_t>(port);
  }
  return url;
}

const std::vector<std::pair<std::string, std::uint16_t>>& relay_schemes() {
  static const std::vector<std::pair<std::string, std::uint16_t>> schemes{{"relay", 443}, {"wss", 443}};
  return schemes;
}

const std::vector<std::pair<std::string, std::uint16_t>>& mqtt_schemes() {
  static const std::vector<std::pair<std::string, std::uint16_t>> schemes{{"mqtt", 1883}, {"mqtts", 8883}};
  return schemes;
}

std::string host_port(const ServiceUrl& url) {
  const bool v6 = url.host.find(':') != std::string::npos;
  return (v6 ? "[" + url.host + "]" : url.host) + ":" + std::to_string(url.port);
}

}  // namespace freehold
