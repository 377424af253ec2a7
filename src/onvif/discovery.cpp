// SPDX-License-Identifier: GPL-3.0-or-later
// The WS-Discovery socket: one UDP socket on port 3702 that joins the group on each interface, learns from
// IP_PKTINFO which local address a request came to (so XAddrs name an address the prober can reach), and answers
// after a random delay under two token buckets. Everything runs in handlers on the I/O thread; a handler keeps the
// state alive with a shared_ptr and checks that the socket is still the one it waited on.
#include "onvif/discovery.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/ip/multicast.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <cstring>
#include <deque>
#include <random>
#include <unordered_map>

#include "core/log.hpp"

namespace freehold::onvif {

namespace {

namespace asio = boost::asio;
using asio::ip::udp;
using Clock = std::chrono::steady_clock;

const asio::ip::address_v4 group_v4 = asio::ip::make_address_v4("239.255.255.250");
constexpr std::size_t receive_buffer = 64 * 1024;  // the largest UDP payload; longer requests are refused anyway
constexpr std::size_t max_sources = 256;           // per-source buckets kept
constexpr std::size_t recent_ids = 64;             // MessageIDs remembered to drop a probe's repeats
constexpr auto recent_for = std::chrono::seconds(10);
constexpr auto rate_log_every = std::chrono::seconds(10);

struct Interface {
  std::string name;
  unsigned index = 0;
  asio::ip::address_v4 address;
  bool operator==(const Interface& o) const { return index == o.index && address == o.address; }
};

// The interfaces to serve: those with the addresses asked for, or every multicast-capable one that is up.
std::vector<Interface> scan(const std::vector<std::string>& wanted) {
  std::vector<Interface> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (const ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !(i->ifa_flags & IFF_UP)) continue;
    sockaddr_in sin{};
    std::memcpy(&sin, i->ifa_addr, sizeof sin);
    const asio::ip::address_v4 a(ntohl(sin.sin_addr.s_addr));
    if (wanted.empty()) {
      if (!(i->ifa_flags & IFF_MULTICAST) || (i->ifa_flags & IFF_LOOPBACK)) continue;
    } else if (std::find(wanted.begin(), wanted.end(), a.to_string()) == wanted.end()) {
      continue;
    }
    out.push_back({i->ifa_name, if_nametoindex(i->ifa_name), a});
  }
  freeifaddrs(list);
  return out;
}

struct Bucket {
  double tokens = 0;
  Clock::time_point last{};

  bool take(double rate, Clock::time_point now) {
    if (last == Clock::time_point{}) tokens = rate;
    tokens = std::min(rate, tokens + rate * std::chrono::duration<double>(now - last).count());
    last = now;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  }
};

struct Pending {
  Clock::time_point due;
  udp::endpoint to;
  asio::ip::address_v4 local;
  std::variant<Probe, Resolve> request;
};

// What recvmsg tells us about one datagram.
struct Arrival {
  std::size_t size = 0;
  bool truncated = false;
  udp::endpoint from;
  asio::ip::address_v4 local;  // the address of the interface it came in on
  bool multicast = false;      // sent to the group rather than to us
};

}  // namespace

struct Discovery::Impl : std::enable_shared_from_this<Impl> {
  asio::io_context& io;
  DiscoveryInfo info;
  XAddrsFor xaddrs;
  DiscoveryOptions opt;
  udp::socket socket;
  asio::steady_timer reply_timer;
  asio::steady_timer rescan_timer;
  std::uint64_t generation = 0;  // bumped on every open and close: stale handlers see a different value
  bool started = false;
  bool discoverable = true;
  std::vector<Interface> joined;
  std::uint32_t instance_id;
  std::uint32_t message_number = 0;
  std::mt19937_64 rng{std::random_device{}()};
  std::vector<char> buffer = std::vector<char>(receive_buffer);
  std::vector<Pending> pending;  // a min-heap on `due`
  Bucket global;
  std::unordered_map<std::string, Bucket> per_source;
  std::deque<std::pair<std::string, Clock::time_point>> recent;
  DiscoveryStats stats;
  std::uint64_t limited_since_log = 0;
  Clock::time_point last_rate_log{};

