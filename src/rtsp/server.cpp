// SPDX-License-Identifier: GPL-3.0-or-later
#include "rtsp/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <deque>
#include <list>
#include <map>

#include "core/crypto.hpp"
#include "core/legacy_auth.hpp"
#include "core/log.hpp"
#include "media/stream_tap.hpp"
#include "net/listener.hpp"
#include "rtsp/digest.hpp"
#include "rtsp/message.hpp"
#include "rtsp/rtcp.hpp"
#include "rtsp/rtp_h264.hpp"
#include "rtsp/rtp_jpeg.hpp"
#include "rtsp/sdp.hpp"

namespace freehold::rtsp {

namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;
using asio::ip::udp;
using namespace asio::experimental::awaitable_operators;
using Clock = std::chrono::steady_clock;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

namespace {

// A request URI for the audit log: clients put credentials in it (rtsp://user:password@host/...), which must never
// be recorded.
std::string without_userinfo(std::string_view uri) {
  const auto scheme = uri.find("://");
  if (scheme == std::string_view::npos) return std::string(uri);
  const auto authority = scheme + 3;
  const auto end = uri.find('/', authority);
  const auto at = uri.rfind('@', end == std::string_view::npos ? uri.size() : end);
  if (at == std::string_view::npos || at < authority) return std::string(uri);
  return std::string(uri.substr(0, authority)) + std::string(uri.substr(at + 1));
}

constexpr std::string_view kServerName = "freeholdd";
constexpr std::size_t kBatchFrames = 32;
constexpr std::chrono::seconds kWriteStall{10};
constexpr std::chrono::seconds kSenderReportInterval{5};

// One frame of one stream, packetized once for every session.
struct RtpFrame {
  bool keyframe = false;
  std::uint64_t sequence = 0;
  std::int64_t encoded_us = 0;
  RtpBurst burst;
};
using RtpRing = media::Ring<RtpFrame>;

// The stream name and whether a track was named, from "rtsp://host:port/main[/trackID=0]".
std::optional<std::string> stream_of(std::string_view uri) {
  if (auto scheme = uri.find("://"); scheme != std::string_view::npos) {
    uri.remove_prefix(scheme + 3);
    auto slash = uri.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    uri.remove_prefix(slash);
  }
  if (uri.empty() || uri[0] != '/') return std::nullopt;
  uri.remove_prefix(1);
  if (auto q = uri.find('?'); q != std::string_view::npos) uri = uri.substr(0, q);
  return std::string(uri.substr(0, uri.find('/')));
}

std::uint32_t random_u32() {
  return static_cast<std::uint32_t>(std::stoul(crypto::hex(crypto::random_bytes(4)), nullptr, 16));
}

}  // namespace

// Packetizes a stream's frames once, in the payload format of their codec, and wakes the sessions that play it.
struct Fanout : media::StreamTap<RtpFrame> {
  std::uint32_t ssrc;
  H264Packetizer h264;
  JpegPacketizer jpeg;
  std::optional<media::Codec> codec;  // of the latest frame: what DESCRIBE announces
  std::uint64_t params_generation = 0;  // the stream's encoder generation the H.264 parameter sets come from
  std::string unsendable;             // why the latest frame could not be packetized ("" if it was)
  std::string unsendable_logged;      // the last reason logged
  std::uint64_t unsendable_frames = 0;
  std::uint32_t timestamp_offset;
  bool refused = false;  // privacy mode or stream disabled: decided once per frame, read by every session

  explicit Fanout(media::VideoStream* s)
      : StreamTap(s), ssrc(random_u32()), h264(ssrc), jpeg(ssrc), timestamp_offset(random_u32()) {}

  // Whether DESCRIBE can answer: H.264 needs the parameter sets of the encoder that runs now (a live change may
  // have swapped it, on an idle stream too, since the last ones were seen), MJPEG a frame that could be packetized.
  [[nodiscard]] bool describable() const {
    if (!codec) return false;
    if (*codec == media::Codec::h264) {
      // reconfiguring() before generation(): the stream bumps the generation before it clears the request.
      return !h264.sps().empty() && !stream->reconfiguring() && params_generation == stream->generation();
    }
    return unsendable.empty() && ring.end() > 0;
  }

