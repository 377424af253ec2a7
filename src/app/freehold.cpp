// SPDX-License-Identifier: GPL-3.0-or-later
// freehold: the owner's command line. Keys, the devices this client knows, and `connect`, which opens local ports
// that reach a device through the owner's relay, end-to-end encrypted (docs/relay-protocol.md).
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <toml++/toml.h>
#include <vector>

#include "core/atomic_file.hpp"
#include "core/crypto.hpp"
#include "relay/endpoint.hpp"
#include "relay/identity.hpp"

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace freehold;

namespace {

constexpr const char* kUsage =
    "usage: freehold [--key FILE] [--devices FILE] COMMAND ...\n"
    "  keygen [--force]               make this client's key pair (default ~/.config/freehold/key)\n"
    "  id                             print this client's ID and public key\n"
    "  add NAME --id ID --key KEY --relay relay://HOST:PORT --relay-fingerprint FP [--grant TEXT]\n"
    "                                 remember a device (what the device logs as relay.identity)\n"
    "  devices                        list the devices this client knows\n"
    "  connect DEVICE [--rtsp PORT] [--https PORT] [--onvif PORT] [--http PORT] [--bind ADDR]\n"
    "                                 open local ports that reach DEVICE (a name or ID) through its relay;\n"
    "                                 with no port option: --rtsp 8554 --https 8443\n";

fs::path config_dir() {
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x) return fs::path(x) / "freehold";
  if (const char* h = std::getenv("HOME"); h && *h) return fs::path(h) / ".config" / "freehold";
  return fs::path(".freehold");
}

int fail(const std::string& message, int code = 1) {
  std::fprintf(stderr, "freehold: %s\n", message.c_str());
  return code;
}

struct Device {
  std::string name;
  relay::Id id{};
  relay::PublicKey key{};
  std::string relay_url, relay_fingerprint, grant;
};

std::optional<std::vector<Device>> load_devices(const fs::path& file, std::string* error) {
  std::vector<Device> out;
  std::error_code ec;
  if (!fs::exists(file, ec)) return out;
  try {
    const auto t = toml::parse_file(file.string());
    const auto* devices = t["devices"].as_table();
    if (!devices) return out;
    for (const auto& [name, node] : *devices) {
      const auto* d = node.as_table();
      Device dev;
      dev.name = std::string(name.str());
      const auto id = d ? relay::parse_id((*d)["id"].value_or(std::string())) : std::nullopt;
      const auto key = d ? relay::parse_key((*d)["key"].value_or(std::string())) : std::nullopt;
      if (!id || !key) {
        *error = file.string() + ": device \"" + dev.name + "\" lacks a valid id or key";
        return std::nullopt;
      }
      dev.id = *id;
      dev.key = *key;
      dev.relay_url = (*d)["relay"].value_or(std::string());
      dev.relay_fingerprint = (*d)["relay_fingerprint"].value_or(std::string());
      dev.grant = (*d)["grant"].value_or(std::string());
      out.push_back(std::move(dev));
    }
  } catch (const toml::parse_error& e) {
    *error = file.string() + ": " + std::string(e.description());
    return std::nullopt;
  }
  return out;
}

