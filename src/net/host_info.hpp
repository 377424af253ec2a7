// SPDX-License-Identifier: GPL-3.0-or-later
// What the host's network looks like, read-only, for the protocols that report it (ONVIF's GetNetworkInterfaces,
// GetDNS, GetNetworkDefaultGateway; MQTT's info): interfaces with MAC and addresses, DNS servers, default gateway.
#pragma once

#include <string>
#include <vector>

namespace freehold::net {

struct InterfaceAddress {
  std::string address;  // "192.0.2.10", "2001:db8::10"
  int prefix_length = 0;
  bool v6 = false;
};

struct Interface {
  std::string name;  // "eth0"
  std::string mac;   // "02:00:00:aa:bb:cc"; empty when the interface has none
  int mtu = 0;
  bool up = false;
  std::vector<InterfaceAddress> addresses;
};

// Every interface except loopback, in the kernel's order.
[[nodiscard]] std::vector<Interface> interfaces();
[[nodiscard]] std::string hostname();
// Name servers from resolv.conf (at most 8).
[[nodiscard]] std::vector<std::string> dns_servers(const std::string& resolv_conf = "/etc/resolv.conf");
// IPv4 default gateways from the kernel's routing table.
[[nodiscard]] std::vector<std::string> default_gateways(const std::string& route_table = "/proc/net/route");

}  // namespace freehold::net
