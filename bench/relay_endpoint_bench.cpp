// SPDX-License-Identifier: GPL-3.0-or-later
// The relay benchmarks' stand-ins (docs/performance.md, "Relay"), driven by bench/relay_bench.py. Only the public
// API of the relay library is used (relay::DeviceLink, relay::Identity), the same code freeholdd runs.
//
//   id     --key FILE
//          prints the ID and public key of a key file, creating it if missing
//   device --key FILE --relay relay://HOST:PORT --fingerprint FP --service NAME=PORT [--service …]
//          a device without a camera: one link to the relay; every session is admitted (as admin) and connected
//          to 127.0.0.1:PORT of the service it asks for (the benchmark's iperf3 server, its echo server)
//   links  --relay relay://HOST:PORT --fingerprint FP --links N --access FILE [--window W]
//          N device links from one process, each with its own key: writes the relay's access file with the N IDs,
//          waits for "go" on stdin, links up at most W at a time, then holds the links idle until "stop" or EOF
//   echo   [--port P]
//          a TCP echo server on 127.0.0.1 (prints its port)
//   rtt    --port P [--count N] [--size B]
//          N round trips of a B-byte message on one TCP connection; prints the percentiles as JSON
//
// Every mode has --max-seconds (a bound on its whole run) and exits by itself when it is reached.
#include <csignal>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/crypto.hpp"
#include "core/log.hpp"
#include "relay/endpoint.hpp"
#include "relay/identity.hpp"

namespace asio = boost::asio;
using namespace freehold;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
  std::vector<std::string> v;
  [[nodiscard]] std::optional<std::string> get(const std::string& name) const {
    for (size_t i = 0; i + 1 < v.size(); ++i)
      if (v[i] == name) return v[i + 1];
    return std::nullopt;
  }
  [[nodiscard]] std::vector<std::string> all(const std::string& name) const {
    std::vector<std::string> out;
    for (size_t i = 0; i + 1 < v.size(); ++i)
      if (v[i] == name) out.push_back(v[i + 1]);
    return out;
  }
  [[nodiscard]] long num(const std::string& name, long fallback) const {
    const auto s = get(name);
    return s ? std::strtol(s->c_str(), nullptr, 10) : fallback;
  }
};

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "relay_endpoint_bench: %s\n", message.c_str());
  std::exit(1);
}

void say(const std::string& line) {
  std::fputs((line + "\n").c_str(), stdout);
  std::fflush(stdout);
}

void raise_nofile() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &r);
  }
}

relay::RelayAddress relay_address(const Args& a) {
  std::string error;
  auto address = relay::parse_relay_url(a.get("--relay").value_or(""), &error);
  if (!address) die(error);
  address->fingerprint = a.get("--fingerprint").value_or("");
  if (address->fingerprint.size() != 95) die("--fingerprint: the relay's SHA-256 fingerprint, AB:CD:…");
  return *address;
}

relay::Admission admit_all(const relay::PublicKey&, const std::string&, const std::string&) {
  return relay::Admission{true, "admin", "", ""};
}

// ------------------------------------------------------------------------------------------------------- id

int cmd_id(const Args& a) {
  std::string error;
  const auto key = a.get("--key");
  if (!key) die("id --key FILE");
  auto identity = relay::Identity::load(*key, true, &error);
  if (!identity) die(error);
  say("device_id " + relay::id_text(identity->id()));
  say("key " + relay::key_text(identity->public_key()));
  return 0;
}

// --------------------------------------------------------------------------------------------------- device

int cmd_device(const Args& a) {
  std::string error;
  const auto key = a.get("--key");
  if (!key) die("device --key FILE --relay URL --fingerprint FP --service NAME=PORT");
  auto identity = relay::Identity::load(*key, true, &error);
  if (!identity) die(error);
  relay::DeviceLinkOptions o;
  o.relay = relay_address(a);
  for (const auto& s : a.all("--service")) {
    const auto eq = s.find('=');
    const long port = eq == std::string::npos ? 0 : std::strtol(s.c_str() + eq + 1, nullptr, 10);
    if (port <= 0 || port > 65535) die("--service NAME=PORT, not " + s);
    o.services[s.substr(0, eq)] = static_cast<uint16_t>(port);
  }
  if (o.services.empty()) die("at least one --service NAME=PORT");
  o.admit = admit_all;
  o.backoff_min = std::chrono::milliseconds(200);
  o.backoff_max = std::chrono::milliseconds(2000);
  say("device_id " + relay::id_text(identity->id()));
  say("key " + relay::key_text(identity->public_key()));

  asio::io_context io(1);
  relay::DeviceLink link(io, *identity, o);
  link.start();
  const auto deadline = Clock::now() + std::chrono::seconds(a.num("--max-seconds", 3600));
  asio::steady_timer tick(io);
  bool up = false;
  std::function<void()> poll = [&] {
    if (link.connected() != up) {
      up = link.connected();
      say(up ? "linked" : "unlinked");
    }
    if (Clock::now() > deadline) {
      say("max-seconds reached");
      link.stop();
      io.stop();
      return;
    }
    tick.expires_after(std::chrono::milliseconds(20));
    tick.async_wait([&](boost::system::error_code ec) {
      if (!ec) poll();
    });
  };
  poll();
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code, int) {
    link.stop();
    io.stop();
  });
  io.run();
  return 0;
}

