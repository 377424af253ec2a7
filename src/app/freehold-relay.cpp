// SPDX-License-Identifier: GPL-3.0-or-later
// freehold-relay: the owner's jumphost. Devices dial out to it; the owner's clients reach them through it; it
// forwards ciphertext it cannot read. See docs/relay-protocol.md.
#include <csignal>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdio>
#include <filesystem>
#include <string>
#include <toml++/toml.h>
#include <vector>

#include "core/atomic_file.hpp"
#include "core/crypto.hpp"
#include "core/log.hpp"
#include "core/tls_cert.hpp"
#include "relay/link.hpp"
#include "relay/server.hpp"

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace freehold;

namespace {

constexpr const char* kUsage =
    "usage: freehold-relay serve [--config FILE] [--listen ADDR:PORT] [--self-signed DIR] [--access FILE]\n"
    "                            [--metrics ADDR:PORT]\n"
    "       freehold-relay --check-config FILE\n"
    "       freehold-relay allow DEVICE-ID [--access FILE]        let a device register\n"
    "       freehold-relay allow-client CLIENT-ID [--access FILE] let an owner's client connect\n"
    "       freehold-relay deny ID [--access FILE]                remove a device or client\n"
    "       freehold-relay list [--access FILE]\n"
    "\n"
    "The configuration file (TOML) has the same keys as the options, under [relay]: listen, cert, key (PEM files),\n"
    "self_signed (a directory for a generated certificate, for testing), access, metrics (127.0.0.1:9108 by default,\n"
    "\"off\" for none); and the limits\n"
    "sessions_per_device (64), opens_per_second (10) and open_burst (40) per source address, unknown_per_minute (6),\n"
    "idle_timeout_s (90), max_links (20000); direct_data (true: sessions' data on direct connections the relay\n"
    "splices; false: only in frames inside TLS, for networks that pass nothing but TLS).\n"
    "The access file defaults to ./access.toml. The one port serves TLS links, the same links inside a WebSocket\n"
    "(peers with a wss:// relay URL) and direct data connections.\n";

struct Settings {
  std::string listen = "0.0.0.0:443";
  std::string cert, key, self_signed;
  std::string access = "access.toml";
  std::string metrics = "127.0.0.1:9108";  // empty: no metrics listener
  int64_t sessions_per_device = 64;
  double opens_per_second = 10, open_burst = 40, unknown_per_minute = 6;
  int64_t idle_timeout_s = 90, max_links = 20000;
  bool direct_data = true;
};

bool split_address(const std::string& text, std::string* host, uint16_t* port) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon + 1 == text.size()) return false;
  *host = text.substr(0, colon);
  if (host->size() > 2 && host->front() == '[') *host = host->substr(1, host->size() - 2);
  try {
    const auto p = std::stoul(text.substr(colon + 1));
    if (p > 65535) return false;
    *port = static_cast<uint16_t>(p);
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

std::optional<std::string> read_config(const std::string& file, Settings* s) {
  try {
    const auto t = toml::parse_file(file);
    const auto* r = t["relay"].as_table();
    if (!r) return file + ": no [relay] table";
    for (const auto& [k, v] : *r) {
      const std::string key(k.str());
      // Limits: name, where it goes, its range.
      struct Limit {
        const char* name;
        double* real;
        int64_t* whole;
        double min, max;
      };
      const Limit limits[] = {{"sessions_per_device", nullptr, &s->sessions_per_device, 1, 4096},
                              {"opens_per_second", &s->opens_per_second, nullptr, 0.1, 100000},
                              {"open_burst", &s->open_burst, nullptr, 1, 100000},
                              {"unknown_per_minute", &s->unknown_per_minute, nullptr, 1, 10000},
                              {"idle_timeout_s", nullptr, &s->idle_timeout_s, 30, 3600},
                              {"max_links", nullptr, &s->max_links, 1, 1000000}};
      bool known = false;
      for (const auto& l : limits) {
        if (key != l.name) continue;
        known = true;
        const auto n = v.value<double>();
        if (!n || *n < l.min || *n > l.max || (l.whole && *n != static_cast<double>(static_cast<int64_t>(*n))))
          return file + ": relay." + key + " must be a " + (l.whole ? "whole " : "") + "number from " + number(l.min) +
                 " to " + number(l.max);
        if (l.real) *l.real = *n;
        if (l.whole) *l.whole = static_cast<int64_t>(*n);
      }
      if (known) continue;
      if (key == "direct_data") {
        const auto b = v.value<bool>();
        if (!b || !v.is_boolean()) return file + ": relay.direct_data must be true or false";
        s->direct_data = *b;
        continue;
      }
      const auto str = v.value<std::string>();
      std::string* field = key == "listen" ? &s->listen : key == "cert" ? &s->cert : key == "key" ? &s->key
                         : key == "self_signed" ? &s->self_signed : key == "access" ? &s->access
                         : key == "metrics" ? &s->metrics : nullptr;
      if (!field) return file + ": unknown key relay." + key;
      if (!str) return file + ": relay." + key + " must be a string";
      *field = *str;
    }
  } catch (const toml::parse_error& e) {
    return file + ": " + std::string(e.description());
  }
  std::string host;
  uint16_t port = 0;
  if (!split_address(s->listen, &host, &port)) return "listen \"" + s->listen + "\" is not ADDRESS:PORT";
  if (!s->metrics.empty() && s->metrics != "off" && !split_address(s->metrics, &host, &port))
    return "metrics \"" + s->metrics + "\" is not ADDRESS:PORT";
  if (s->self_signed.empty() && (s->cert.empty() || s->key.empty()))
    return "a certificate is needed: cert and key (PEM files), or self_signed for testing";
  return std::nullopt;
}

int edit_access(const std::string& command, const std::string& id_text_arg, const std::string& file) {
  std::string error;
  auto access = relay::load_access(file, &error);
  if (!access) {
    std::fprintf(stderr, "freehold-relay: %s\n", error.c_str());
    return 1;
  }
  if (command == "list") {
    for (const auto& id : access->devices) std::printf("device %s\n", relay::id_text(id).c_str());
    for (const auto& id : access->clients) std::printf("client %s\n", relay::id_text(id).c_str());
    return 0;
  }
  const auto id = relay::parse_id(id_text_arg);
  if (!id) {
    std::fprintf(stderr, "freehold-relay: \"%s\" is not an ID (32 base32 characters, as the device logs it)\n",
                 id_text_arg.c_str());
    return 2;
  }
  if (command == "allow") access->devices.insert(*id);
  if (command == "allow-client") access->clients.insert(*id);
  if (command == "deny") {
    access->devices.erase(*id);
    access->clients.erase(*id);
  }
  if (auto e = relay::save_access(file, *access)) {
    std::fprintf(stderr, "freehold-relay: %s\n", e->c_str());
    return 1;
  }
  std::printf("%s %s (in %s; a running relay reads it within 2 s)\n", command.c_str(), id_text_arg.c_str(), file.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // A link's TLS writes go to the socket with write(2): a peer that is gone must be an error, not SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  if (!crypto::init()) {
    std::fprintf(stderr, "freehold-relay: no entropy\n");
    return 1;
  }
  Settings s;
  const std::string command = args[0];
  std::string positional;
  std::optional<std::string> config;
  for (size_t i = 1; i < args.size(); ++i) {
    const auto& a = args[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) {
        std::fprintf(stderr, "freehold-relay: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return args[++i];
    };
    if (a == "--config") config = value();
    else if (a == "--listen") s.listen = value();
    else if (a == "--self-signed") s.self_signed = value();
    else if (a == "--access") s.access = value();
    else if (a == "--metrics") s.metrics = value();
    else if (!a.starts_with("--") && positional.empty()) positional = a;
    else {
      std::fprintf(stderr, "freehold-relay: unknown option %s\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  if (command == "--check-config") {
    if (positional.empty()) {
      std::fprintf(stderr, "freehold-relay: --check-config FILE\n");
      return 2;
    }
    if (auto e = read_config(positional, &s)) {
      std::fprintf(stderr, "freehold-relay: %s\n", e->c_str());
      return 1;
    }
    std::printf("%s: OK\n", positional.c_str());
    return 0;
  }
  if (command == "allow" || command == "allow-client" || command == "deny" || command == "list") {
    if (command != "list" && positional.empty()) {
      std::fprintf(stderr, "freehold-relay: %s needs an ID\n", command.c_str());
      return 2;
    }
    return edit_access(command, positional, s.access);
  }
  if (command != "serve") {
    std::fprintf(stderr, "freehold-relay: unknown command %s\n%s", command.c_str(), kUsage);
    return 2;
  }
  const Settings from_flags = s;
  if (config) {
    if (auto e = read_config(*config, &s)) {
      std::fprintf(stderr, "freehold-relay: %s\n", e->c_str());
      return 1;
    }
  }
  // Options given on the command line win over the file.
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--listen") s.listen = from_flags.listen;
    if (args[i] == "--self-signed") s.self_signed = from_flags.self_signed;
    if (args[i] == "--access") s.access = from_flags.access;
    if (args[i] == "--metrics") s.metrics = from_flags.metrics;
  }
  std::string host, error;
  uint16_t port = 0;
  if (!split_address(s.listen, &host, &port)) {
    std::fprintf(stderr, "freehold-relay: listen \"%s\" is not ADDRESS:PORT\n", s.listen.c_str());
    return 2;
  }
  std::string cert_pem, key_pem, fingerprint;
  if (!s.self_signed.empty()) {
    fs::create_directories(s.self_signed);
    auto id = load_or_create_tls_identity(s.self_signed, {host == "0.0.0.0" ? "localhost" : host}, &error);
    if (!id) {
      std::fprintf(stderr, "freehold-relay: %s\n", error.c_str());
      return 1;
    }
    cert_pem = id->cert_pem;
    key_pem = id->key_pem;
    fingerprint = id->fingerprint_sha256;
  } else {
    auto c = read_file(s.cert, &error);
    auto k = c ? read_file(s.key, &error) : std::nullopt;
    if (!c || !k) {
      std::fprintf(stderr, "freehold-relay: %s\n", error.c_str());
      return 1;
    }
    cert_pem = *c;
    key_pem = *k;
  }
  asio::ssl::context tls(asio::ssl::context::tls_server);
  relay::configure_relay_server(tls);
  boost::system::error_code ec;
  tls.use_certificate_chain(asio::buffer(cert_pem), ec);
  if (!ec) tls.use_private_key(asio::buffer(key_pem), asio::ssl::context::pem, ec);
  if (ec) {
    std::fprintf(stderr, "freehold-relay: the certificate or key is not usable: %s\n", ec.message().c_str());
    return 1;
  }
  if (fingerprint.empty()) {
    X509* x = SSL_CTX_get0_certificate(tls.native_handle());
    if (x) fingerprint = certificate_fingerprint(x);
  }
  auto access = relay::load_access(s.access, &error);
  if (!access) {
    std::fprintf(stderr, "freehold-relay: %s\n", error.c_str());
    return 1;
  }
  asio::io_context io(1);
  relay::RelayLimits limits;
  limits.sessions_per_device = static_cast<size_t>(s.sessions_per_device);
  limits.opens_per_second = s.opens_per_second;
  limits.open_burst = s.open_burst;
  limits.unknown_per_minute = s.unknown_per_minute;
  limits.idle = std::chrono::seconds(s.idle_timeout_s);
  limits.max_links = static_cast<size_t>(s.max_links);
  limits.direct = s.direct_data;
  relay::RelayServer server(io, tls, limits, [&]() -> const relay::AccessList& { return *access; });
  if (auto e = server.listen(host, port)) {
    std::fprintf(stderr, "freehold-relay: %s\n", e->c_str());
    return 1;
  }
  if (!s.metrics.empty() && s.metrics != "off") {
    std::string mhost;
    uint16_t mport = 0;
    if (!split_address(s.metrics, &mhost, &mport)) {
      std::fprintf(stderr, "freehold-relay: metrics \"%s\" is not ADDRESS:PORT\n", s.metrics.c_str());
      return 2;
    }
    if (auto e = server.listen_metrics(mhost, mport)) {
      std::fprintf(stderr, "freehold-relay: %s\n", e->c_str());
      return 1;
    }
  }
  // The access file is re-read when it changes, so `freehold-relay allow` applies without a restart.
  asio::steady_timer reload(io);
  fs::file_time_type seen{};
  std::error_code fec;
  if (fs::exists(s.access, fec)) seen = fs::last_write_time(s.access, fec);
  std::function<void()> watch = [&] {
    reload.expires_after(std::chrono::seconds(2));
    reload.async_wait([&](boost::system::error_code wec) {
      if (wec) return;
      std::error_code e2;
      const auto t = fs::exists(s.access, e2) ? fs::last_write_time(s.access, e2) : fs::file_time_type{};
      if (t != seen) {
        seen = t;
        std::string err;
        if (auto fresh = relay::load_access(s.access, &err)) {
          access = std::move(fresh);
          log::info("relay.access_reloaded", {{"devices", access->devices.size()}, {"clients", access->clients.size()}});
        } else {
          log::error("relay.access_invalid", {{"error", err}});
        }
      }
      watch();
    });
  };
  watch();
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code, int) {
    log::info("relay.stopping");
    server.stop();
    reload.cancel();
    asio::steady_timer* grace = new asio::steady_timer(io, std::chrono::milliseconds(300));
    grace->async_wait([&io, grace](boost::system::error_code) {
      delete grace;
      io.stop();
    });
  });
  log::info("relay.ready", {{"listen", s.listen}, {"port", server.port()}, {"fingerprint", fingerprint},
                            {"metrics_port", server.metrics_port()}, {"devices", access->devices.size()},
                            {"clients", access->clients.size()}});
  std::printf("freehold-relay listening on %s:%u\n  certificate fingerprint (pin it): %s\n", host.c_str(),
              server.port(), fingerprint.c_str());
  std::fflush(stdout);
  io.run();
  return 0;
}
