// SPDX-License-Identifier: GPL-3.0-or-later
// Direct data connections on loopback (docs/relay-protocol.md, "Direct data connections"): the relay's Splice
// passes bytes, FINs and resets through unchanged; two DirectTunnels joined by a stand-in relay carry an
// application's bytes intact and half-close cleanly, and a relay that alters or cuts the stream makes the
// application see a reset, never altered data or a clean end.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "relay/direct.hpp"
#include "relay/identity.hpp"
#include "relay/noise.hpp"
#include "relay/sockets.hpp"
#include "relay/splice.hpp"

namespace freehold::relay {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;
using namespace std::chrono_literals;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

// Runs the loop until `done` holds, at most `limit`; false if it never did (a test that fails, never one that hangs).
bool run_until(asio::io_context& io, const std::function<bool()>& done, std::chrono::seconds limit = 20s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  io.restart();
  while (!done() && !io.stopped() && std::chrono::steady_clock::now() < deadline) io.run_one_for(50ms);
  return done();
}

// A connected loopback pair: first the side that dialled, then the accepted side.
std::pair<tcp::socket, tcp::socket> socket_pair(asio::io_context& io) {
  tcp::acceptor acceptor(io, {asio::ip::address_v4::loopback(), 0});
  tcp::socket dialled(io);
  dialled.connect(acceptor.local_endpoint());
  return {std::move(dialled), acceptor.accept()};
}

std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(gen());
  return out;
}

// A reset, as an application or relay that gives up would send it.
void reset(tcp::socket& s) {
  error_code ec;
  s.set_option(asio::socket_base::linger(true, 0), ec);
  s.close(ec);
}

// Everything one socket reads until its end, and how it ended: eof for a FIN, connection_reset for a reset.
struct Received {
  std::string data;
  error_code ec;
  bool done = false;
};

asio::awaitable<void> read_all(tcp::socket& s, Received& r) {
  std::vector<char> buf(1 << 16);
  for (;;) {
    auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), tuple_awaitable);
    r.data.append(buf.data(), n);
    if (ec) {
      r.ec = ec;
      r.done = true;
      co_return;
    }
  }
}

// Writes `data` in writes of `chunk` bytes, then sends a FIN if `fin`.
asio::awaitable<void> send(tcp::socket& s, std::string data, size_t chunk, bool fin) {
  for (size_t at = 0; at < data.size(); at += chunk) {
    auto [ec, n] = co_await asio::async_write(s, asio::buffer(data.data() + at, std::min(chunk, data.size() - at)),
                                              tuple_awaitable);
    if (ec) co_return;
  }
  error_code ec;
  if (fin) s.shutdown(tcp::socket::shutdown_send, ec);
}

// Two peers, a and b, whose connections' relay ends are joined by a Splice.
struct SpliceFixture {
  asio::io_context io;
  tcp::socket a{io}, b{io};
  Received at_a, at_b;
  std::optional<std::pair<uint64_t, bool>> ended;  // bytes, clean
  std::shared_ptr<Splice> splice;

