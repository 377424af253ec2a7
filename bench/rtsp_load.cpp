// SPDX-License-Identifier: GPL-3.0-or-later
// rtsp_load: N RTSP readers (RTP interleaved on the RTSP TCP connection) in one process, on one epoll thread, for
// the fan-out benchmark (bench/fanout.py). Readers connect at a bounded rate, each doing OPTIONS, DESCRIBE (Digest
// when challenged), SETUP and PLAY; once all play, and after a warm-up, a steady window is measured: bytes and RTP
// packets received, sequence gaps, and each reader's media rate (RTP timestamp span at 90 kHz over wall time),
// because a server can fall behind real time for every reader at once without losing a packet. With --server-pid
// the server's CPU time (per thread), memory and the machine's idle time are sampled at the window's edges, so
// every figure covers the same interval. Writes one JSON object to stdout; stops by itself.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "load_wire.hpp"
#include "rtsp/digest.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using freehold::bench::FrameHeader;
using freehold::bench::InterleavedStream;

constexpr std::size_t kReadBuffer = 256 * 1024;
constexpr int kMaxReaders = 20000;

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

struct Options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::string path = "/main";
  std::string user, password;
  int readers = 10;
  double connect_rate = 200;   // new connections per second
  double warmup = 2;           // seconds between "all playing" and the window
  double window = 10;          // seconds measured
  double setup_timeout = 15;   // per reader, connect to PLAY answered
  double slow_ratio = 0.95;    // media time / wall time below this: slow
  double keepalive = 20;       // OPTIONS with the session this often
  int rcvbuf = 0;              // SO_RCVBUF, 0: the kernel's default (autotuning)
  int server_pid = 0;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "rtsp_load: %s\n"
               "usage: rtsp_load --port P [--host 127.0.0.1] [--path /main] [--user U --password PW]\n"
               "                 [--readers N] [--connect-rate PER_S] [--warmup S] [--window S] [--setup-timeout S]\n"
               "                 [--slow-ratio R] [--keepalive S] [--rcvbuf BYTES] [--server-pid PID]\n",
               why);
  std::exit(2);
}

template <class T>
T number(const char* name, const char* text, T lo, T hi) {
  T v{};
  const auto* end = text + std::strlen(text);
  if (std::from_chars(text, end, v).ec != std::errc{} || v < lo || v > hi) {
    usage((std::string(name) + ": expected a number in range, got \"" + text + "\"").c_str());
  }
  return v;
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) usage(("missing value after " + a).c_str());
    const char* v = argv[++i];
    if (a == "--host") o.host = v;
    else if (a == "--port") o.port = number<std::uint16_t>("--port", v, 1, 65535);
    else if (a == "--path") o.path = v;
    else if (a == "--user") o.user = v;
    else if (a == "--password") o.password = v;
    else if (a == "--readers") o.readers = number<int>("--readers", v, 1, kMaxReaders);
    else if (a == "--connect-rate") o.connect_rate = number<double>("--connect-rate", v, 1, 100000);
    else if (a == "--warmup") o.warmup = number<double>("--warmup", v, 0, 600);
    else if (a == "--window") o.window = number<double>("--window", v, 0.5, 3600);
    else if (a == "--setup-timeout") o.setup_timeout = number<double>("--setup-timeout", v, 1, 600);
    else if (a == "--slow-ratio") o.slow_ratio = number<double>("--slow-ratio", v, 0, 1);
    else if (a == "--keepalive") o.keepalive = number<double>("--keepalive", v, 1, 3600);
    else if (a == "--rcvbuf") o.rcvbuf = number<int>("--rcvbuf", v, 0, 64 << 20);
    else if (a == "--server-pid") o.server_pid = number<int>("--server-pid", v, 1, 1 << 30);
    else usage(("unknown option " + a).c_str());
  }
  if (o.port == 0) usage("--port is required");
  if (o.path.empty() || o.path[0] != '/') usage("--path must start with /");
  return o;
}

// ---------------------------------------------------------------------------------------------------------------
// /proc sampling: the server's CPU per thread, its memory, the machine's CPU.