  Impl(asio::io_context& context, DiscoveryInfo i, XAddrsFor x, DiscoveryOptions o)
      : io(context),
        info(std::move(i)),
        xaddrs(std::move(x)),
        opt(std::move(o)),
        socket(context),
        reply_timer(context),
        rescan_timer(context),
        instance_id(opt.instance_id != 0
                        ? opt.instance_id
                        : static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                                         std::chrono::system_clock::now().time_since_epoch())
                                                         .count())) {}

  static bool later(const Pending& a, const Pending& b) { return a.due > b.due; }

  Sequence next_sequence() {
    std::array<unsigned char, 16> b{};
    for (std::size_t i = 0; i < b.size(); i += 8) {
      const std::uint64_t r = rng();
      std::memcpy(b.data() + i, &r, 8);
    }
    b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
    b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
    char text[37];
    std::snprintf(text, sizeof text, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                  b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
    return Sequence{"urn:uuid:" + std::string(text), instance_id, ++message_number};
  }

  std::vector<std::string> xaddrs_for(const asio::ip::address_v4& local) {
    if (local.is_unspecified()) return {};  // never advertise 0.0.0.0
    try {
      return xaddrs ? xaddrs(asio::ip::address(local)) : std::vector<std::string>{};
    } catch (const std::exception& e) {
      log::error("discovery.xaddrs_failed", {{"local", local.to_string()}, {"error", e.what()}});
      return {};
    }
  }

  // One datagram, without blocking: a full socket buffer drops it (UDP may lose it anyway).
  bool send(const std::string& payload, const udp::endpoint& to, const asio::ip::address_v4* local) {
    if (payload.size() > 65507) {
      log::error("discovery.message_too_large", {{"bytes", payload.size()}});
      return false;
    }
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(to.port());
    dst.sin_addr.s_addr = htonl(to.address().to_v4().to_uint());
    iovec iov{const_cast<char*>(payload.data()), payload.size()};
    msghdr msg{};
    msg.msg_name = &dst;
    msg.msg_namelen = sizeof dst;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(in_pktinfo))] = {};
    if (local) {
      // The reply leaves from the address the request came to, the one named in its XAddrs.
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = IPPROTO_IP;
      c->cmsg_type = IP_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
      in_pktinfo info_out{};
      info_out.ipi_spec_dst.s_addr = htonl(local->to_uint());
      std::memcpy(CMSG_DATA(c), &info_out, sizeof info_out);
    }
    if (::sendmsg(socket.native_handle(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
      log::warn("discovery.send_failed", {{"to", to.address().to_string()}, {"error", std::strerror(errno)}});
      return false;
    }
    return true;
  }

  void announce(const Interface& itf, const std::string& payload) {
    ip_mreqn m{};
    m.imr_ifindex = static_cast<int>(itf.index);
    m.imr_address.s_addr = htonl(itf.address.to_uint());
    if (::setsockopt(socket.native_handle(), IPPROTO_IP, IP_MULTICAST_IF, &m, sizeof m) != 0) {
      log::warn("discovery.send_failed", {{"interface", itf.name}, {"error", std::strerror(errno)}});
      return;
    }
    if (send(payload, udp::endpoint(group_v4, opt.port), nullptr)) ++stats.announcements;
  }

  void hello(const Interface& itf) {
    const auto x = xaddrs_for(itf.address);
    announce(itf, build_hello(info, x, next_sequence()));
  }

  void bye_all() {
    for (const auto& itf : joined) announce(itf, build_bye(info, next_sequence()));
  }

  bool membership(const Interface& itf, bool add, std::string* error) {
    ip_mreqn m{};
    m.imr_multiaddr.s_addr = htonl(group_v4.to_uint());
    m.imr_ifindex = static_cast<int>(itf.index);
    if (::setsockopt(socket.native_handle(), IPPROTO_IP, add ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP, &m, sizeof m) ==
        0) {
      return true;
    }
    if (error) {
      *error = "cannot join " + group_v4.to_string() + " on " + itf.name + " (" + itf.address.to_string() +
               "): " + std::strerror(errno);
    }
    return false;
  }

  // Joins the group on interfaces that appeared and says Hello there; leaves those that went away.
  std::optional<std::string> refresh() {
    const auto now = scan(opt.interfaces);
    for (const auto& old : joined) {
      if (std::find(now.begin(), now.end(), old) != now.end()) continue;
      const bool index_still_used =
          std::any_of(now.begin(), now.end(), [&](const Interface& n) { return n.index == old.index; });
      if (!index_still_used) (void)membership(old, false, nullptr);
      log::info("discovery.interface_gone", {{"interface", old.name}, {"address", old.address.to_string()}});
    }
    std::vector<Interface> kept;
    std::optional<std::string> first_error;
    for (const auto& itf : now) {
      const bool known = std::find(joined.begin(), joined.end(), itf) != joined.end();
      if (!known) {
        const bool index_joined =
            std::any_of(kept.begin(), kept.end(), [&](const Interface& k) { return k.index == itf.index; });
        std::string error;
        if (!index_joined && !membership(itf, true, &error)) {
          log::warn("discovery.join_failed", {{"interface", itf.name}, {"error", error}});
          if (!first_error) first_error = error;
          continue;
        }
        log::info("discovery.interface", {{"interface", itf.name}, {"address", itf.address.to_string()}});
      }
      kept.push_back(itf);
      if (!known) hello(itf);
    }
    joined = std::move(kept);
    return first_error;
  }

  std::optional<std::string> open() {
    const std::string where = "UDP 0.0.0.0:" + std::to_string(opt.port);
    boost::system::error_code ec;
    socket.open(udp::v4(), ec);
    if (!ec) socket.set_option(asio::socket_base::reuse_address(true), ec);  // beside other WS-Discovery services
    if (!ec) socket.bind(udp::endpoint(asio::ip::address_v4::any(), opt.port), ec);
    if (!ec) socket.non_blocking(true, ec);
    if (ec) {
      close();
      return "cannot open " + where + " for WS-Discovery: " + ec.message();
    }
    const int on = 1, off = 0;
    const int fd = socket.native_handle();
    // IP_MULTICAST_ALL off: a socket bound to 0.0.0.0 would otherwise get every group any process joined.
    if (::setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof on) != 0 ||
        ::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_ALL, &off, sizeof off) != 0) {
      const std::string error = "cannot set IP_PKTINFO on " + where + ": " + std::strerror(errno);
      close();
      return error;
    }
    socket.set_option(asio::ip::multicast::hops(1), ec);                // SOAP-over-UDP: the link only
    socket.set_option(asio::ip::multicast::enable_loopback(true), ec);  // clients on this host see Hello too
    ++generation;
    joined.clear();
    auto error = refresh();
    // Named interfaces must all work; with automatic ones, an interface that fails is retried at the next rescan.
    if (error && !opt.interfaces.empty()) {
      close();
      return error;
    }
    if (!opt.interfaces.empty() && joined.size() < opt.interfaces.size()) {
      close();
      return "WS-Discovery: no up interface has each of the addresses asked for (found " +
             std::to_string(joined.size()) + " of " + std::to_string(opt.interfaces.size()) + ")";
    }
    wait_readable();
    if (opt.interfaces.empty()) arm_rescan();
    return std::nullopt;
  }

  void close() {
    ++generation;
    boost::system::error_code ignored;
    socket.close(ignored);
    reply_timer.cancel();
    rescan_timer.cancel();
    pending.clear();
    joined.clear();
  }

  void arm_rescan() {
    rescan_timer.expires_after(opt.rescan);
    rescan_timer.async_wait([self = shared_from_this(), gen = generation](boost::system::error_code ec) {
      if (ec || gen != self->generation) return;
      (void)self->refresh();
      self->arm_rescan();
    });
  }

  void wait_readable() {
    socket.async_wait(udp::socket::wait_read,
                      [self = shared_from_this(), gen = generation](boost::system::error_code ec) {
                        if (ec || gen != self->generation) return;
                        self->drain();
                        if (gen == self->generation) self->wait_readable();
                      });
  }

  std::optional<Arrival> receive() {
    sockaddr_in from{};
    iovec iov{buffer.data(), buffer.size()};
    alignas(cmsghdr) char control[256];
    msghdr msg{};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof from;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(socket.native_handle(), &msg, MSG_DONTWAIT);
    if (n < 0) return std::nullopt;
    Arrival a;
    a.size = static_cast<std::size_t>(n);
    a.truncated = (msg.msg_flags & MSG_TRUNC) != 0;
    a.from = udp::endpoint(asio::ip::address_v4(ntohl(from.sin_addr.s_addr)), ntohs(from.sin_port));
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
        in_pktinfo pi{};
        std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
        a.local = asio::ip::address_v4(ntohl(pi.ipi_spec_dst.s_addr));
        a.multicast = asio::ip::address_v4(ntohl(pi.ipi_addr.s_addr)).is_multicast();
      }
    }
    return a;
  }

  // Reads what is waiting, a bounded number of datagrams per wake-up so a flood cannot starve the I/O thread.
  void drain() {
    const std::uint64_t gen = generation;
    for (int i = 0; i < 64 && gen == generation; ++i) {
      const auto a = receive();
      if (!a) return;
      handle(*a);
    }
  }

  bool seen(const std::string& message_id, Clock::time_point now) {
    while (!recent.empty() && (recent.size() > recent_ids || now - recent.front().second > recent_for)) {
      recent.pop_front();
    }
    if (std::any_of(recent.begin(), recent.end(), [&](const auto& r) { return r.first == message_id; })) return true;
    recent.emplace_back(message_id, now);
    return false;
  }

  bool allowed(const asio::ip::address_v4& source, Clock::time_point now) {
    const std::string key = source.to_string();
    auto it = per_source.find(key);
    if (it == per_source.end()) {
      if (per_source.size() >= max_sources) {
        // Forget sources idle for a second: their buckets are full again, as a new one would be.
        std::erase_if(per_source, [&](const auto& e) { return now - e.second.last > std::chrono::seconds(1); });
        if (per_source.size() >= max_sources) return false;
      }
      it = per_source.emplace(key, Bucket{}).first;
    }
    return it->second.take(opt.replies_per_source, now) && global.take(opt.replies_per_second, now);
  }

  void limited(const Arrival& a, Clock::time_point now) {
    ++stats.rate_limited;
    ++limited_since_log;
    if (now - last_rate_log >= rate_log_every) {
      log::warn("discovery.rate_limited", {{"from", a.from.address().to_string()}, {"dropped", limited_since_log}});
      limited_since_log = 0;
      last_rate_log = now;
    }
  }

  void handle(const Arrival& a) {
    const auto now = Clock::now();
    if (a.truncated || a.size > max_request_bytes) {
      ++stats.rejected;
      log::debug("discovery.ignored",
                 {{"from", a.from.address().to_string()}, {"reason", "datagram too long"}, {"bytes", a.size}});
      return;
    }
    auto parsed = parse_request(std::string_view(buffer.data(), a.size));
    if (const auto* r = std::get_if<Rejected>(&parsed)) {
      ++stats.rejected;
      log::debug("discovery.ignored", {{"from", a.from.address().to_string()}, {"reason", r->reason}});
      return;
    }
    ++stats.requests;
    const bool match = std::visit(
        [&](const auto& req) {
          using T = std::decay_t<decltype(req)>;
          if constexpr (std::is_same_v<T, Probe>) return probe_matches(req, info);
          if constexpr (std::is_same_v<T, Resolve>) return resolve_matches(req, info);
          return false;
        },
        parsed);
    if (!match || a.local.is_unspecified()) return;
    const std::string& id = std::holds_alternative<Probe>(parsed) ? std::get<Probe>(parsed).message_id
                                                                  : std::get<Resolve>(parsed).message_id;
    if (seen(id, now)) return;  // SOAP-over-UDP repeats a message with the same MessageID
    if (pending.size() >= opt.max_pending || !allowed(a.from.address().to_v4(), now)) {
      limited(a, now);
      return;
    }
    // WS-Discovery §5.3: a reply to a multicast request waits a random time up to APP_MAX_DELAY, so that many
    // devices answering at once do not collide; a unicast request is answered at once.
    std::chrono::milliseconds delay{0};
    if (a.multicast && opt.max_delay.count() > 0) {
      delay = std::chrono::milliseconds(std::uniform_int_distribution<long>(0, opt.max_delay.count())(rng));
    }
    Pending p{now + delay, a.from, a.local, {}};
    if (auto* probe = std::get_if<Probe>(&parsed)) {
      p.request = std::move(*probe);
    } else {
      p.request = std::move(std::get<Resolve>(parsed));
    }
    pending.push_back(std::move(p));
    std::push_heap(pending.begin(), pending.end(), later);
    arm_reply_timer();
  }

  void arm_reply_timer() {
    if (pending.empty()) return;
    reply_timer.expires_at(pending.front().due);
    reply_timer.async_wait([self = shared_from_this(), gen = generation](boost::system::error_code ec) {
      // operation_aborted: re-armed for an earlier reply, whose wait takes over.
      if (ec || gen != self->generation) return;
      self->send_due();
    });
  }

  void send_due() {
    const auto now = Clock::now();
    while (!pending.empty() && pending.front().due <= now) {
      std::pop_heap(pending.begin(), pending.end(), later);
      Pending p = std::move(pending.back());
      pending.pop_back();
      const auto x = xaddrs_for(p.local);
      if (x.empty()) {
        log::debug("discovery.no_xaddrs", {{"local", p.local.to_string()}});
        continue;
      }
      const std::string reply = std::visit(
          [&](const auto& req) {
            using T = std::decay_t<decltype(req)>;
            if constexpr (std::is_same_v<T, Probe>) {
              return build_probe_match(req, info, x, next_sequence());
            } else {
              return build_resolve_match(req, info, x, next_sequence());
            }
          },
          p.request);
      if (send(reply, p.to, &p.local)) ++stats.replies;
    }
    arm_reply_timer();
  }
};

