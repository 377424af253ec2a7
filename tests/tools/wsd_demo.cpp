// SPDX-License-Identifier: GPL-3.0-or-later
// freehold-wsd-demo: the WS-Discovery target service alone, with fixed device info, for the end-to-end test.
// Prints "ready" once listening. SIGUSR1 adds a scope (a Hello with a new MetadataVersion follows), SIGUSR2 toggles
// the discoverable mode, SIGTERM/SIGINT stop it (Bye). XAddrs: http://<local
// address>:<xaddr-port>/onvif/device_service.
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include "core/crypto.hpp"
#include "core/log.hpp"
#include "onvif/discovery.hpp"

int main(int argc, char** argv) {
  using namespace freehold;
  if (!crypto::init()) return 1;
  onvif::DiscoveryInfo info;
  onvif::DiscoveryOptions options;
  std::string stable_id = "freehold-wsd-demo";
  int xaddr_port = 8080;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--interface" && has_value) {
      options.interfaces.push_back(argv[++i]);
    } else if (arg == "--port" && has_value) {
      options.port = static_cast<std::uint16_t>(std::atoi(argv[++i]));
    } else if (arg == "--scope" && has_value) {
      info.scopes.push_back(argv[++i]);
    } else if (arg == "--id" && has_value) {
      stable_id = argv[++i];
    } else if (arg == "--xaddr-port" && has_value) {
      xaddr_port = std::atoi(argv[++i]);
    } else if (arg == "--max-delay-ms" && has_value) {
      options.max_delay = std::chrono::milliseconds(std::atoi(argv[++i]));
    } else if (arg == "--debug") {
      log::set_level(log::Level::debug);
    } else {
      std::cerr << "usage: freehold-wsd-demo [--interface IPV4]... [--port N] [--scope URI]... [--id TEXT]\n"
                   "                         [--xaddr-port N] [--max-delay-ms N] [--debug]\n";
      return 2;
    }
  }
  info.endpoint = onvif::endpoint_uuid(stable_id);

  boost::asio::io_context io;
  onvif::Discovery discovery(
      io, info,
      [xaddr_port](const boost::asio::ip::address& local) {
        return std::vector<std::string>{"http://" + local.to_string() + ":" + std::to_string(xaddr_port) +
                                        "/onvif/device_service"};
      },
      options);
  if (auto error = discovery.start()) {
    std::cerr << "error: " << *error << "\n";
    return 1;
  }
  boost::asio::signal_set stop_signals(io, SIGTERM, SIGINT);
  stop_signals.async_wait([&](boost::system::error_code, int) {
    discovery.stop();
    io.stop();
  });
  boost::asio::signal_set user(io, SIGUSR1, SIGUSR2);
  std::function<void(boost::system::error_code, int)> on_user = [&](boost::system::error_code ec, int sig) {
    if (ec) return;
    if (sig == SIGUSR1) {
      info.scopes.push_back("onvif://www.onvif.org/location/added");
      discovery.set_info(info);
    } else if (auto error = discovery.set_discoverable(!discovery.discoverable())) {
      std::cerr << "error: " << *error << "\n";
    }
    user.async_wait(on_user);
  };
  user.async_wait(on_user);
  std::cout << "ready " << info.endpoint << std::endl;
  io.run();
  const auto s = discovery.stats();
  std::cout << "stats requests=" << s.requests << " replies=" << s.replies << " rejected=" << s.rejected
            << " rate_limited=" << s.rate_limited << " announcements=" << s.announcements << std::endl;
  return 0;
}