struct ThreadCpu {
  std::string name;
  double cpu_s = 0;
};

struct ProcSample {
  double server_cpu_s = 0;
  std::map<int, ThreadCpu> threads;  // by tid
  double machine_busy_s = 0, machine_total_s = 0;
  double loader_cpu_s = 0;
  Clock::time_point at;
};

double ticks_per_s() {
  static const double t = static_cast<double>(sysconf(_SC_CLK_TCK));
  return t;
}

std::string read_small(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// utime + stime of a /proc/.../stat line; comm in `name`.
std::optional<double> stat_cpu(const std::string& path, std::string* name) {
  const auto s = read_small(path);
  const auto open = s.find('('), close = s.rfind(')');
  if (open == std::string::npos || close == std::string::npos) return std::nullopt;
  if (name) *name = s.substr(open + 1, close - open - 1);
  std::istringstream rest(s.substr(close + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {  // fields 14 and 15 (1-based)
    if (i == 14) utime = std::strtod(field.c_str(), nullptr);
    if (i == 15) stime = std::strtod(field.c_str(), nullptr);
  }
  return (utime + stime) / ticks_per_s();
}

double loader_cpu() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

ProcSample sample(int pid) {
  ProcSample s;
  s.at = Clock::now();
  s.loader_cpu_s = loader_cpu();
  std::istringstream cpu(read_small("/proc/stat"));
  std::string label;
  cpu >> label;
  double v = 0, total = 0, idle = 0;
  for (int i = 0; i < 8 && cpu >> v; ++i) {  // user nice system idle iowait irq softirq steal
    total += v;
    if (i == 3 || i == 4) idle += v;
  }
  s.machine_total_s = total / ticks_per_s();
  s.machine_busy_s = (total - idle) / ticks_per_s();
  if (pid <= 0) return s;
  const std::string base = "/proc/" + std::to_string(pid);
  s.server_cpu_s = stat_cpu(base + "/stat", nullptr).value_or(0);
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(base + "/task", ec)) {
    ThreadCpu t;
    if (auto c = stat_cpu(e.path().string() + "/stat", &t.name)) {
      t.cpu_s = *c;
      s.threads[std::atoi(e.path().filename().c_str())] = t;
    }
  }
  return s;
}

// Rss and Pss in KiB from /proc/PID/smaps_rollup.
std::pair<long, long> memory_kib(int pid) {
  std::istringstream in(read_small("/proc/" + std::to_string(pid) + "/smaps_rollup"));
  std::string line;
  long rss = -1, pss = -1;
  while (std::getline(in, line)) {
    if (line.starts_with("Rss:")) rss = std::atol(line.c_str() + 4);
    if (line.starts_with("Pss:")) pss = std::atol(line.c_str() + 4);
  }
  return {rss, pss};
}

// ---------------------------------------------------------------------------------------------------------------
// Readers

enum class Phase : std::uint8_t { waiting, connecting, options, describe, setup, play, playing, failed };

const char* phase_name(Phase p) {
  switch (p) {
    case Phase::waiting: return "waiting";
    case Phase::connecting: return "connect";
    case Phase::options: return "OPTIONS";
    case Phase::describe: return "DESCRIBE";
    case Phase::setup: return "SETUP";
    case Phase::play: return "PLAY";
    case Phase::playing: return "playing";
    case Phase::failed: return "failed";
  }
  return "?";
}

struct Counters {
  std::uint64_t bytes = 0;    // everything interleaved, headers included
  std::uint64_t packets = 0;  // RTP packets on the session's channel
  std::uint64_t lost = 0;     // packets missing by sequence number
  std::uint64_t gap_events = 0;
  std::int64_t ts_ext = 0;    // extended RTP timestamp of the latest packet
  bool has_ts = false;
};

struct Reader final : freehold::bench::StreamSink {
  int fd = -1;
  Phase phase = Phase::waiting;
  Clock::time_point started;
  Clock::time_point last_keepalive;
  InterleavedStream stream;
  std::string out;  // request bytes not yet written
  std::uint32_t cseq = 0;
  std::string last_method, last_uri, last_extra;
  bool auth_retried = false;
  std::string realm, nonce, opaque;
  bool qop_auth = false;
  std::uint32_t nc = 0;
  std::string url, base, track, session;
  std::uint8_t rtp_channel = 0;
  std::string failure;  // why, once failed
  bool window_playing = false;  // playing at the window's start

  Counters c;
  Counters at_start;
  bool has_seq = false;
  std::uint16_t next_seq = 0;
  std::uint32_t last_ts = 0;

  const Options* options = nullptr;

  void on_frame(const FrameHeader& f) override {
    c.bytes += 4u + f.length;
    if (f.channel != rtp_channel || !f.rtp) return;
    ++c.packets;
    if (has_seq) {
      const auto diff = static_cast<std::uint16_t>(f.sequence - next_seq);
      if (diff != 0 && diff < 0x8000) {
        c.lost += diff;
        ++c.gap_events;
      }
      if (diff < 0x8000) next_seq = static_cast<std::uint16_t>(f.sequence + 1);
    } else {
      has_seq = true;
      next_seq = static_cast<std::uint16_t>(f.sequence + 1);
    }
    if (c.has_ts) {
      c.ts_ext += static_cast<std::int32_t>(f.timestamp - last_ts);
    } else {
      c.has_ts = true;
      c.ts_ext = f.timestamp;
    }
    last_ts = f.timestamp;
  }

  void on_response(freehold::rtsp::Response&& r) override;

  void fail(std::string why) {
    if (phase == Phase::failed) return;
    failure = std::string(phase_name(phase)) + ": " + why;
    phase = Phase::failed;
    if (fd >= 0) close(fd);
    fd = -1;
  }

  std::string authorization(const std::string& method, const std::string& uri) {
    freehold::rtsp::DigestCredentials cred;
    cred.username = options->user;
    cred.realm = realm;
    cred.nonce = nonce;
    cred.uri = uri;
    if (qop_auth) {
      cred.qop = "auth";
      char buf[16];
      std::snprintf(buf, sizeof buf, "%08x", ++nc);
      cred.nc = buf;
      cred.cnonce = "0a4f113b";
    }
    const auto ha1 = freehold::rtsp::digest_ha1(options->user, realm, options->password);
    const auto response = freehold::rtsp::digest_response(cred, method, ha1);
    std::string h = "Digest username=\"" + options->user + "\", realm=\"" + realm + "\", nonce=\"" + nonce +
                    "\", uri=\"" + uri + "\", response=\"" + response + "\"";
    if (qop_auth) h += ", qop=auth, nc=" + cred.nc + ", cnonce=\"" + cred.cnonce + "\"";
    if (!opaque.empty()) h += ", opaque=\"" + opaque + "\"";
    return h;
  }

  void request(const std::string& method, const std::string& uri, const std::string& extra) {
    last_method = method;
    last_uri = uri;
    last_extra = extra;
    std::string r = method + " " + uri + " RTSP/1.0\r\nCSeq: " + std::to_string(++cseq) +
                    "\r\nUser-Agent: freehold-rtsp-load\r\n";
    if (!session.empty()) r += "Session: " + session + "\r\n";
    if (!nonce.empty() && method != "OPTIONS") r += "Authorization: " + authorization(method, uri) + "\r\n";
    r += extra;
    r += "\r\n";
    out += r;
    flush();
  }

  void flush() {
    while (!out.empty() && fd >= 0) {
      const auto n = send(fd, out.data(), out.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return;  // rare (requests are small); sent on the next wake-up
        fail(std::string("send: ") + std::strerror(errno));
        return;
      }
      out.erase(0, static_cast<std::size_t>(n));
    }
  }
};

void Reader::on_response(freehold::rtsp::Response&& r) {
  using freehold::bench::find_header;
  if (phase == Phase::playing) return;  // keep-alive answers
  if (r.status == 401 && !auth_retried) {
    const auto challenge = find_header(r, "WWW-Authenticate");
    // Several challenges may be offered (Digest, Basic); only Digest is spoken here.
    std::optional<std::string_view> digest;
    for (const auto& h : r.headers) {
      if (h.value.starts_with("Digest ")) digest = h.value;
    }
    if (!digest || options->user.empty()) {
      fail(challenge ? "401 without usable credentials (--user/--password?)" : "401 without a challenge");
      return;
    }
    realm = freehold::bench::auth_param(*digest, "realm").value_or("");
    nonce = freehold::bench::auth_param(*digest, "nonce").value_or("");
    opaque = freehold::bench::auth_param(*digest, "opaque").value_or("");
    const auto qop = freehold::bench::auth_param(*digest, "qop").value_or("");
    qop_auth = qop.find("auth") != std::string::npos;
    auth_retried = true;
    request(last_method, last_uri, last_extra);
    return;
  }
  if (r.status != 200) {
    fail("status " + std::to_string(r.status));
    return;
  }
  auth_retried = false;
  switch (phase) {
    case Phase::options:
      phase = Phase::describe;
      request("DESCRIBE", url, "Accept: application/sdp\r\n");
      break;
    case Phase::describe: {
      base = std::string(find_header(r, "Content-Base").value_or(url));
      track = freehold::bench::track_url(r.body, base);
      phase = Phase::setup;
      request("SETUP", track, "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n");
      break;
    }
    case Phase::setup: {
      const auto s = find_header(r, "Session");
      auto parsed = s ? freehold::rtsp::parse_session(*s) : std::nullopt;
      if (!parsed) {
        fail("no valid Session header");
        return;
      }
      session = parsed->id;
      if (auto t = find_header(r, "Transport")) {
        if (auto spec = freehold::rtsp::parse_transport_spec(*t); spec && spec->interleaved) {
          rtp_channel = static_cast<std::uint8_t>(spec->interleaved->first);
        }
      }
      phase = Phase::play;
      request("PLAY", url, "Range: npt=0.000-\r\n");
      break;
    }
    case Phase::play:
      phase = Phase::playing;
      last_keepalive = Clock::now();
      break;
    default:
      break;
  }
}

// ---------------------------------------------------------------------------------------------------------------

struct Address {
  sockaddr_storage storage{};
  socklen_t size = 0;
};

Address resolve(const std::string& host, std::uint16_t port) {
  Address a;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    a.size = sizeof *v4;
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    a.size = sizeof *v6;
  } else {
    usage(("--host must be a numeric IPv4 or IPv6 address, got \"" + host + "\"").c_str());
  }
  return a;
}

void raise_fd_limit(int readers) {
  rlimit r{};
  getrlimit(RLIMIT_NOFILE, &r);
  const rlim_t want = static_cast<rlim_t>(readers) + 64;
  if (r.rlim_cur < want) {
    r.rlim_cur = std::min(r.rlim_max, std::max(want, r.rlim_cur));
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

std::string json_escape(std::string_view s) {
  std::string o;
  for (char ch : s) {
    if (ch == '"' || ch == '\\') {
      o += '\\';
      o += ch;
    } else if (static_cast<unsigned char>(ch) < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", ch);
      o += b;
    } else {
      o += ch;
    }
  }
  return o;
}

class Load {
 public:
  explicit Load(Options o) : o_(std::move(o)), addr_(resolve(o_.host, o_.port)), buf_(new std::uint8_t[kReadBuffer]) {
    readers_.resize(static_cast<std::size_t>(o_.readers));
    const std::string host = o_.host.find(':') != std::string::npos ? "[" + o_.host + "]" : o_.host;
    for (auto& r : readers_) {
      r.options = &o_;
      r.url = "rtsp://" + host + ":" + std::to_string(o_.port) + o_.path;
    }
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) {
      std::perror("rtsp_load: epoll_create1");
      std::exit(1);
    }
  }

  int run() {
    const auto t0 = Clock::now();
    const auto connect_span = std::chrono::duration<double>(o_.readers / o_.connect_rate);
    hard_deadline_ = t0 + std::chrono::duration_cast<Clock::duration>(
                              connect_span + std::chrono::duration<double>(o_.setup_timeout + o_.warmup + o_.window + 10));
    std::vector<epoll_event> events(1024);
    std::size_t next_connect = 0;
    auto last_sweep = t0;
    for (;;) {
      const auto now = Clock::now();
      // Start readers at the bounded rate.
      while (next_connect < readers_.size() &&
             now - t0 >= std::chrono::duration<double>(static_cast<double>(next_connect) / o_.connect_rate)) {
        start(readers_[next_connect++], now);
      }
      bool check_settled = false;
      if (now - last_sweep >= std::chrono::milliseconds(100)) {
        sweep(now);
        last_sweep = now;
        check_settled = true;  // O(N): not on every wake-up
      }
      if (!all_started_ && next_connect == readers_.size() && check_settled && settled()) {
        all_started_ = true;
        all_playing_at_ = now;
        window_start_at_ = now + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o_.warmup));
        std::fprintf(stderr, "rtsp_load: %zu of %d readers playing after %.1f s; warm-up %.1f s, window %.1f s\n",
                     count(Phase::playing), o_.readers, seconds(now - t0), o_.warmup, o_.window);
      }
      if (all_started_ && !in_window_ && now >= window_start_at_) begin_window();
      if (in_window_ && now - start_.at >= std::chrono::duration<double>(o_.window)) {
        end_window();
        return report(t0);
      }
      if (now >= hard_deadline_) {
        std::fprintf(stderr, "rtsp_load: deadline reached before the window ended\n");
        if (!in_window_) begin_window();
        end_window();
        timed_out_ = true;
        return report(t0);
      }
      int timeout_ms = 100;
      if (next_connect < readers_.size()) timeout_ms = 1;
      const int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), timeout_ms);
      if (n < 0 && errno != EINTR) {
        std::perror("rtsp_load: epoll_wait");
        return 1;
      }
      for (int i = 0; i < n; ++i) handle(readers_[events[static_cast<std::size_t>(i)].data.u32], events[i].events);
    }
  }

 private:
  void start(Reader& r, Clock::time_point now) {
    r.started = now;
    r.phase = Phase::connecting;
    r.fd = socket(addr_.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (r.fd < 0) {
      r.fail(std::string("socket: ") + std::strerror(errno));
      return;
    }
    const int one = 1;
    setsockopt(r.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (o_.rcvbuf > 0) setsockopt(r.fd, SOL_SOCKET, SO_RCVBUF, &o_.rcvbuf, sizeof o_.rcvbuf);
    if (connect(r.fd, reinterpret_cast<const sockaddr*>(&addr_.storage), addr_.size) < 0 && errno != EINPROGRESS) {
      r.fail(std::string("connect: ") + std::strerror(errno));
      return;
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.u32 = static_cast<std::uint32_t>(&r - readers_.data());
    if (epoll_ctl(ep_, EPOLL_CTL_ADD, r.fd, &ev) < 0) r.fail(std::string("epoll_ctl: ") + std::strerror(errno));
  }

  void want_write(Reader& r, bool on) {
    epoll_event ev{};
    ev.events = EPOLLIN | (on ? EPOLLOUT : 0u);
    ev.data.u32 = static_cast<std::uint32_t>(&r - readers_.data());
    epoll_ctl(ep_, EPOLL_CTL_MOD, r.fd, &ev);
  }

  void handle(Reader& r, std::uint32_t ev) {
    if (r.fd < 0) return;
    if (r.phase == Phase::connecting) {
      if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(r.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        r.fail(std::string("connect: ") + std::strerror(err));
        return;
      }
      r.phase = Phase::options;
      r.request("OPTIONS", r.url, "");
      if (r.fd >= 0) want_write(r, !r.out.empty());
      return;
    }
    if (ev & EPOLLOUT) {
      r.flush();
      if (r.fd < 0) return;
      if (r.out.empty()) want_write(r, false);
    }
    if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
      const auto n = recv(r.fd, buf_.get(), kReadBuffer, 0);
      if (n == 0) {
        r.fail("closed by the server");
        return;
      }
      if (n < 0) {
        if (errno != EAGAIN && errno != EINTR) r.fail(std::string("recv: ") + std::strerror(errno));
        return;
      }
      if (!r.stream.feed(buf_.get(), static_cast<std::size_t>(n), r)) {
        r.fail(r.stream.error());
        return;
      }
      if (r.fd >= 0 && !r.out.empty()) want_write(r, true);
    }
  }

  // Setup deadlines and keep-alives.
  void sweep(Clock::time_point now) {
    const auto setup_limit = std::chrono::duration<double>(o_.setup_timeout);
    const auto keepalive = std::chrono::duration<double>(o_.keepalive);
    for (auto& r : readers_) {
      if (r.phase == Phase::playing) {
        if (now - r.last_keepalive >= keepalive) {
          r.last_keepalive = now;
          r.request("OPTIONS", r.url, "");
          if (r.fd >= 0 && !r.out.empty()) want_write(r, true);
        }
      } else if (r.phase != Phase::waiting && r.phase != Phase::failed && now - r.started > setup_limit) {
        r.fail("no answer in " + std::to_string(static_cast<int>(o_.setup_timeout)) + " s");
      }
    }
  }

  [[nodiscard]] bool settled() const {
    return std::all_of(readers_.begin(), readers_.end(),
                       [](const Reader& r) { return r.phase == Phase::playing || r.phase == Phase::failed; });
  }

  [[nodiscard]] std::size_t count(Phase p) const {
    return static_cast<std::size_t>(
        std::count_if(readers_.begin(), readers_.end(), [p](const Reader& r) { return r.phase == p; }));
  }

  void begin_window() {
    in_window_ = true;
    for (auto& r : readers_) {
      r.window_playing = r.phase == Phase::playing;
      r.at_start = r.c;
    }
    start_ = sample(o_.server_pid);
  }

  void end_window() {
    end_ = sample(o_.server_pid);
    if (o_.server_pid > 0) memory_ = memory_kib(o_.server_pid);
  }

  int report(Clock::time_point t0) {
    const double wall = seconds(end_.at - start_.at);
    std::size_t ok = 0, with_gaps = 0, slow = 0, failed = 0, no_media = 0, playing = 0;
    std::uint64_t bytes = 0, packets = 0, lost = 0;
    std::vector<double> ratios;
    std::map<std::string, int> reasons;
    for (auto& r : readers_) {
      if (r.phase == Phase::failed) {
        ++failed;
        // Strip per-reader detail so that equal causes are counted together.
        ++reasons[r.failure.substr(0, 80)];
      }
      if (!r.window_playing) {
        if (r.phase != Phase::failed) {
          ++failed;
          ++reasons["not playing when the window started"];
        }
        continue;
      }
      if (r.phase == Phase::playing) ++playing;
      const auto d_bytes = r.c.bytes - r.at_start.bytes;
      const auto d_packets = r.c.packets - r.at_start.packets;
      const auto d_lost = r.c.lost - r.at_start.lost;
      bytes += d_bytes;
      packets += d_packets;
      lost += d_lost;
      if (d_packets == 0) {
        no_media += r.phase != Phase::failed;
        ratios.push_back(0);
        continue;
      }
      const double media = r.at_start.has_ts ? static_cast<double>(r.c.ts_ext - r.at_start.ts_ext) / 90000.0
                                             : 0.0;
      const double ratio = r.at_start.has_ts && wall > 0 ? media / wall : 0.0;
      ratios.push_back(ratio);
      if (r.phase == Phase::failed) continue;
      const bool gaps = d_lost > 0, is_slow = ratio < o_.slow_ratio;
      with_gaps += gaps;
      slow += is_slow;
      ok += !gaps && !is_slow;
    }
    std::sort(ratios.begin(), ratios.end());
    auto pct = [&](double q) {
      return ratios.empty() ? 0.0 : ratios[std::min(ratios.size() - 1, static_cast<std::size_t>(q * ratios.size()))];
    };
    const double gbit = static_cast<double>(bytes) * 8 / 1e9;
    const double server_cpu = end_.server_cpu_s - start_.server_cpu_s;
    const double machine_busy = end_.machine_busy_s - start_.machine_busy_s;
    const double loader = end_.loader_cpu_s - start_.loader_cpu_s;

    std::string j = "{";
    auto field = [&j](const char* k, const std::string& v) {
      if (j.size() > 1) j += ", ";
      j += "\"";
      j += k;
      j += "\": ";
      j += v;
    };
    auto num = [](double v) {
      char b[64];
      std::snprintf(b, sizeof b, "%.6g", std::isfinite(v) ? v : 0.0);
      return std::string(b);
    };
    field("readers", std::to_string(o_.readers));
    field("playing", std::to_string(playing));
    field("ok", std::to_string(ok));
    field("with_gaps", std::to_string(with_gaps));
    field("slow", std::to_string(slow));
    field("no_media", std::to_string(no_media));
    field("failed", std::to_string(failed));
    field("timed_out", timed_out_ ? "true" : "false");
    std::string rs = "{";
    for (const auto& [k, v] : reasons) rs += (rs.size() > 1 ? ", \"" : "\"") + json_escape(k) + "\": " + std::to_string(v);
    field("failure_reasons", rs + "}");
    field("setup_s", num(all_started_ ? seconds(all_playing_at_ - t0) : -1));
    field("window_s", num(wall));
    field("bytes", std::to_string(bytes));
    field("packets", std::to_string(packets));
    field("lost_packets", std::to_string(lost));
    field("gbit", num(gbit));
    field("gbit_per_s", num(wall > 0 ? gbit / wall : 0));
    field("media_rate_min", num(pct(0)));
    field("media_rate_p10", num(pct(0.10)));
    field("media_rate_median", num(pct(0.5)));
    field("media_rate_max", num(ratios.empty() ? 0 : ratios.back()));
    field("loader_cpu_s", num(loader));
    field("loader_cpu_total_s", num(loader_cpu()));
    field("machine_busy_cores", num(wall > 0 ? machine_busy / wall : 0));
    if (o_.server_pid > 0) {
      field("server_cpu_s", num(server_cpu));
      field("server_cpu_s_per_gbit", num(gbit > 0 ? server_cpu / gbit : 0));
      field("other_load_cores", num(wall > 0 ? (machine_busy - server_cpu - loader) / wall : 0));
      std::string th = "[";
      std::vector<std::pair<double, std::string>> per;
      for (const auto& [tid, t] : end_.threads) {
        const auto before = start_.threads.find(tid);
        const double d = t.cpu_s - (before != start_.threads.end() ? before->second.cpu_s : 0);
        per.emplace_back(d, (tid == o_.server_pid ? "main:" : "") + t.name);
      }
      std::sort(per.rbegin(), per.rend());
      for (const auto& [d, name] : per) {
        if (d <= 0) continue;
        th += (th.size() > 1 ? ", " : "") + std::string("{\"thread\": \"") + json_escape(name) +
              "\", \"cpu_s\": " + num(d) + "}";
      }
      field("server_threads", th + "]");
      field("server_rss_kib", std::to_string(memory_.first));
      field("server_pss_kib", std::to_string(memory_.second));
    }
    std::printf("%s}\n", j.c_str());
    std::fflush(stdout);
    std::fprintf(stderr,
                 "rtsp_load: %d readers: %zu ok, %zu with gaps, %zu slow, %zu without media, %zu failed; "
                 "%.3f Gbit/s; median media rate %.3f; loader CPU %.2f s\n",
                 o_.readers, ok, with_gaps, slow, no_media, failed, wall > 0 ? gbit / wall : 0, pct(0.5), loader);
    for (auto& r : readers_) {
      if (r.fd >= 0) close(r.fd);
      r.fd = -1;
    }
    return 0;
  }

  Options o_;
  Address addr_;
  std::unique_ptr<std::uint8_t[]> buf_;
  std::vector<Reader> readers_;
  int ep_ = -1;
  bool all_started_ = false, in_window_ = false, timed_out_ = false;
  Clock::time_point all_playing_at_, window_start_at_, hard_deadline_;
  ProcSample start_, end_;
  std::pair<long, long> memory_{-1, -1};
};

}  // namespace

int main(int argc, char** argv) {
  auto options = parse_options(argc, argv);
  raise_fd_limit(options.readers);
  Load load(std::move(options));
  return load.run();
}