// ---------------------------------------------------------------------------------------------------- links

int cmd_links(const Args& a) {
  const long n = a.num("--links", 10000);
  const long window = std::max(1L, a.num("--window", 64));
  const auto access = a.get("--access");
  if (n < 1 || n > 1000000 || !access) die("links --links N (1..1000000) --access FILE --relay URL --fingerprint FP");
  const auto address = relay_address(a);
  const auto max_seconds = std::chrono::seconds(a.num("--max-seconds", 900));
  const auto link_timeout = std::chrono::seconds(a.num("--link-timeout", 300));
  const auto started_at = Clock::now();
  raise_nofile();
  log::set_level(log::Level::warn);  // one relay.link_up line per link would be most of the tool's work

  // Keys: a random salt and the link's number, so that runs differ and no key file is needed.
  const std::string salt = crypto::random_bytes(24);
  std::vector<relay::Identity> identities;
  identities.reserve(static_cast<size_t>(n));
  std::string text = "# written by relay_endpoint_bench links\ndevices = [\n";
  for (long i = 0; i < n; ++i) {
    std::array<unsigned char, 32> seed{};
    std::memcpy(seed.data(), salt.data(), 24);
    const auto u = static_cast<uint64_t>(i);
    std::memcpy(seed.data() + 24, &u, 8);
    identities.push_back(relay::Identity::from_seed(seed));
    text += "  \"" + relay::id_text(identities.back().id()) + "\",\n";
  }
  text += "]\nclients = []\n";
  {
    std::ofstream f(*access, std::ios::trunc);
    f << text;
    if (!f) die("cannot write " + *access);
  }
  say("access_written " + std::to_string(n) + " keys_ms " +
      std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_at).count()));

  asio::io_context io(1);
  std::vector<std::unique_ptr<relay::DeviceLink>> links;
  links.reserve(static_cast<size_t>(n));
  std::vector<size_t> pending;  // started, not linked yet: at most `window`
  relay::DeviceLinkOptions o;
  o.relay = address;
  o.services = {{"http", 9}};  // never asked for: nobody opens a session on these links
  o.admit = admit_all;
  o.backoff_min = std::chrono::milliseconds(1000);
  o.backoff_max = std::chrono::milliseconds(5000);
  bool going = false, reported = false;
  size_t up = 0;
  Clock::time_point go_at{}, last_progress{};

  // stdin: "go" starts linking; "stop" or the end of input ends the process. Read on a thread of its own, which
  // only posts to the I/O thread.
  std::thread([&] {
    std::string line;
    while (std::getline(std::cin, line)) {
      if (line == "go") {
        asio::post(io, [&] {
          if (going) return;
          going = true;
          go_at = Clock::now();
          say("going");
        });
      } else if (line == "stop") {
        break;
      }
    }
    asio::post(io, [&io] { io.stop(); });
  }).detach();

  asio::steady_timer tick(io);
  std::function<void()> step = [&] {
    const auto now = Clock::now();
    if (now - started_at > max_seconds) {
      say("max-seconds reached");
      io.stop();
      return;
    }
    if (going) {
      std::erase_if(pending, [&](size_t i) {
        if (!links[i]->connected()) return false;
        ++up;
        return true;
      });
      while (pending.size() < static_cast<size_t>(window) && links.size() < static_cast<size_t>(n)) {
        links.push_back(std::make_unique<relay::DeviceLink>(io, identities[links.size()], o));
        links.back()->start();
        pending.push_back(links.size() - 1);
      }
      const double secs = std::chrono::duration<double>(now - go_at).count();
      if (!reported && up == static_cast<size_t>(n)) {
        reported = true;
        char buf[96];
        std::snprintf(buf, sizeof buf, "all_linked %zu seconds %.2f", up, secs);
        say(buf);
      } else if (!reported && now - go_at > link_timeout) {
        reported = true;
        say("linked_partial " + std::to_string(up) + " of " + std::to_string(n));
      }
      if (!reported && now - last_progress > std::chrono::seconds(2)) {
        last_progress = now;
        say("progress up " + std::to_string(up) + " started " + std::to_string(links.size()));
      }
    }
    tick.expires_after(std::chrono::milliseconds(reported ? 500 : 5));
    tick.async_wait([&](boost::system::error_code ec) {
      if (!ec) step();
    });
  };
  step();
  io.run();
  size_t still = 0;
  for (const auto& l : links) still += l->connected() ? 1 : 0;
  say("still_linked " + std::to_string(still));
  std::fflush(stdout);
  // Tearing 10 000 links down one by one is not what is measured: leave it to the kernel.
  std::_Exit(0);
}