  SpliceFixture() {
    auto [a_peer, a_leg] = socket_pair(io);
    auto [b_peer, b_leg] = socket_pair(io);
    a = std::move(a_peer);
    b = std::move(b_peer);
    splice = std::make_shared<Splice>(std::move(a_leg), std::move(b_leg),
                                      [this](uint64_t n, bool clean) { ended.emplace(n, clean); });
    std::string error;
    EXPECT_TRUE(splice->start(&error)) << error;
    asio::co_spawn(io, read_all(a, at_a), asio::detached);
    asio::co_spawn(io, read_all(b, at_b), asio::detached);
  }
  void send(tcp::socket& s, std::string data, bool fin) {
    asio::co_spawn(io, freehold::relay::send(s, std::move(data), 100'000, fin), asio::detached);
  }
};

TEST(RelaySessionSocket, NoDelayKeepAliveAndRetransmissionBackoffCappedAtOneSecond) {
  asio::io_context io;
  auto [a, b] = socket_pair(io);
  tune_session_socket(a);
  const int fd = a.native_handle();
  auto option = [fd](int level, int name) {
    int v = -1;
    socklen_t len = sizeof v;
    return ::getsockopt(fd, level, name, &v, &len) == 0 ? v : -errno;
  };
  EXPECT_EQ(option(IPPROTO_TCP, TCP_NODELAY), 1);
  EXPECT_EQ(option(SOL_SOCKET, SO_KEEPALIVE), 1);
  EXPECT_EQ(option(IPPROTO_TCP, TCP_KEEPIDLE), 60);
  EXPECT_EQ(option(IPPROTO_TCP, TCP_KEEPINTVL), 15);
  EXPECT_EQ(option(IPPROTO_TCP, TCP_KEEPCNT), 4);
  constexpr int kTcpRtoMaxMs = 44;  // Linux 6.15 and later
  const int rto_max = option(IPPROTO_TCP, kTcpRtoMaxMs);
  if (rto_max == -ENOPROTOOPT) GTEST_SKIP() << "this kernel has no TCP_RTO_MAX_MS (Linux < 6.15)";
  EXPECT_EQ(rto_max, 1000);
}

TEST(RelaySplice, CopiesBothWaysUnchangedAndEndsCleanAfterBothFins) {
  SpliceFixture f;
  const auto big = random_bytes(3 << 20, 1), small = random_bytes(100 << 10, 2);
  f.send(f.a, big, true);
  f.send(f.b, small, true);
  ASSERT_TRUE(run_until(f.io, [&] { return f.at_a.done && f.at_b.done && f.ended; }));
  EXPECT_EQ(f.at_b.data.size(), big.size());
  EXPECT_TRUE(f.at_b.data == big) << "3 MB a -> b altered";
  EXPECT_TRUE(f.at_a.data == small) << "100 KB b -> a altered";
  EXPECT_EQ(f.at_a.ec, asio::error::eof);
  EXPECT_EQ(f.at_b.ec, asio::error::eof);
  EXPECT_EQ(f.ended->first, big.size() + small.size());
  EXPECT_TRUE(f.ended->second);
}

TEST(RelaySplice, AFinIsAHalfCloseAndTheOtherDirectionGoesOn) {
  SpliceFixture f;
  f.send(f.a, "question", true);
  ASSERT_TRUE(run_until(f.io, [&] { return f.at_b.done; }));
  EXPECT_EQ(f.at_b.data, "question");
  EXPECT_EQ(f.at_b.ec, asio::error::eof);
  EXPECT_FALSE(f.ended);

  f.send(f.b, "answer after the FIN", false);
  ASSERT_TRUE(run_until(f.io, [&] { return f.at_a.data.size() == 20; }));
  EXPECT_EQ(f.at_a.data, "answer after the FIN");
  EXPECT_FALSE(f.at_a.done);
  EXPECT_FALSE(f.ended);

  f.send(f.b, "", true);
  ASSERT_TRUE(run_until(f.io, [&] { return f.at_a.done && f.ended; }));
  EXPECT_EQ(f.at_a.ec, asio::error::eof);
  EXPECT_EQ(f.ended->first, 28u);
  EXPECT_TRUE(f.ended->second);
}

TEST(RelaySplice, AResetArrivesAsAReset) {
  SpliceFixture f;
  f.send(f.a, "partial", false);
  ASSERT_TRUE(run_until(f.io, [&] { return f.at_b.data.size() == 7; }));
  reset(f.a);
  ASSERT_TRUE(run_until(f.io, [&] { return f.at_b.done && f.ended; }));
  EXPECT_EQ(f.at_b.ec, asio::error::connection_reset) << f.at_b.ec.message();
  EXPECT_FALSE(f.ended->second);
}

TEST(RelaySplice, AbortResetsBothSides) {
  SpliceFixture f;
  f.send(f.a, "one", false);
  f.send(f.b, "two", false);
  ASSERT_TRUE(run_until(f.io, [&] { return f.at_a.data.size() == 3 && f.at_b.data.size() == 3; }));
  f.splice->abort();
  ASSERT_TRUE(run_until(f.io, [&] { return f.at_a.done && f.at_b.done && f.ended; }));
  EXPECT_EQ(f.at_a.ec, asio::error::connection_reset) << f.at_a.ec.message();
  EXPECT_EQ(f.at_b.ec, asio::error::connection_reset) << f.at_b.ec.message();
  EXPECT_FALSE(f.ended->second);
}

// The session's two transports, as a real IK handshake leaves them: the client's send is the device's receive.
std::pair<noise::Transport, noise::Transport> session_keys() {
  const auto client = Identity::generate(), device = Identity::generate();
  auto init = noise::Handshake::initiator(client.x25519_secret(), *x25519_of(device.public_key()), "p");
  auto resp = noise::Handshake::responder(device.x25519_secret(), "p");
  EXPECT_TRUE(resp.read_request(init.write_request("hi")));
  EXPECT_TRUE(init.read_response(resp.write_response("ok")));
  return {init.split(), resp.split()};
}

// How the stand-in relay joins the two direct connections.
enum class Join {
  splice,          // as the real relay does
  flip_a_bit,      // user space; flips one bit of the first device -> client message
  cut_before_end,  // user space; ends the client's connection with a FIN instead of the device's end-of-stream
};
constexpr size_t kFlipAt = 5;                        // inside the first message's ciphertext, past its length
constexpr size_t kEndMessage = 2 + noise::kTagSize;  // an empty transport message with its length

// Takes each side's direct connection, checks its magic and token, and joins the two.
class FakeRelay {
 public:
  static inline const std::string device_token = std::string(kDirectTokenSize, 'D');
  static inline const std::string client_token = std::string(kDirectTokenSize, 'C');

  FakeRelay(asio::io_context& io, Join join) : acceptor_(io, {asio::ip::address_v4::loopback(), 0}), join_(join) {
    asio::co_spawn(io, run(), asio::detached);
  }
  tcp::endpoint endpoint() const { return acceptor_.local_endpoint(); }
  std::optional<bool> splice_clean;

 private:
  asio::awaitable<void> run() {
    for (int i = 0; i < 2; ++i) {
      auto [ec, s] = co_await acceptor_.async_accept(tuple_awaitable);
      if (ec) co_return;
      char preamble[kDirectPreamble];
      std::tie(ec, std::ignore) = co_await asio::async_read(s, asio::buffer(preamble), tuple_awaitable);
      const std::string_view magic(preamble, 4), token(preamble + 4, kDirectTokenSize);
      const int side = token == device_token ? 0 : token == client_token ? 1 : -1;
      if (ec || magic != kDirectMagic || side < 0 || legs_[side]) {
        ADD_FAILURE() << "a bad or repeated preamble: " << (ec ? ec.message() : std::string(magic));
        co_return;
      }
      legs_[side].emplace(std::move(s));
    }
    if (join_ == Join::splice) {
      splice_ = std::make_shared<Splice>(std::move(*legs_[0]), std::move(*legs_[1]),
                                         [this](uint64_t, bool clean) { splice_clean = clean; });
      std::string error;
      EXPECT_TRUE(splice_->start(&error)) << error;
      co_return;
    }
    auto executor = acceptor_.get_executor();
    asio::co_spawn(executor, copy(*legs_[0], *legs_[1], true), asio::detached);
    asio::co_spawn(executor, copy(*legs_[1], *legs_[0], false), asio::detached);
  }

  // A user-space splice; `tamper` is for the direction that gets join_'s flipped bit or cut.
  asio::awaitable<void> copy(tcp::socket& from, tcp::socket& to, bool tamper) {
    const bool flip = tamper && join_ == Join::flip_a_bit, cut = tamper && join_ == Join::cut_before_end;
    std::vector<char> buf(1 << 16);
    std::string held;  // cut_before_end: the stream's last bytes so far, which may be the end-of-stream message
    size_t seen = 0;
    for (;;) {
      auto [ec, n] = co_await from.async_read_some(asio::buffer(buf), tuple_awaitable);
      if (ec == asio::error::eof) {
        to.shutdown(tcp::socket::shutdown_send, ec);  // what is held never goes
        co_return;
      }
      if (!ec && flip && seen <= kFlipAt && kFlipAt < seen + n) buf[kFlipAt - seen] ^= 0x01;
      seen += n;
      std::string out = std::move(held);
      out.append(buf.data(), n);
      if (cut) {
        held = out.substr(out.size() - std::min(out.size(), kEndMessage));
        out.resize(out.size() - held.size());
      }
      if (!ec) std::tie(ec, std::ignore) = co_await asio::async_write(to, asio::buffer(out), tuple_awaitable);
      if (ec) {
        reset(from);
        reset(to);
        co_return;
      }
    }
  }

  tcp::acceptor acceptor_;
  Join join_;
  std::optional<tcp::socket> legs_[2];  // device, client
  std::shared_ptr<Splice> splice_;
};

// One end of the session: the application's socket (the local service's, at the device), and the DirectTunnel that
// carries the other end of that connection.
struct Side {
  tcp::socket app;
  Received got;
  std::optional<CloseReason> ended;
  std::string why;

  Side(asio::io_context& io, const FakeRelay& relay, const std::string& token, noise::Transport keys) : app(io) {
    auto [app_end, service_end] = socket_pair(io);
    app = std::move(app_end);
    // No link: nothing to tell the peer on, which end() allows for.
    auto tunnel =
        std::make_shared<DirectTunnel>(nullptr, 7, relay.endpoint(), token, std::move(keys), std::move(service_end),
                                       [this](CloseReason r, const std::string& text) {
                                         EXPECT_FALSE(ended) << "on_end ran twice";
                                         ended = r;
                                         why = text;
                                       });
    tunnel->start();
    asio::co_spawn(io, read_all(app, got), asio::detached);
  }
  Side(const Side&) = delete;
  Side& operator=(const Side&) = delete;
};

struct TunnelFixture {
  asio::io_context io;
  FakeRelay relay;
  std::unique_ptr<Side> device, client;

  explicit TunnelFixture(Join join) : relay(io, join) {
    auto [client_keys, device_keys] = session_keys();
    device = std::make_unique<Side>(io, relay, FakeRelay::device_token, std::move(device_keys));
    client = std::make_unique<Side>(io, relay, FakeRelay::client_token, std::move(client_keys));
  }
  // Writes larger than a transport message's 65519 bytes of plaintext, so that each is split.
  void send(Side& from, std::string data, bool fin) {
    asio::co_spawn(io, freehold::relay::send(from.app, std::move(data), 200'000, fin), asio::detached);
  }
};

TEST(RelayDirectTunnel, CarriesBothDirectionsIntactAndHalfClosesCleanly) {
  TunnelFixture f(Join::splice);
  const auto up = random_bytes(2 << 20, 3), down = random_bytes(3 << 20, 4), more = random_bytes(1 << 20, 5);
  f.send(*f.client, up, true);
  f.send(*f.device, down, false);
  ASSERT_TRUE(run_until(f.io, [&] { return f.device->got.done && f.client->got.data.size() == down.size(); }))
      << "device app got " << f.device->got.data.size() << ", client app got " << f.client->got.data.size();
  EXPECT_TRUE(f.device->got.data == up) << "client -> device altered";
  EXPECT_EQ(f.device->got.ec, asio::error::eof) << f.device->got.ec.message();
  EXPECT_FALSE(f.device->ended) << "the session ended with one direction still open: " << f.device->why;
  EXPECT_FALSE(f.client->ended) << f.client->why;

  // After the client's FIN, the device's direction still carries data, then its own end.
  f.send(*f.device, more, true);
  ASSERT_TRUE(run_until(f.io, [&] { return f.client->got.done && f.device->ended && f.client->ended; }));
  EXPECT_TRUE(f.client->got.data == down + more) << "device -> client altered";
  EXPECT_EQ(f.client->got.ec, asio::error::eof) << f.client->got.ec.message();
  EXPECT_EQ(f.device->ended, CloseReason::normal) << f.device->why;
  EXPECT_EQ(f.client->ended, CloseReason::normal) << f.client->why;
  EXPECT_TRUE(run_until(f.io, [&] { return f.relay.splice_clean.has_value(); }));
  EXPECT_EQ(f.relay.splice_clean, true);
}

TEST(RelayDirectTunnel, AFlippedBitResetsTheApplicationWithNoneOfTheData) {
  TunnelFixture f(Join::flip_a_bit);
  f.send(*f.device, random_bytes(100'000, 6), true);
  ASSERT_TRUE(run_until(f.io, [&] { return f.client->got.done && f.client->ended; }));
  EXPECT_EQ(f.client->got.ec, asio::error::connection_reset) << f.client->got.ec.message();
  EXPECT_EQ(f.client->got.data.size(), 0u);
  EXPECT_EQ(f.client->ended, CloseReason::decrypt_failed) << f.client->why;
}

TEST(RelayDirectTunnel, ACutBeforeTheEndOfStreamIsAReset) {
  TunnelFixture f(Join::cut_before_end);
  f.send(*f.device, random_bytes(300'000, 7), true);
  ASSERT_TRUE(run_until(f.io, [&] { return f.client->got.done && f.client->ended; }));
  EXPECT_EQ(f.client->got.ec, asio::error::connection_reset) << f.client->got.ec.message();
  EXPECT_NE(f.client->ended, CloseReason::normal) << f.client->why;
}

}  // namespace
}  // namespace freehold::relay
