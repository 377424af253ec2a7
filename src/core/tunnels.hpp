// SPDX-License-Identifier: GPL-3.0-or-later
// Connections that the relay link opened to a local service on behalf of a client that proved its key end to end
// (relay/). Keyed by each such connection's source and destination ports (Linux may give one source port to
// connections to different destinations) and checked against its source address, one of the device's own: a
// server that sees a request from <that address>:<source> on its port <destination> knows it came through the
// tunnel, from whom and with which role, and asks for no password.
// Every authorisation rule by role still applies. An entry lives exactly as long as its connection. I/O thread only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/role.hpp"

namespace freehold {

struct TunnelPrincipal {
  std::string client_id;  // the client's relay ID
  Role role = Role::viewer;
  [[nodiscard]] std::string user() const { return "relay:" + client_id; }
};

class Tunnels final {
 public:
  // `source_address` is the device's own address the link connected from (loopback, or http.bind's address).
  void add(std::string source_address, uint16_t source_port, uint16_t service_port, TunnelPrincipal principal) {
    by_port_[key(source_port, service_port)] = Entry{std::move(source_address), std::move(principal)};
  }
  void remove(uint16_t source_port, uint16_t service_port) { by_port_.erase(key(source_port, service_port)); }
  // The principal behind a connection from remote_address:remote_port to our local_port, or nullptr.
  [[nodiscard]] const TunnelPrincipal* find(std::string_view remote_address, uint16_t remote_port,
                                            uint16_t local_port) const {
    auto it = by_port_.find(key(remote_port, local_port));
    return it == by_port_.end() || it->second.source_address != remote_address ? nullptr : &it->second.principal;
  }
  [[nodiscard]] size_t size() const { return by_port_.size(); }

 private:
  static uint32_t key(uint16_t source, uint16_t destination) { return (uint32_t{source} << 16) | destination; }
  struct Entry {
    std::string source_address;
    TunnelPrincipal principal;
  };
  std::unordered_map<uint32_t, Entry> by_port_;
};

}  // namespace freehold