  // The RTP timestamp of this instant, on the same clock as the frames' (capture time).
  [[nodiscard]] std::uint32_t rtp_now() const {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch()).count();
    return timestamp_offset + static_cast<std::uint32_t>(us * 9 / 100);
  }
  void pump() {
    std::vector<media::FramePtr> frames;
    take(frames);
    for (const auto& f : frames) {
      RtpFrame r;
      r.keyframe = f->keyframe;
      r.encoded_us = f->encoded_us;
      // RTP's 90 kHz clock from the capture time, so timestamps follow real time even when frames are dropped.
      const auto ts = timestamp_offset + static_cast<std::uint32_t>(f->capture_us * 9 / 100);
      codec = f->codec;
      if (f->codec == media::Codec::h264) {
        if (f->generation != params_generation) {
          h264.forget_parameter_sets();
          params_generation = f->generation;
        }
        r.burst = h264.pack(f->data, ts);
      } else if (auto err = jpeg.pack(f->data, ts, r.burst)) {
        // A camera's JPEG that RFC 2435 cannot carry: logged once per distinct reason, not once per frame.
        ++unsendable_frames;
        if (*err != unsendable_logged) {
          log::warn("rtsp.frame_unsendable", {{"stream", stream->name()}, {"error", *err},
                                              {"frames_so_far", unsendable_frames}});
          unsendable_logged = *err;
        }
        unsendable = *err;
        continue;
      }
      unsendable.clear();
      ring.publish(std::move(r));
    }
    if (frames.empty()) return;
    wake_all();
  }
};

struct Session {
  std::string id;
  Fanout* fanout = nullptr;
  bool tcp = true;
  std::uint8_t channel = 0;  // interleaved RTP channel
  // Shared with a send in flight, so a TEARDOWN during it cannot destroy the socket under it.
  struct UdpPair {
    udp::socket rtp, rtcp;
  };
  std::shared_ptr<UdpPair> udp;
  udp::endpoint client_rtp, client_rtcp;
  bool playing = false;
  media::RingCursor cursor;
  std::uint32_t packets_sent = 0;  // for RTCP sender reports
  std::uint32_t octets_sent = 0;
  Clock::time_point last_report;
};

// What one session is due now: the shared bursts (or copies with its channel patched in) and maybe a sender report.
// Reused from batch to batch, so sending allocates nothing in the steady state.
struct Batch {
  std::vector<RtpRing::Ptr> frames;
  std::vector<asio::const_buffer> buffers;         // TCP: the whole batch, in order
  std::vector<std::vector<std::uint8_t>> patched;  // bursts copied for a session on another channel
  std::array<std::uint8_t, 4 + 28> report{};       // interleaved prefix + RTCP sender report
  bool has_report = false;
};

// RTSP over TCP, or RTSPS: the same protocol inside TLS on its own port.
struct Connection {
  std::optional<tcp::socket> plain;
  std::optional<asio::ssl::stream<tcp::socket>> tls;
  std::string remote;
  std::uint16_t remote_port = 0, local_port = 0;
  MessageParser parser;
  std::deque<std::string> out;  // serialized responses, written before any media
  asio::steady_timer wake;
  Clock::time_point last_rx = Clock::now();
  std::optional<Clock::time_point> write_started;
  bool closing = false;
  std::optional<Session> session;
  std::string user;  // authenticated user, for the audit
  std::uint64_t waker_id = 0;
  Batch batch;
  bool parked = false;      // the writer waits for frames: the fan-out may send for it directly (plain TCP)
  bool has_carry = false;   // the fan-out sent part of `batch`; the writer sends the rest first
  std::size_t carry = 0;    // bytes of `batch.buffers` already sent

  Connection(tcp::socket s, asio::ssl::context* tls_context, std::string r)
      : remote(std::move(r)), wake(s.get_executor()) {
    if (tls_context) {
      tls.emplace(std::move(s), *tls_context);
    } else {
      plain.emplace(std::move(s));
    }
    wake.expires_at(Clock::time_point::max());
  }
  tcp::socket& socket() { return tls ? tls->next_layer() : *plain; }
};

struct Server::Impl {
  asio::io_context& io;
  Dependencies deps;
  ServerOptions options;
  std::vector<std::unique_ptr<Fanout>> fanouts;
  DigestAuth digest;
  LegacyAuth legacy;
  std::optional<tcp::acceptor> acceptor;
  std::optional<tcp::acceptor> tls_acceptor;
  std::list<Connection*> connections;
  net::ConnectionLimit limit;  // both listeners share it
  std::uint16_t next_udp_port;
  std::uint64_t session_serial = 0;
  ServerStats totals;
  LatencyHistogram send_latency;

