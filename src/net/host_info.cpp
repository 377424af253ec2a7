// SPDX-License-Identifier: GPL-3.0-or-later
#include "net/host_info.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bit>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace freehold::net {

namespace {

int prefix_of(const sockaddr* mask) {
  if (mask == nullptr) return 0;
  const auto* bytes = mask->sa_family == AF_INET
                          ? reinterpret_cast<const unsigned char*>(&reinterpret_cast<const sockaddr_in*>(mask)->sin_addr)
                          : reinterpret_cast<const unsigned char*>(&reinterpret_cast<const sockaddr_in6*>(mask)->sin6_addr);
  const int n = mask->sa_family == AF_INET ? 4 : 16;
  int bits = 0;
  for (int i = 0; i < n; ++i) bits += std::popcount(static_cast<unsigned>(bytes[i]));
  return bits;
}

Interface& entry(std::vector<Interface>& list, const char* name) {
  for (auto& i : list) {
    if (i.name == name) return i;
  }
  list.push_back(Interface{name, {}, 0, false, {}});
  return list.back();
}

int mtu_of(const std::string& name) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  ifreq req{};
  std::strncpy(req.ifr_name, name.c_str(), IFNAMSIZ - 1);
  const int mtu = ::ioctl(fd, SIOCGIFMTU, &req) == 0 ? req.ifr_mtu : 0;
  ::close(fd);
  return mtu;
}

}  // namespace

std::vector<Interface> interfaces() {
  std::vector<Interface> out;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return out;
  for (auto* a = list; a != nullptr; a = a->ifa_next) {
    if (a->ifa_addr == nullptr || (a->ifa_flags & IFF_LOOPBACK)) continue;
    auto& i = entry(out, a->ifa_name);
    i.up = (a->ifa_flags & IFF_UP) != 0;
    const int family = a->ifa_addr->sa_family;
    if (family == AF_PACKET) {
      const auto* ll = reinterpret_cast<const sockaddr_ll*>(a->ifa_addr);
      if (ll->sll_halen == 6) {
        char mac[18];
        std::snprintf(mac, sizeof mac, "%02x:%02x:%02x:%02x:%02x:%02x", ll->sll_addr[0], ll->sll_addr[1],
                      ll->sll_addr[2], ll->sll_addr[3], ll->sll_addr[4], ll->sll_addr[5]);
        i.mac = mac;
      }
    } else if (family == AF_INET || family == AF_INET6) {
      char text[INET6_ADDRSTRLEN] = {};
      const void* src = family == AF_INET
                            ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(a->ifa_addr)->sin_addr)
                            : static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(a->ifa_addr)->sin6_addr);
      if (::inet_ntop(family, src, text, sizeof text) != nullptr) {
        i.addresses.push_back(InterfaceAddress{text, prefix_of(a->ifa_netmask), family == AF_INET6});
      }
    }
  }
  ::freeifaddrs(list);
  for (auto& i : out) i.mtu = mtu_of(i.name);
  return out;
}

std::string hostname() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "freehold";
  return name;
}

std::vector<std::string> dns_servers(const std::string& resolv_conf) {
  std::vector<std::string> out;
  std::ifstream in(resolv_conf);
  std::string line;
  while (out.size() < 8 && std::getline(in, line)) {
    std::istringstream words(line);
    std::string key, value;
    if (words >> key >> value && key == "nameserver") {
      unsigned char buf[16];
      if (::inet_pton(AF_INET, value.c_str(), buf) == 1 || ::inet_pton(AF_INET6, value.c_str(), buf) == 1) {
        out.push_back(value);
      }
    }
  }
  return out;
}

std::vector<std::string> default_gateways(const std::string& route_table) {
  std::vector<std::string> out;
  std::ifstream in(route_table);
  std::string line;
  std::getline(in, line);  // the column names
  while (out.size() < 8 && std::getline(in, line)) {
    std::istringstream cols(line);
    std::string iface, dest, gateway;
    if (!(cols >> iface >> dest >> gateway) || dest != "00000000") continue;
    unsigned long gw = 0;
    try {
      gw = std::stoul(gateway, nullptr, 16);
    } catch (...) {
      continue;
    }
    if (gw == 0) continue;
    in_addr a{};
    a.s_addr = static_cast<in_addr_t>(gw);  // the kernel writes it in network order, as hex of the raw word
    char text[INET_ADDRSTRLEN] = {};
    if (::inet_ntop(AF_INET, &a, text, sizeof text) != nullptr) out.push_back(text);
  }
  return out;
}

}  // namespace freehold::net