// ----------------------------------------------------------------------------------------------------- echo

int listen_on(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket: " + std::string(std::strerror(errno)));
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0 || ::listen(fd, 64) != 0)
    die("listen on 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(errno));
  return fd;
}

uint16_t local_port(int fd) {
  sockaddr_in sa{};
  socklen_t len = sizeof sa;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  return ntohs(sa.sin_port);
}

int cmd_echo(const Args& a) {
  const int lfd = listen_on(static_cast<uint16_t>(a.num("--port", 0)));
  const auto deadline = Clock::now() + std::chrono::seconds(a.num("--max-seconds", 3600));
  say("listening " + std::to_string(local_port(lfd)));
  while (Clock::now() < deadline) {
    pollfd p{lfd, POLLIN, 0};
    if (::poll(&p, 1, 500) <= 0) continue;
    const int fd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::thread([fd, deadline] {
      std::vector<char> buf(64 * 1024);
      while (Clock::now() < deadline) {
        const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
        if (n <= 0) break;
        ssize_t off = 0;
        while (off < n) {
          const ssize_t w = ::send(fd, buf.data() + off, static_cast<size_t>(n - off), MSG_NOSIGNAL);
          if (w <= 0) break;
          off += w;
        }
        if (off < n) break;
      }
      ::close(fd);
    }).detach();
  }
  return 0;
}

// ------------------------------------------------------------------------------------------------------ rtt

int cmd_rtt(const Args& a) {
  const long port = a.num("--port", 0);
  const long count = a.num("--count", 2000);
  const long size = a.num("--size", 64);
  const long warmup = a.num("--warmup", 100);
  if (port <= 0 || port > 65535 || count < 1 || count > 10000000 || size < 1 || size > 65536 || warmup < 0)
    die("rtt --port P [--count N] [--size B] [--warmup N]");
  const auto deadline = Clock::now() + std::chrono::seconds(a.num("--max-seconds", 120));
  int fd = -1;
  // The port may take a moment to appear (a forward being set up): retry for up to 5 s.
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) {
      ::close(fd);
      fd = -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  if (fd < 0) die("cannot connect to 127.0.0.1:" + std::to_string(port));
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  std::vector<char> out(static_cast<size_t>(size)), in(static_cast<size_t>(size));
  std::vector<double> us;
  us.reserve(static_cast<size_t>(count));
  long failed = 0;
  for (long i = 0; i < warmup + count && Clock::now() < deadline; ++i) {
    for (long j = 0; j < size; ++j) out[static_cast<size_t>(j)] = static_cast<char>((i + j) & 0x7f);
    const auto t0 = Clock::now();
    if (::send(fd, out.data(), out.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(out.size())) {
      failed = 1;
      break;
    }
    size_t got = 0;
    while (got < in.size()) {
      const ssize_t r = ::recv(fd, in.data() + got, in.size() - got, 0);
      if (r <= 0) break;
      got += static_cast<size_t>(r);
    }
    const auto t1 = Clock::now();
    if (got != in.size() || in != out) {
      failed = 1;
      break;
    }
    if (i >= warmup) us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  ::close(fd);
  std::vector<double> sorted = us;
  std::sort(sorted.begin(), sorted.end());
  auto pct = [&](double q) {
    if (sorted.empty()) return 0.0;
    const auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
    return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
  };
  double sum = 0;
  for (double x : us) sum += x;
  char buf[320];
  std::snprintf(buf, sizeof buf,
                "{\"count\": %zu, \"failed\": %ld, \"p50_us\": %.1f, \"p90_us\": %.1f, \"p99_us\": %.1f, "
                "\"p999_us\": %.1f, \"max_us\": %.1f, \"mean_us\": %.1f}",
                us.size(), failed, pct(0.5), pct(0.9), pct(0.99), pct(0.999), sorted.empty() ? 0.0 : sorted.back(),
                us.empty() ? 0.0 : sum / static_cast<double>(us.size()));
  say(buf);
  return failed || us.empty() ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);  // a link's TLS writes use write(2)
  Args a{std::vector<std::string>(argv + 1, argv + argc)};
  if (a.v.empty()) die("id | device | links | echo | rtt (see the comment at the top of bench/relay_endpoint_bench.cpp)");
  if (!crypto::init()) die("no entropy");
  const std::string mode = a.v[0];
  if (mode == "id") return cmd_id(a);
  if (mode == "device") return cmd_device(a);
  if (mode == "links") return cmd_links(a);
  if (mode == "echo") return cmd_echo(a);
  if (mode == "rtt") return cmd_rtt(a);
  die("unknown mode " + mode);
}
