// SPDX-License-Identifier: GPL-3.0-or-later
// freehold: the owner's command line. Keys, the devices this client knows, and `connect`, which opens local ports
// that reach a device through the owner's relay, end-to-end encrypted (docs/relay-protocol.md).
#include <csignal>
#include <termios.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <thread>
#include <nlohmann/json.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <toml++/toml.h>
#include <vector>

#include "core/atomic_file.hpp"
#include "core/crypto.hpp"
#include "core/url.hpp"
#include "relay/access.hpp"
#include "relay/endpoint.hpp"
#include "relay/link.hpp"
#include "relay/identity.hpp"

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace freehold;

namespace {

constexpr const char* kUsage =
    "usage: freehold [--key FILE] [--devices FILE] COMMAND ...\n"
    "  keygen [--force]               make this client's key pair (default ~/.config/freehold/key)\n"
    "  id                             print this client's ID and public key\n"
    "  add NAME --id ID --key KEY --relay relay://HOST:PORT|wss://HOST:PORT --relay-fingerprint FP [--grant TEXT]\n"
    "                                 remember a device (what the device logs as relay.identity)\n"
    "  devices                        list the devices this client knows\n"
    "  pair https://DEVICE[:PORT] --fingerprint FP [--user NAME] [--as NAME]\n"
    "                                 on the LAN: register this client's key with the device as its owner's\n"
    "                                 (asks for the password, or reads FREEHOLD_PASSWORD) and remember the device\n"
    "  grant DEVICE CLIENT-KEY [--role viewer|operator|admin] [--days N]\n"
    "                                 sign a grant that lets another person's client in (default: viewer, 7 days)\n"
    "  revoke DEVICE CLIENT-ID        through the relay: the device forgets or blocks that client\n"
    "  connect DEVICE [--rtsp PORT] [--https PORT] [--onvif PORT] [--http PORT] [--bind ADDR] [--grant TEXT]\n"
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

// One HTTPS request to a device whose certificate is pinned (the LAN pairing), or to a tunneled port (pin empty:
// the tunnel already authenticated the device's key). Returns status and body, or the error.
struct HttpAnswer {
  int status = 0;
  std::string body;
};
std::optional<HttpAnswer> https_request(const std::string& host, const std::string& port, const std::string& pin,
                                        boost::beast::http::verb method, const std::string& target,
                                        const std::string& body, const std::string& token, std::string* error) {
  namespace http = boost::beast::http;
  try {
    asio::io_context io;
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    if (!pin.empty()) relay::configure_pinned_client(ctx, pin);
    asio::ssl::stream<asio::ip::tcp::socket> stream(io, ctx);
    asio::ip::tcp::resolver resolver(io);
    asio::connect(stream.next_layer(), resolver.resolve(host, port));
    ::timeval tv{10, 0};  // every read and write of this one-shot client has a deadline
    ::setsockopt(stream.next_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(stream.next_layer().native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    boost::system::error_code hec;
    stream.handshake(asio::ssl::stream_base::client, hec);
    if (hec) {
      *error = "TLS with " + host + ":" + port + " failed: " + relay::handshake_failure(stream.native_handle(), hec.message());
      return std::nullopt;
    }
    http::request<http::string_body> req(method, target, 11);
    req.set(http::field::host, host);
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    if (!body.empty()) {
      req.set(http::field::content_type, "application/json");
      req.body() = body;
    }
    req.prepare_payload();
    http::write(stream, req);
    boost::beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(1 << 20);
    http::read(stream, buffer, parser);
    return HttpAnswer{static_cast<int>(parser.get().result_int()), parser.get().body()};
  } catch (const std::exception& e) {
    *error = "cannot reach " + host + ":" + port + ": " + e.what();
    return std::nullopt;
  }
}

std::string read_password(const std::string& prompt) {
  if (const char* p = std::getenv("FREEHOLD_PASSWORD"); p && *p) return p;
  std::fprintf(stderr, "%s", prompt.c_str());
  termios old{};
  const bool tty = ::tcgetattr(STDIN_FILENO, &old) == 0;
  if (tty) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::string line;
  for (int c; (c = std::getchar()) != EOF && c != '\n';) line += static_cast<char>(c);
  if (tty) {
    ::tcsetattr(STDIN_FILENO, TCSANOW, &old);
    std::fprintf(stderr, "\n");
  }
  return line;
}

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
  // A link's TLS writes go to the socket with write(2): a peer that is gone must be an error, not SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
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
  auto find_device = [&](const std::string& name) -> const Device* {
    for (const auto& d : *devices)
      if (d.name == name || relay::id_text(d.id) == name) return &d;
    return nullptr;
  };
  // The session options for a device: its relay (pinned), its key, this client's grant if it has one.
  auto session_options = [&](const Device& dev, relay::ClientConnectOptions& o) -> bool {
    auto address = relay::parse_relay_url(dev.relay_url, &error);
    if (!address) return false;
    address->fingerprint = dev.relay_fingerprint;
    o.relay = *address;
    o.device = dev.id;
    o.device_key = dev.key;
    o.grant = option("--grant").value_or(dev.grant);
    return true;
  };

  if (command == "pair") {
    if (rest.empty()) return fail("pair https://DEVICE[:PORT] --fingerprint FP", 2);
    const auto url = parse_service_url(rest[0], {{"https", 443}}, false, &error);
    if (!url) return fail(error, 2);
    const std::string host = url->host, port = std::to_string(url->port);
    const auto pin = option("--fingerprint");
    if (!pin || pin->size() != 95)
      return fail("--fingerprint: the device certificate's SHA-256 fingerprint (AB:CD:…), as its log and web UI show", 2);
    const std::string user = option("--user").value_or("admin");
    const std::string password = read_password("password for " + user + " on " + host + ": ");
    const nlohmann::json login{{"username", user}, {"password", password}};
    auto answer = https_request(host, port, *pin, boost::beast::http::verb::post, "/api/v1/session", login.dump(), "", &error);
    if (!answer) return fail(error);
    auto j = nlohmann::json::parse(answer->body, nullptr, false);
    if (answer->status != 200 || !j.is_object() || !j.contains("token"))
      return fail("log in refused (" + std::to_string(answer->status) + "): " +
                  (j.is_object() ? j.value("message", answer->body) : answer->body));
    const std::string token = j["token"];
    const std::string label = option("--as").value_or(host);
    const nlohmann::json pairing{{"key", relay::key_text(identity->public_key())}, {"name", "freehold CLI"}, {"role", "admin"}};
    answer = https_request(host, port, *pin, boost::beast::http::verb::post, "/api/v1/relay/clients", pairing.dump(),
                           token, &error);
    (void)https_request(host, port, *pin, boost::beast::http::verb::delete_, "/api/v1/session", "", token, &error);
    if (!answer) return fail(error);
    j = nlohmann::json::parse(answer->body, nullptr, false);
    if (answer->status != 201 || !j.is_object())
      return fail("the device refused the pairing (" + std::to_string(answer->status) + "): " +
                  (j.is_object() ? j.value("message", answer->body) : answer->body));
    Device d;
    d.name = label;
    const auto id = relay::parse_id(j["device"].value("id", ""));
    const auto key = relay::parse_key(j["device"].value("key", ""));
    if (!id || !key || relay::id_of(*key) != *id) return fail("the device's answer has no valid relay identity");
    d.id = *id;
    d.key = *key;
    d.relay_url = j["relay"].value("url", "");
    d.relay_fingerprint = j["relay"].value("fingerprint", "");
    std::erase_if(*devices, [&](const Device& x) { return x.name == d.name || x.id == d.id; });
    devices->push_back(d);
    if (auto e = save_devices(devices_file, *devices)) return fail(*e);
    std::printf("paired with %s as its owner's client %s\n  device ID: %s\n", label.c_str(),
                relay::id_text(identity->id()).c_str(), relay::id_text(d.id).c_str());
    if (d.relay_url.empty())
      std::printf("  the device has no relay yet: set relay.url and relay.fingerprint on it, then pair again\n");
    else
      std::printf("  relay: %s\n  on the relay: freehold-relay allow %s; freehold-relay allow-client %s\n",
                  d.relay_url.c_str(), relay::id_text(d.id).c_str(), relay::id_text(identity->id()).c_str());
    return 0;
  }
  if (command == "grant") {
    if (rest.size() < 2) return fail("grant DEVICE CLIENT-KEY [--role viewer] [--days N]", 2);
    const Device* dev = find_device(rest[0]);
    if (!dev) return fail("no device \"" + rest[0] + "\" (freehold devices lists them)");
    const auto client = relay::parse_key(rest[1]);
    if (!client) return fail("CLIENT-KEY: the other client's public key (its `freehold id` prints it)", 2);
    const auto role = parse_role(option("--role").value_or("viewer"));
    if (!role) return fail("--role: admin, operator or viewer", 2);
    const long days = std::strtol(option("--days").value_or("7").c_str(), nullptr, 10);
    if (days < 1 || days > 3650) return fail("--days: 1 to 3650", 2);
    const auto not_after = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch()).count() + days * 86400;
    const auto grant = relay::make_grant(*identity, dev->id, *client, *role, not_after);
    std::printf("%s\n\nThe grantee runs:\n  freehold add %s --id %s --key %s --relay %s --relay-fingerprint %s --grant %s\n"
                "and the relay's admin: freehold-relay allow-client %s\n",
                grant.c_str(), dev->name.c_str(), relay::id_text(dev->id).c_str(), relay::key_text(dev->key).c_str(),
                dev->relay_url.c_str(), dev->relay_fingerprint.c_str(), grant.c_str(),
                relay::id_text(relay::id_of(*client)).c_str());
    return 0;
  }
  if (command == "revoke") {
    if (rest.size() < 2) return fail("revoke DEVICE CLIENT-ID", 2);
    const Device* dev = find_device(rest[0]);
    if (!dev) return fail("no device \"" + rest[0] + "\" (freehold devices lists them)");
    if (!relay::parse_id(rest[1])) return fail("CLIENT-ID: 32 base32 characters (the device's GET /api/v1/relay lists them)", 2);
    relay::ClientConnectOptions o;
    if (!session_options(*dev, o)) return fail(error);
    o.forwards = {{"https", "127.0.0.1", 0}};
    asio::io_context io(1);
    std::optional<HttpAnswer> answer;
    std::string problem, session_problem;
    relay::ClientConnect* running = nullptr;
    std::thread requester;
    // The request runs beside the I/O thread, through the local port the tunnel opened.
    o.on_listening = [&](const relay::Forward&, uint16_t port) {
      requester = std::thread([&, port] {
        answer = https_request("127.0.0.1", std::to_string(port), "", boost::beast::http::verb::delete_,
                               "/api/v1/relay/clients/" + rest[1], "", "", &problem);
        asio::post(io, [&] {
          running->stop();
          io.stop();
        });
      });
    };
    o.on_problem = [&](const std::string& m) { session_problem = m; };
    relay::ClientConnect connect(io, *identity, o);
    running = &connect;
    connect.start([&](const std::string& e) {
      problem = e;
      io.stop();
    });
    io.run();
    if (requester.joinable()) requester.join();
    if (!answer) return fail(session_problem.empty() ? problem : session_problem);
    if (answer->status != 204) return fail("the device answered " + std::to_string(answer->status) + ": " + answer->body);
    std::printf("revoked %s on %s: its sessions are closed and it cannot open new ones\n", rest[1].c_str(),
                dev->name.c_str());
    return 0;
  }
  if (command == "connect") {
    if (rest.empty() || rest[0].starts_with("--")) return fail("connect DEVICE [--rtsp PORT] …", 2);
    const Device* dev = find_device(rest[0]);
    if (!dev) return fail("no device \"" + rest[0] + "\" in " + devices_file.string() + " (freehold devices lists them)");
    relay::ClientConnectOptions o;
    if (!session_options(*dev, o)) return fail(error);
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
      if (f.service == "onvif") {
        // The device serves ONVIF on its plain-HTTP port when it has one, else on HTTPS.
        std::printf("onvif  %s:%u/onvif/device_service (http or https, as the device serves ONVIF)\n", f.bind.c_str(), port);
      } else {
        std::printf("%-6s %s://%s:%u%s\n", f.service.c_str(), f.service.c_str(), f.bind.c_str(), port,
                    f.service == "rtsp" ? "/main" : "/");
      }
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