  // The newest frame of a batch is out: how long since it left the encoder.
  void sent(const Batch& b) {
    if (b.frames.empty()) return;
    const auto now = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch()).count();
    send_latency.record(now - b.frames.back()->encoded_us);
  }
  bool stopping = false;

  Impl(asio::io_context& i, std::vector<media::VideoStream*> streams, Dependencies d, ServerOptions o)
      : io(i),
        deps(d),
        options(std::move(o)),
        digest("Freehold", crypto::random_bytes(32)),
        legacy(d.accounts, d.lockout, d.audit),
        limit(options.max_sessions),
        next_udp_port(static_cast<std::uint16_t>(options.udp_port_first & ~1u)) {
    for (auto* s : streams) fanouts.push_back(std::make_unique<Fanout>(s));
  }

  Fanout* find(std::string_view name) {
    for (auto& f : fanouts) {
      if (f->stream->name() == name) return f.get();
    }
    return nullptr;
  }

  void queue(Connection& c, const Response& r, std::string_view cseq) {
    c.out.push_back(serialize(r, cseq, kServerName, std::chrono::system_clock::now()));
    c.wake.cancel();
  }

  // nullopt: the request may proceed. Otherwise the refusal to send. Digest always; Basic only inside TLS, where
  // the password is not in the clear.
  std::optional<Response> authorize(Connection& c, const Request& req) {
    if (const auto* t = deps.tunnels ? deps.tunnels->find(c.remote, c.remote_port, c.local_port) : nullptr) {
      if (c.user != t->user()) {
        c.user = t->user();
        deps.audit.record(c.user, "relay", "rtsp_login", without_userinfo(req.uri));
      }
      return std::nullopt;  // every role may watch
    }
    const auto now = Clock::now();
    Response challenge;
    challenge.status = 401;
    challenge.header("WWW-Authenticate", digest.challenge(now));
    if (c.tls) challenge.header("WWW-Authenticate", digest.basic_challenge());
    auto auth = req.header("Authorization");
    if (!auth) return challenge;
    std::optional<DigestCredentials> dcreds;
    std::optional<BasicCredentials> bcreds;
    if (auth_scheme(*auth) == AuthScheme::digest) dcreds = parse_digest_authorization(*auth);
    if (auth_scheme(*auth) == AuthScheme::basic && c.tls) bcreds = parse_basic_authorization(*auth);
    if (!dcreds && !bcreds) return challenge;
    const std::string& username = dcreds ? dcreds->username : bcreds->username;
    bool stale = false;
    const auto outcome = legacy.check("rtsp", c.remote, username,
                                      [&](std::string_view secret, std::string& why) {
                                        DigestVerdict verdict = DigestVerdict::wrong_response;
                                        if (dcreds) {
                                          verdict = digest.verify(*dcreds, req.method, req.uri, secret, now);
                                        } else if (crypto::equal_constant_time(bcreds->password, secret)) {
                                          verdict = DigestVerdict::ok;
                                        }
                                        why = to_string(verdict);
                                        stale = verdict == DigestVerdict::stale;
                                        return verdict == DigestVerdict::ok ? Proof::ok
                                               : stale                      ? Proof::retry
                                                                            : Proof::wrong;
                                      });
    using Status = LegacyOutcome::Status;
    if (outcome.status == Status::locked) {
      Response r;
      r.status = 403;
      r.body = "too many failed attempts; try again in " + std::to_string(outcome.retry_after_s) + " seconds\n";
      r.header("Content-Type", "text/plain");
      return r;
    }
    if (outcome.status == Status::ok) {
      if (c.user != username) {
        c.user = username;
        deps.audit.record("user:" + c.user, c.remote, c.tls ? "rtsps_login" : "rtsp_login", without_userinfo(req.uri));
      }
      return std::nullopt;
    }
    if (outcome.status == Status::retry) {
      challenge.headers.clear();
      challenge.header("WWW-Authenticate", digest.challenge(now, true));
      if (c.tls) challenge.header("WWW-Authenticate", digest.basic_challenge());
      return challenge;
    }
    ++totals.auth_failures;
    return challenge;
  }

  // Where DESCRIBE and PLAY refuse: unknown or disabled stream, privacy mode.
  std::optional<Response> stream_refusal(const std::optional<std::string>& name, Fanout*& fan) {
    fan = name ? find(*name) : nullptr;
    auto why = freehold::stream_refusal(deps.model.config(), name ? *name : std::string());
    if (fan && !why) return std::nullopt;
    Response r;
    r.header("Content-Type", "text/plain");
    r.status = !fan || why->unknown ? 404 : 503;
    r.body = !fan || why->unknown ? "no such stream; try /main or /sub\n" : why->message + "\n";
    return r;
  }

  // Runs the stream until DESCRIBE can answer (the codec and, for H.264, the parameter sets are known), 3 s at most.
  // The wait ends early, with an exception, when the connection ends (its writer failed, the peer is gone); the
  // stream must then go idle again all the same.
  awaitable<bool> wait_until_describable(Fanout& fan) {
    if (fan.describable()) co_return true;
    const Fanout::Use running(fan);
    asio::steady_timer t(io);
    for (int i = 0; i < 150 && !fan.describable() && !stopping; ++i) {
      t.expires_after(std::chrono::milliseconds(20));
      co_await t.async_wait(tuple_awaitable);
    }
    co_return fan.describable();
  }

  std::optional<std::string> open_udp(Session& s, const asio::ip::address& local) {
    const int span = (options.udp_port_last - options.udp_port_first + 1) / 2;
    for (int attempt = 0; attempt < std::min(span, 200); ++attempt) {
      const std::uint16_t port = next_udp_port;
      next_udp_port = static_cast<std::uint16_t>(port + 2 > options.udp_port_last ? options.udp_port_first & ~1u
                                                                                   : port + 2);
      boost::system::error_code ec;
      udp::socket rtp(io), rtcp(io);
      rtp.open(local.is_v6() ? udp::v6() : udp::v4(), ec);
      if (!ec) rtp.bind({local, port}, ec);
      if (!ec) rtcp.open(local.is_v6() ? udp::v6() : udp::v4(), ec);
      if (!ec) rtcp.bind({local, static_cast<std::uint16_t>(port + 1)}, ec);
      if (ec) continue;
      s.udp = std::make_shared<Session::UdpPair>(Session::UdpPair{std::move(rtp), std::move(rtcp)});
      return std::nullopt;
    }
    return "no free UDP port pair in " + std::to_string(options.udp_port_first) + "-" +
           std::to_string(options.udp_port_last);
  }

  void end_session(Connection& c) {
    if (!c.session) return;
    if (c.session->playing) {
      c.session->fanout->release();
      totals.frames_dropped += c.session->cursor.dropped;
    }
    if (c.waker_id) c.session->fanout->remove_waker(c.waker_id);
    c.waker_id = 0;
    c.session.reset();
  }

  awaitable<void> handle(Connection& c, const Request& req) {
    Response r;
    const auto& cseq = req.cseq;
    if (req.method == "OPTIONS") {
      r.header("Public", "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER");
      queue(c, r, cseq);
      co_return;
    }
    static const std::vector<std::string_view> known = {"DESCRIBE", "SETUP", "PLAY", "PAUSE", "TEARDOWN",
                                                        "GET_PARAMETER", "SET_PARAMETER"};
    if (std::find(known.begin(), known.end(), req.method) == known.end()) {
      r.status = 501;
      queue(c, r, cseq);
      co_return;
    }
    if (auto refusal = authorize(c, req)) {
      queue(c, *refusal, cseq);
      co_return;
    }
    const auto name = stream_of(req.uri);
    if (req.method == "DESCRIBE") {
      Fanout* fan = nullptr;
      if (auto refusal = stream_refusal(name, fan)) {
        queue(c, *refusal, cseq);
        co_return;
      }
      const bool ready = co_await wait_until_describable(*fan);
      if (!ready) {
        r.status = 503;
        r.body = fan->unsendable.empty() ? "the stream has not produced a picture yet\n"
                                         : "the stream's pictures cannot be sent over RTP: " + fan->unsendable + "\n";
        queue(c, r, cseq);
        co_return;
      }
      boost::system::error_code ec;
      SdpVideo v;
      v.session_name = "Freehold " + *name;
      v.origin_address = c.socket().local_endpoint(ec).address().to_string();
      if (v.origin_address.starts_with("::ffff:")) v.origin_address = v.origin_address.substr(7);
      v.session_id = reinterpret_cast<std::uintptr_t>(fan) & 0xffffffff;
      if (fan->codec == media::Codec::mjpeg) {
        v.fps = fan->stream->fps();
        r.body = describe_jpeg(v);
      } else {
        v.sps = fan->h264.sps();
        v.pps = fan->h264.pps();
        r.body = describe_h264(v);
      }
      r.header("Content-Type", "application/sdp");
      r.header("Content-Base", req.uri.ends_with('/') ? req.uri : req.uri + "/");
      queue(c, r, cseq);
      co_return;
    }
    // Session-bound methods: the Session header must name this connection's session.
    auto session_header = req.header("Session");
    auto named = session_header ? parse_session(*session_header) : std::nullopt;
    const bool session_matches = c.session && named && named->id == c.session->id;
    if (req.method == "SETUP") {
      Fanout* fan = nullptr;
      if (auto refusal = stream_refusal(name, fan)) {
        queue(c, *refusal, cseq);
        co_return;
      }
      if (c.session && (!session_matches || c.session->fanout != fan)) {
        r.status = 459;  // Aggregate Operation Not Allowed: one stream (one track) per session
        queue(c, r, cseq);
        co_return;
      }
      std::string why;
      // Inside TLS the media stays inside TLS: UDP would send it in the clear.
      TransportSupport support;
      support.udp = !c.tls;
      auto t = choose_transport(req.header("Transport").value_or(""), support, &why);
      if (!t) {
        r.status = 461;
        r.body = why + "\n";
        queue(c, r, cseq);
        co_return;
      }
      if (!c.session) {
        c.session.emplace();
        c.session->id = crypto::hex(crypto::random_bytes(8));
      }
      Session& s = *c.session;
      s.fanout = fan;
      Transport reply = *t;
      reply.ssrc = std::nullopt;
      if (t->lower == LowerTransport::tcp) {
        s.tcp = true;
        s.channel = t->interleaved ? t->interleaved->first : 0;
        reply.interleaved = PortRange{s.channel, static_cast<std::uint16_t>(s.channel + 1)};
      } else {
        boost::system::error_code ec;
        const auto local = c.socket().local_endpoint(ec).address();
        if (auto err = open_udp(s, local)) {
          r.status = 453;  // Not Enough Bandwidth: the closest RFC 2326 has to "out of ports"
          r.body = *err + "\n";
          queue(c, r, cseq);
          co_return;
        }
        s.tcp = false;
        const auto peer = c.socket().remote_endpoint(ec).address();
        const auto cp = *t->client_port;
        s.client_rtp = udp::endpoint(peer, cp.first);
        s.client_rtcp = udp::endpoint(peer, cp.last != cp.first ? cp.last : static_cast<std::uint16_t>(cp.first + 1));
        const auto port = s.udp->rtp.local_endpoint(ec).port();
        reply.server_port = PortRange{port, static_cast<std::uint16_t>(port + 1)};
      }
      r.header("Transport", format_transport(reply));
      r.header("Session", format_session({s.id, static_cast<std::uint32_t>(options.session_timeout.count())}));
      queue(c, r, cseq);
      co_return;
    }
    if (req.method == "GET_PARAMETER" || req.method == "SET_PARAMETER") {  // keep-alive
      if (c.session) r.header("Session", c.session->id);
      queue(c, r, cseq);
      co_return;
    }
    if (!session_matches) {
      r.status = 454;
      queue(c, r, cseq);
      co_return;
    }
    Session& s = *c.session;
    if (req.method == "PLAY") {
      Fanout* fan = nullptr;
      if (auto refusal = stream_refusal(std::string(s.fanout->stream->name()), fan)) {
        queue(c, *refusal, cseq);
        co_return;
      }
      if (!s.playing) {
        s.fanout->acquire();
        s.cursor = s.fanout->join();
        s.playing = true;
        c.waker_id = s.fanout->add_waker([this, &c] { deliver(c); });
      }
      r.header("Session", s.id);
      r.header("Range", "npt=now-");
      r.header("RTP-Info", "url=" + req.uri);
      queue(c, r, cseq);
      co_return;
    }
    if (req.method == "PAUSE") {
      if (s.playing) {
        s.playing = false;
        s.fanout->release();
        s.fanout->remove_waker(c.waker_id);
        c.waker_id = 0;
      }
      r.header("Session", s.id);
      queue(c, r, cseq);
      co_return;
    }
    // TEARDOWN
    end_session(c);
    queue(c, r, cseq);
  }

  awaitable<void> read_loop(Connection& c) {
    std::array<char, 4096> buf;
    for (;;) {
      boost::system::error_code ec;
      std::size_t n = 0;
      if (c.tls) {
        std::tie(ec, n) = co_await c.tls->async_read_some(asio::buffer(buf), tuple_awaitable);
      } else {
        std::tie(ec, n) = co_await c.plain->async_read_some(asio::buffer(buf), tuple_awaitable);
      }
      if (ec) co_return;
      c.last_rx = Clock::now();
      std::string_view data(buf.data(), n);
      while (!data.empty() && !c.closing) {
        data.remove_prefix(c.parser.feed(data));
        while (auto msg = c.parser.next()) {
          if (auto* req = std::get_if<Request>(&*msg)) co_await handle(c, *req);
        }
        if (const auto& failure = c.parser.failure()) {
          Response r;
          r.status = failure->status;
          r.body = failure->message + "\n";
          queue(c, r, "");
          c.closing = true;  // the writer sends the answer, then ends the connection
        }
      }
    }
  }

  awaitable<bool> send(Connection& c, const std::vector<asio::const_buffer>& buffers) {
    c.write_started = Clock::now();
    boost::system::error_code ec;
    std::size_t n = 0;
    if (c.tls) {
      std::tie(ec, n) = co_await asio::async_write(*c.tls, buffers, tuple_awaitable);
    } else {
      std::tie(ec, n) = co_await asio::async_write(*c.plain, buffers, tuple_awaitable);
    }
    c.write_started.reset();
    co_return !ec;
  }

  // Takes what session `s` is due into `c.batch`: false if nothing. Counts, logs a reader that fell behind, adds a
  // sender report every few seconds, and for TCP lays out the buffers of one gathered write.
  bool take_batch(Connection& c, Session& s) {
    Batch& b = c.batch;
    b.frames.clear();
    const auto max_lag = media::reader_max_lag(s.fanout->stream->fps());
    const auto dropped_before = s.cursor.dropped;
    s.fanout->ring.read(s.cursor, b.frames, max_lag, kBatchFrames);
    if (s.cursor.dropped != dropped_before) {
      log::warn("rtsp.reader_too_slow", {{"remote", c.remote},
                                         {"stream", s.fanout->stream->name()},
                                         {"dropped_frames", s.cursor.dropped - dropped_before},
                                         {"dropped_total", s.cursor.dropped}});
    }
    if (b.frames.empty()) return false;
    totals.frames_sent += b.frames.size();
    for (const auto& f : b.frames) {
      s.packets_sent += static_cast<std::uint32_t>(f->burst.packets());
      s.octets_sent += static_cast<std::uint32_t>(f->burst.payload_bytes());
    }
    // A sender report every few seconds maps RTP time to wall-clock time for the receiver.
    b.has_report = Clock::now() - s.last_report >= kSenderReportInterval;
    if (b.has_report) {
      s.last_report = Clock::now();
      const auto sr = build_sender_report({s.fanout->ssrc, std::chrono::system_clock::now(), s.fanout->rtp_now(),
                                           s.packets_sent, s.octets_sent});
      b.report = {'$', static_cast<std::uint8_t>(s.channel + 1), 0, 28};
      std::copy(sr.begin(), sr.end(), b.report.begin() + 4);
    }
    if (s.tcp) {
      b.buffers.clear();
      b.patched.clear();
      for (const auto& f : b.frames) {
        if (s.channel == 0) {
          b.buffers.emplace_back(asio::buffer(f->burst.bytes));
          continue;
        }
        auto& copy = b.patched.emplace_back(f->burst.bytes);
        for (auto off : f->burst.offsets) copy[off + 1] = s.channel;
        b.buffers.emplace_back(asio::buffer(copy));
      }
      if (b.has_report) b.buffers.emplace_back(asio::buffer(b.report));
    }
    return true;
  }

  // A new frame for a playing session. The fast path: a plain TCP session whose writer is idle gets the frame with
  // one non-blocking sendmsg right here, without waking its coroutine; what the socket does not take, the writer
  // sends. Everything else just wakes the writer.
  void deliver(Connection& c) {
    const bool direct = c.parked && c.plain && c.out.empty() && !c.has_carry && !c.closing && c.session &&
                        c.session->playing && c.session->tcp && !c.session->fanout->refused;
    if (!direct) {
      c.wake.cancel();
      return;
    }
    if (!take_batch(c, *c.session)) return;
    boost::system::error_code ec;
    const std::size_t written = c.plain->send(c.batch.buffers, 0, ec);
    if (!ec && written == asio::buffer_size(c.batch.buffers)) {
      sent(c.batch);
      return;  // all out; the writer stays parked
    }
    c.carry = ec ? 0 : written;
    c.has_carry = true;
    c.wake.cancel();
  }

  awaitable<void> write_loop(Connection& c) {
    std::vector<asio::const_buffer> buffers;
    for (;;) {
      if (c.has_carry) {
        // First the rest of a batch the fan-out began: nothing may come between the bytes of one RTP packet.
        buffers.clear();
        std::size_t skip = c.carry;
        for (const auto& b : c.batch.buffers) {
          if (skip >= b.size()) {
            skip -= b.size();
            continue;
          }
          buffers.push_back(b + skip);
          skip = 0;
        }
        c.has_carry = false;
        if (!co_await send(c, buffers)) co_return;
        sent(c.batch);
        continue;
      }
      if (!c.out.empty()) {
        std::deque<std::string> pending;
        pending.swap(c.out);
        buffers.clear();
        for (const auto& s : pending) buffers.emplace_back(asio::buffer(s));
        if (!co_await send(c, buffers)) co_return;
        continue;
      }
      if (c.closing) co_return;
      if (c.session && c.session->playing) {
        Session& s = *c.session;
        // Privacy mode, or the stream switched off, ends playing sessions at once: not one more frame leaves.
        if (s.fanout->refused) {
          log::info("rtsp.session_stopped", {{"remote", c.remote}, {"reason", "privacy mode or stream disabled"}});
          co_return;
        }
        if (take_batch(c, s)) {
          if (s.tcp) {
            if (!co_await send(c, c.batch.buffers)) co_return;
            sent(c.batch);
          } else {
            // The session may end (TEARDOWN, PAUSE) while a datagram is in flight: hold the sockets, copy what
            // is needed, and re-check after every send.
            const auto udp_pair = s.udp;
            const std::string id = s.id;
            const auto to_rtp = s.client_rtp, to_rtcp = s.client_rtcp;
            auto still_playing = [&c, &id] { return c.session && c.session->id == id && c.session->playing; };
            for (const auto& f : c.batch.frames) {
              for (std::size_t i = 0; i < f->burst.packets() && still_playing(); ++i) {
                auto pkt = f->burst.packet(i);
                auto [ec, n] = co_await udp_pair->rtp.async_send_to(asio::buffer(pkt.data(), pkt.size()), to_rtp,
                                                                   tuple_awaitable);
                if (ec && ec != asio::error::connection_refused && still_playing()) co_return;
              }
            }
            if (still_playing()) sent(c.batch);
            if (c.batch.has_report && still_playing()) {
              auto [ec, n] = co_await udp_pair->rtcp.async_send_to(asio::buffer(c.batch.report.data() + 4, 28),
                                                                   to_rtcp, tuple_awaitable);
              if (ec && ec != asio::error::connection_refused && still_playing()) co_return;
            }
          }
          continue;
        }
      }
      c.parked = true;
      c.wake.expires_at(Clock::time_point::max());
      co_await c.wake.async_wait(tuple_awaitable);
      c.parked = false;
    }
  }

  // Ends a connection that shows no sign of life, or whose writes have stalled.
  awaitable<void> watchdog(Connection& c) {
    asio::steady_timer t(io);
    for (;;) {
      t.expires_after(std::chrono::seconds(1));
      co_await t.async_wait(tuple_awaitable);
      const auto now = Clock::now();
      if (c.session && c.session->udp) {  // receiver reports on the UDP RTCP port show the client is alive
        boost::system::error_code ec;
        std::array<std::uint8_t, 1500> rr;
        auto& rtcp = c.session->udp->rtcp;
        rtcp.non_blocking(true, ec);
        bool any = false;
        while (rtcp.available(ec) > 0 && !ec) any |= rtcp.receive(asio::buffer(rr), 0, ec) > 0;
        if (any) c.last_rx = now;
      }
      const auto idle_limit = c.session ? options.session_timeout : options.request_timeout * 6;
      if (now - c.last_rx > idle_limit) co_return;
      if (c.write_started && now - *c.write_started > kWriteStall) co_return;
      if (stopping) co_return;
    }
  }

  // The TLS handshake of an RTSPS connection, within the request deadline.
  awaitable<bool> handshake(Connection& c) {
    asio::steady_timer deadline(io);
    deadline.expires_after(options.request_timeout);
    auto result = co_await (c.tls->async_handshake(asio::ssl::stream_base::server, tuple_awaitable) ||
                            deadline.async_wait(tuple_awaitable));
    if (result.index() == 1) {
      log::info("rtsps.handshake_failed", {{"remote", c.remote}, {"error", "timed out"}});
      co_return false;
    }
    auto [ec] = std::get<0>(result);
    if (ec) log::info("rtsps.handshake_failed", {{"remote", c.remote}, {"error", ec.message()}});
    co_return !ec;
  }

  // `slot` holds the connection's place under the session limit until it ends.
  awaitable<void> connection(tcp::socket socket, bool secure,
                             [[maybe_unused]] net::ConnectionSlot slot) {
    boost::system::error_code ec;
    std::string remote = socket.remote_endpoint(ec).address().to_string();
    if (remote.starts_with("::ffff:")) remote = remote.substr(7);
    const std::uint16_t remote_port = socket.remote_endpoint(ec).port();
    const std::uint16_t local_port = socket.local_endpoint(ec).port();
    Connection c(std::move(socket), secure ? options.tls : nullptr, std::move(remote));
    c.remote_port = remote_port;
    c.local_port = local_port;
    if (c.plain) c.plain->non_blocking(true, ec);  // for the fan-out's direct sends; Asio's own I/O copes
    auto reg = connections.insert(connections.end(), &c);
    try {
      if (!c.tls || co_await handshake(c)) co_await (read_loop(c) || write_loop(c) || watchdog(c));
    } catch (const std::exception& e) {
      log::error("rtsp.connection_failed", {{"remote", c.remote}, {"error", e.what()}});
    }
    end_session(c);
    connections.erase(reg);
    c.socket().close(ec);
  }

};