Discovery::Discovery(asio::io_context& io, DiscoveryInfo info, XAddrsFor xaddrs, DiscoveryOptions options)
    : impl_(std::make_shared<Impl>(io, std::move(info), std::move(xaddrs), std::move(options))) {}

Discovery::~Discovery() {
  stop();
}

std::optional<std::string> Discovery::start() {
  if (impl_->started) return std::nullopt;
  impl_->started = true;
  if (!impl_->discoverable) return std::nullopt;
  auto error = impl_->open();
  if (error) {
    impl_->started = false;
    return error;
  }
  log::info("discovery.started",
            {{"port", impl_->opt.port}, {"interfaces", impl_->joined.size()}, {"endpoint", impl_->info.endpoint}});
  return std::nullopt;
}

void Discovery::stop() {
  if (!impl_->started) return;
  impl_->started = false;
  if (impl_->socket.is_open()) {
    impl_->bye_all();
    impl_->close();
    log::info("discovery.stopped");
  }
}

void Discovery::set_info(DiscoveryInfo info) {
  Impl& d = *impl_;
  const bool changed = info.scopes != d.info.scopes || info.endpoint != d.info.endpoint;
  if (changed && info.metadata_version <= d.info.metadata_version) info.metadata_version = d.info.metadata_version + 1;
  if (!changed) info.metadata_version = d.info.metadata_version;  // nothing new to announce
  d.info = std::move(info);
  if (changed && d.socket.is_open()) {
    for (const auto& itf : d.joined) d.hello(itf);
  }
}

std::optional<std::string> Discovery::set_discoverable(bool on) {
  Impl& d = *impl_;
  if (on == d.discoverable) return std::nullopt;
  d.discoverable = on;
  log::notice("discovery.mode", {{"discoverable", on}});
  if (!d.started) return std::nullopt;
  if (!on) {
    d.bye_all();
    d.close();
    return std::nullopt;
  }
  auto error = d.open();
  if (error) d.discoverable = false;
  return error;
}

bool Discovery::discoverable() const {
  return impl_->discoverable;
}

DiscoveryStats Discovery::stats() const {
  return impl_->stats;
}

}  // namespace freehold::onvif
