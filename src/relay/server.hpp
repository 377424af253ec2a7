// SPDX-License-Identifier: GPL-3.0-or-later
// freehold-relay's core: admits devices and clients whose IDs are on its allow-lists (each proves its key by
// signing a challenge bound to the TLS connection), and splices client sessions onto device links. It forwards
// Noise ciphertext it cannot open: in frames, each session's queue bounded by the end-to-end window, or on the
// session's two direct data connections joined with splice(2) on the same port. It limits sessions per device and
// opens per source, and logs routing metadata only. For the I/O thread only.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "relay/identity.hpp"

namespace freehold::relay {

struct AccessList {
  std::set<Id> devices;  // may register
  std::set<Id> clients;  // may open sessions
};
// The access file: TOML with `devices = ["id", …]` and `clients = ["id", …]`. A missing file is an empty list.
[[nodiscard]] std::optional<AccessList> load_access(const std::filesystem::path& file, std::string* error);
[[nodiscard]] std::optional<std::string> save_access(const std::filesystem::path& file, const AccessList& access);

struct RelayLimits {
  size_t max_links = 20000;
  size_t sessions_per_device = 64;
  double opens_per_second = 10;    // per source address, token bucket
  double open_burst = 40;
  double unknown_per_minute = 6;   // opens naming a device that is not registered: ID guessing is slow
  std::chrono::seconds handshake{10};
  std::chrono::seconds idle{90};
  std::chrono::seconds keepalive{25};
  // Offer direct data connections (spliced, never decrypted or copied through user space); both must arrive within
  // direct_wait of the offer.
  bool direct = true;
  std::chrono::seconds direct_wait{15};
};

class RelayServer final {
 public:
  // `access` is read on every admission, so a reloaded list applies to the next link.
  RelayServer(boost::asio::io_context& io, boost::asio::ssl::context& tls, RelayLimits limits,
              std::function<const AccessList&()> access);
  ~RelayServer();
  [[nodiscard]] std::optional<std::string> listen(const std::string& address, uint16_t port);
  [[nodiscard]] std::optional<std::string> listen_metrics(const std::string& address, uint16_t port);
  [[nodiscard]] uint16_t port() const;
  [[nodiscard]] uint16_t metrics_port() const;
  // Prometheus text exposition of the counters.
  [[nodiscard]] std::string metrics_text() const;
  // Closes every link (reason relay_shutdown) and stops listening.
  void stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace freehold::relay