Server::Server(asio::io_context& io, std::vector<media::VideoStream*> streams, Dependencies deps,
               ServerOptions options)
    : impl_(std::make_unique<Impl>(io, std::move(streams), deps, std::move(options))) {
  for (auto& f : impl_->fanouts) {
    Fanout* fan = f.get();
    Impl* impl = impl_.get();
    // Runs on the stream's thread: hand the work to the I/O thread.
    fan->listener = fan->stream->add_on_frame([&io, fan, impl] {
      asio::post(io, [fan, impl] {
        if (impl->stopping) return;
        // Checked once per frame here, not once per session in every write loop.
        Fanout* same = nullptr;
        fan->refused = impl->stream_refusal(std::string(fan->stream->name()), same).has_value();
        fan->pump();
      });
    });
  }
}

Server::~Server() {
  for (auto& f : impl_->fanouts) f->detach();
}

std::optional<std::string> Server::start() {
  Impl* impl = impl_.get();
  // Both listeners share one session limit.
  auto serve = [impl](std::optional<tcp::acceptor>& slot, std::uint16_t port, bool secure) -> std::optional<std::string> {
    const char* name = secure ? "rtsps" : "rtsp";
    auto& acc = slot.emplace(impl->io);
    if (auto e = net::listen(acc, impl->options.bind_address, port)) {
      slot.reset();
      return std::string(name) + ": " + *e;
    }
    net::AcceptPolicy p{name, impl->limit, [impl] { return impl->stopping; },
                        [impl, secure](tcp::socket s, net::ConnectionSlot place) {
                          asio::co_spawn(impl->io, impl->connection(std::move(s), secure, std::move(place)),
                                         net::log_failure("rtsp"));
                        }};
    asio::co_spawn(impl->io, net::accept_loop(acc, std::move(p)), asio::detached);
    return std::nullopt;
  };
  if (impl->options.plain_enabled) {
    if (auto e = serve(impl->acceptor, impl->options.port, false)) return e;
  }
  if (impl->options.tls) {
    if (auto e = serve(impl->tls_acceptor, impl->options.tls_port, true)) return e;
  }
  return std::nullopt;
}

void Server::stop() {
  impl_->stopping = true;
  boost::system::error_code ec;
  if (impl_->acceptor) impl_->acceptor->close(ec);
  if (impl_->tls_acceptor) impl_->tls_acceptor->close(ec);
  for (auto* c : impl_->connections) {
    c->socket().close(ec);
    c->wake.cancel();
  }
}

std::uint16_t Server::port() const {
  boost::system::error_code ec;
  return impl_->acceptor ? impl_->acceptor->local_endpoint(ec).port() : 0;
}

std::uint16_t Server::tls_port() const {
  boost::system::error_code ec;
  return impl_->tls_acceptor ? impl_->tls_acceptor->local_endpoint(ec).port() : 0;
}

std::size_t Server::connections() const { return impl_->connections.size(); }

ServerStats Server::stats() const {
  ServerStats s = impl_->totals;
  s.send_latency = impl_->send_latency.summary();
  s.connections = impl_->connections.size();
  for (auto* c : impl_->connections) {
    if (c->session && c->session->playing) {
      ++s.sessions_playing;
      s.frames_dropped += c->session->cursor.dropped;
    }
  }
  return s;
}

}  // namespace freehold::rtsp