std::optional<std::string> save_devices(const fs::path& file, const std::vector<Device>& devices) {
  toml::table root, table;
  for (const auto& d : devices) {
    toml::table t{{"id", relay::id_text(d.id)}, {"key", relay::key_text(d.key)}, {"relay", d.relay_url},
                  {"relay_fingerprint", d.relay_fingerprint}};
    if (!d.grant.empty()) t.insert("grant", d.grant);
    table.insert(d.name, std::move(t));
  }
  root.insert("devices", std::move(table));
  std::ostringstream text;
  text << "# Devices this freehold client reaches through their relays (freehold add / pair).\n" << root << "\n";
  std::error_code ec;
  fs::create_directories(file.parent_path(), ec);
  return write_file_atomic(file, text.str(), 0600);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!crypto::init()) return fail("no entropy");
  fs::path key_file = config_dir() / "key";
  fs::path devices_file = config_dir() / "devices.toml";
  while (!args.empty() && (args[0] == "--key" || args[0] == "--devices")) {
    if (args.size() < 2) return fail(args[0] + " needs a value", 2);
    (args[0] == "--key" ? key_file : devices_file) = args[1];
    args.erase(args.begin(), args.begin() + 2);
  }
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  const std::string command = args[0];
  std::vector<std::string> rest(args.begin() + 1, args.end());
  auto option = [&](const std::string& name) -> std::optional<std::string> {
    for (size_t i = 0; i + 1 < rest.size(); ++i)
      if (rest[i] == name) return rest[i + 1];
    return std::nullopt;
  };
  auto flag = [&](const std::string& name) {
    for (const auto& a : rest)
      if (a == name) return true;
    return false;
  };
  std::string error;

  if (command == "keygen") {
    std::error_code ec;
    if (fs::exists(key_file, ec) && !flag("--force"))
      return fail(key_file.string() + " exists; --force replaces it (devices paired with it will not know the new key)");
    fs::create_directories(key_file.parent_path(), ec);
    const auto id = relay::Identity::generate();
    if (auto e = id.save(key_file)) return fail(*e);
    std::printf("key:       %s (0600)\nclient ID: %s\npublic key: %s\n", key_file.c_str(), relay::id_text(id.id()).c_str(),
                relay::key_text(id.public_key()).c_str());
    return 0;
  }
  auto identity = relay::Identity::load(key_file, false, &error);
  if (!identity) return fail(error + " (run `freehold keygen` first)");
  if (command == "id") {
    std::printf("client ID:  %s\npublic key: %s\n", relay::id_text(identity->id()).c_str(),
                relay::key_text(identity->public_key()).c_str());
    return 0;
  }
  auto devices = load_devices(devices_file, &error);
  if (!devices) return fail(error);

  if (command == "add") {
    if (rest.empty() || rest[0].starts_with("--")) return fail("add NAME --id ID --key KEY --relay URL --relay-fingerprint FP", 2);
    Device d;
    d.name = rest[0];
    const auto id = relay::parse_id(option("--id").value_or(""));
    const auto key = relay::parse_key(option("--key").value_or(""));
    if (!id) return fail("--id: not a device ID (32 base32 characters)", 2);
    if (!key) return fail("--key: not a public key (43 base64url characters)", 2);
    if (relay::id_of(*key) != *id) return fail("the key does not belong to that ID: check both (possible mix-up or forgery)");
    d.id = *id;
    d.key = *key;
    d.relay_url = option("--relay").value_or("");
    d.relay_fingerprint = option("--relay-fingerprint").value_or("");
    d.grant = option("--grant").value_or("");
    if (!relay::parse_relay_url(d.relay_url, &error)) return fail(error, 2);
    if (d.relay_fingerprint.size() != 95) return fail("--relay-fingerprint: the relay's SHA-256 fingerprint, AB:CD:… (95 characters)", 2);
    std::erase_if(*devices, [&](const Device& x) { return x.name == d.name || x.id == d.id; });
    devices->push_back(d);
    if (auto e = save_devices(devices_file, *devices)) return fail(*e);
    std::printf("added %s (%s)\n", d.name.c_str(), relay::id_text(d.id).c_str());
    return 0;
  }
  if (command == "devices") {
    if (devices->empty()) std::printf("no devices yet: freehold add NAME … (or freehold pair)\n");
    for (const auto& d : *devices)
      std::printf("%-16s %s  via %s%s\n", d.name.c_str(), relay::id_text(d.id).c_str(), d.relay_url.c_str(),
                  d.grant.empty() ? "" : "  (granted)");
    return 0;
  }
  if (command == "connect") {
    if (rest.empty() || rest[0].starts_with("--")) return fail("connect DEVICE [--rtsp PORT] …", 2);
    const Device* dev = nullptr;
    for (const auto& d : *devices)
      if (d.name == rest[0] || relay::id_text(d.id) == rest[0]) dev = &d;
    if (!dev) return fail("no device \"" + rest[0] + "\" in " + devices_file.string() + " (freehold devices lists them)");
    relay::ClientConnectOptions o;
    auto address = relay::parse_relay_url(dev->relay_url, &error);
    if (!address) return fail(error);
    address->fingerprint = dev->relay_fingerprint;
    o.relay = *address;
    o.device = dev->id;
    o.device_key = dev->key;
    o.grant = dev->grant;
    const std::string bind = option("--bind").value_or("127.0.0.1");
    for (const char* service : {"rtsp", "https", "onvif", "http"}) {
      if (auto p = option(std::string("--") + service)) {
        char* end = nullptr;
        const long port = std::strtol(p->c_str(), &end, 10);
        if (*end || port < 0 || port > 65535) return fail("--" + std::string(service) + ": not a port: " + *p, 2);
        o.forwards.push_back({service, bind, static_cast<uint16_t>(port)});
      }
    }
    if (o.forwards.empty()) o.forwards = {{"rtsp", bind, 8554}, {"https", bind, 8443}};
    o.on_listening = [](const relay::Forward& f, uint16_t port) {
      const std::string scheme = f.service == "onvif" ? "http" : f.service;
      const std::string path = f.service == "rtsp" ? "/main" : f.service == "onvif" ? "/onvif/device_service" : "/";
      std::printf("%-6s %s://%s:%u%s\n", f.service.c_str(), scheme.c_str(), f.bind.c_str(), port, path.c_str());
      std::fflush(stdout);
    };
    o.on_problem = [](const std::string& m) { std::fprintf(stderr, "freehold: %s\n", m.c_str()); };
    o.on_ready = [dev] {
      std::printf("connected to %s through its relay; Ctrl-C ends\n", dev->name.c_str());
      std::fflush(stdout);
    };
    asio::io_context io(1);
    relay::ClientConnect connect(io, *identity, std::move(o));
    int rc = 0;
    connect.start([&](const std::string& e) {
      std::fprintf(stderr, "freehold: %s\n", e.c_str());
      rc = 1;
      io.stop();
    });
    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](boost::system::error_code, int) {
      connect.stop();
      io.stop();
    });
    io.run();
    return rc;
  }
  return fail("unknown command " + command + "\n" + kUsage, 2);
}
