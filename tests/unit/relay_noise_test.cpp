// SPDX-License-Identifier: GPL-3.0-or-later
// The end-to-end handshake against the published Noise_IK_25519_ChaChaPoly_BLAKE2b vectors (noise-c's
// tests/vector/noise-c-basic.txt), what a relay that alters, replays or drops a message gets (a failure), and the
// documented data and direct-connection vectors of docs/relay-protocol.md.
#include <gtest/gtest.h>
#include <sodium.h>

#include "relay/frame.hpp"
#include "relay/identity.hpp"
#include "relay/noise.hpp"
#include "relay/websocket.hpp"

namespace freehold::relay {
namespace {

std::string unhex(std::string_view h) {
  std::string out(h.size() / 2, '\0');
  size_t len = 0;
  EXPECT_EQ(sodium_hex2bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), h.data(), h.size(), nullptr, &len,
                           nullptr), 0);
  return out;
}
std::string hex(std::string_view b) {
  std::string out(b.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), reinterpret_cast<const unsigned char*>(b.data()), b.size());
  out.pop_back();
  return out;
}
noise::Key key(std::string_view h) {
  noise::Key k{};
  const auto b = unhex(h);
  std::copy(b.begin(), b.end(), k.begin());
  return k;
}
std::string seal(noise::CipherState& c, std::string_view pt) {
  std::string out(pt.size() + noise::kTagSize, '\0');
  EXPECT_TRUE(c.seal(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(pt.data()),
                     pt.size()));
  return out;
}
std::optional<std::string> open(noise::CipherState& c, std::string_view ct) {
  std::string out(ct.size() - noise::kTagSize, '\0');
  if (!c.open(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(ct.data()),
              ct.size()))
    return std::nullopt;
  return out;
}

struct Vector {
  noise::Key init_static = key("e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1");
  noise::Key init_ephemeral = key("893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a");
  noise::Key resp_static = key("4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893");
  noise::Key resp_static_public = key("31e0303fd6418d2f8c0e78b91f22e8caed0fbe48656dcf4767e4834f701b8f62");
  noise::Key resp_ephemeral = key("bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b");
  std::string prologue = unhex("50726f6c6f677565313233");
};

TEST(RelayNoise, MatchesThePublishedIkVector) {
  Vector v;
  auto init = noise::Handshake::initiator(v.init_static, v.resp_static_public, v.prologue);
  init.set_ephemeral(v.init_ephemeral);
  auto resp = noise::Handshake::responder(v.resp_static, v.prologue);
  resp.set_ephemeral(v.resp_ephemeral);

  const auto m1 = init.write_request(unhex("4c756477696720766f6e204d69736573"));
  EXPECT_EQ(hex(m1),
            "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c7944"
            "ba83a447b38c83e327ad936929812f624884847b7831e95e197b2f797088efdd232fe541af156ec6d0657602902a8c3e"
            "e64e470f4b6fcd9298ce0b56fe20f86e60d9d933ec6e103ffb09e6001d6abb64");
  const auto p1 = resp.read_request(m1);
  ASSERT_TRUE(p1);
  EXPECT_EQ(*p1, "Ludwig von Mises");

  const auto m2 = resp.write_response(unhex("4d757272617920526f746862617264"));
  EXPECT_EQ(hex(m2),
            "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f144808843"
            "9f069b267a06b3de3ecb1043bcb09807c6cd101f3826192a65f11ef3fe4317");
  const auto p2 = init.read_response(m2);
  ASSERT_TRUE(p2);
  EXPECT_EQ(*p2, "Murray Rothbard");

  auto ti = init.split();
  auto tr = resp.split();
  const std::string hash = "00e51d2aac81a9b8ebe441d6af3e1c8efc0f030cc608332edcb42588ff6a0ce2"
                           "6415ddc106e95277a5e6d54132f1e5245976b89caf96d262f1fe5a7f0c55c078";
  EXPECT_EQ(hex({reinterpret_cast<const char*>(ti.handshake_hash.data()), 64}), hash);
  EXPECT_EQ(hex({reinterpret_cast<const char*>(tr.handshake_hash.data()), 64}), hash);

  const auto c1 = seal(ti.send, unhex("462e20412e20486179656b"));
  EXPECT_EQ(hex(c1), "cd54383060e7a28434cca27fb1cc524cfbabeb18181589df219d07");
  EXPECT_EQ(open(tr.receive, c1), "F. A. Hayek");
  const auto c2 = seal(tr.send, unhex("4361726c204d656e676572"));
  EXPECT_EQ(hex(c2), "a856d3bf0246bfc476c655009cd1ed677b8dcc5b349ae8ef2a05f2");
  EXPECT_EQ(open(ti.receive, c2), "Carl Menger");
  const auto c3 = seal(ti.send, unhex("4a65616e2d426170746973746520536179"));
  EXPECT_EQ(hex(c3), "49063084b2c51f098337cb8a13739ac848f907e67cfb2cc8a8b60586467aa02fc7");
  EXPECT_EQ(open(tr.receive, c3), "Jean-Baptiste Say");
  const auto c4 = seal(tr.send, unhex("457567656e2042f6686d20766f6e2042617765726b"));
  EXPECT_EQ(hex(c4), "8b9709d23b47e4639df7678d7a21741eba4ef1e9c60383001c7435549c20f9d56f30e935d3");
  EXPECT_TRUE(open(ti.receive, c4));
  EXPECT_EQ(resp.remote_static(), [&] {
    noise::Key p{};
    crypto_scalarmult_base(p.data(), v.init_static.data());
    return p;
  }());
}

struct Pair {
  noise::Transport client, device;
};
Pair connect(const Identity& client, const Identity& device) {
  auto init = noise::Handshake::initiator(client.x25519_secret(), *x25519_of(device.public_key()), "p");
  auto resp = noise::Handshake::responder(device.x25519_secret(), "p");
  EXPECT_TRUE(resp.read_request(init.write_request("hi")));
  EXPECT_EQ(resp.remote_static(), *x25519_of(client.public_key()));
  EXPECT_TRUE(init.read_response(resp.write_response("ok")));
  return {init.split(), resp.split()};
}

TEST(RelayNoise, AFlippedBitAReplayOrADroppedMessageDoesNotOpen) {
  const auto client = Identity::generate(), device = Identity::generate();
  auto [c, d] = connect(client, device);
  const auto m0 = seal(c.send, "frame 0"), m1 = seal(c.send, "frame 1"), m2 = seal(c.send, "frame 2");
  auto flipped = m0;
  flipped[3] ^= 0x01;
  EXPECT_FALSE(open(d.receive, flipped));
  EXPECT_EQ(open(d.receive, m0), "frame 0");  // a failed open does not advance the nonce
  EXPECT_FALSE(open(d.receive, m0));           // replayed
  EXPECT_FALSE(open(d.receive, m2));           // m1 dropped
  EXPECT_EQ(open(d.receive, m1), "frame 1");
}

TEST(RelayFrame, DataFramesAndADirectConnectionMatchTheDocumentedVectors) {
  const auto k = key("4242424242424242424242424242424242424242424242424242424242424242");
  noise::CipherState send, receive;
  send.set_key(k);
  receive.set_key(k);
  const auto m0 = seal(send, "GET / HTTP/1.1\r\n"), m1 = seal(send, "");
  EXPECT_EQ(hex(frame(FrameType::data, 1, m0)),
            "1200002000000001" "1e23b00b32947b99b8f17b05d11ea5b293495ae704b6e72ce953a4859999e6be");
  EXPECT_EQ(hex(frame(FrameType::data, 1, m1)), "1200001000000001" "9c87c4d47ff086cf7fb970d96e67b4ae");
  const auto token = unhex("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
  const auto direct = frame(FrameType::direct, 3, token);
  EXPECT_EQ(hex(direct), "1500001000000003a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
  std::string error;
  const auto header = parse_header(reinterpret_cast<const unsigned char*>(direct.data()), &error);
  ASSERT_TRUE(header) << error;
  EXPECT_FALSE(check_payload(*header, token));
  EXPECT_TRUE(check_payload(*header, token.substr(1)));  // a token is exactly 16 bytes

  // The stream after the preamble, read as it arrives: byte by byte, then whole.
  const auto stream = unhex("0020" "1e23b00b32947b99b8f17b05d11ea5b293495ae704b6e72ce953a4859999e6be"
                            "0010" "9c87c4d47ff086cf7fb970d96e67b4ae");
  const auto* p = reinterpret_cast<const unsigned char*>(stream.data());
  for (size_t n = 0; n < 34; ++n) EXPECT_EQ(next_direct_message(p, n, &error), 0u) << n;
  ASSERT_EQ(next_direct_message(p, stream.size(), &error), 32u);
  EXPECT_EQ(open(receive, stream.substr(2, 32)), "GET / HTTP/1.1\r\n");
  ASSERT_EQ(next_direct_message(p + 34, stream.size() - 34, &error), 16u);
  EXPECT_EQ(open(receive, stream.substr(36, 16)), "");
  const unsigned char too_short[] = {0x00, 0x0f};
  EXPECT_FALSE(next_direct_message(too_short, 2, &error));
  EXPECT_NE(error.find("shorter than its tag"), std::string::npos) << error;
}

TEST(RelayWebSocket, HandshakeValuesAndMessagesFollowRfc6455) {
  // RFC 6455 §1.3's example, as in docs/relay-protocol.md.
  EXPECT_EQ(websocket::accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  EXPECT_EQ(websocket::new_key().size(), 24u);
  EXPECT_TRUE(websocket::has_token("keep-alive, Upgrade", "upgrade"));
  EXPECT_FALSE(websocket::has_token("keep-alive, Upgraded", "upgrade"));

  // The relay reads a client's masked binary messages, cut anywhere, pings answered in between.
  std::string wire, pongs, error;
  websocket::append_message(websocket::kBinary, "frames ", true, wire);
  websocket::append_message(websocket::kPing, "are you there", true, wire);
  websocket::append_message(0, "in a stream", true, wire);  // a continuation
  websocket::Reader relay(true);
  std::string got;
  for (size_t at = 0; at < wire.size(); at += 3) {
    const size_t n = std::min<size_t>(3, wire.size() - at);
    const auto out = relay.decode(wire.data() + at, n, &pongs, &error);
    ASSERT_TRUE(out) << error;
    got.append(wire.data() + at, *out);
  }
  EXPECT_EQ(got, "frames in a stream");
  EXPECT_EQ(hex(pongs), "8a0d" + hex("are you there"));  // unmasked, from the server

  // RFC 6455 §5.7: "Hello" as an unmasked text message is refused, and so is an unmasked binary one from a client.
  std::string text = unhex("810548656c6c6f");
  EXPECT_FALSE(websocket::Reader(false).decode(text.data(), text.size(), &pongs, &error));
  EXPECT_NE(error.find("text"), std::string::npos) << error;
  std::string binary = unhex("820548656c6c6f");
  EXPECT_FALSE(websocket::Reader(true).decode(binary.data(), binary.size(), &pongs, &error));
  EXPECT_NE(error.find("unmasked"), std::string::npos) << error;
  std::string close = unhex("880203e8");
  EXPECT_FALSE(websocket::Reader(false).decode(close.data(), close.size(), &pongs, &error));
  EXPECT_NE(error.find("closed"), std::string::npos) << error;
}

TEST(RelayNoise, AnImpersonatorWithoutTheDevicesKeyCannotAnswer) {
  const auto client = Identity::generate(), device = Identity::generate(), mallory = Identity::generate();
  auto init = noise::Handshake::initiator(client.x25519_secret(), *x25519_of(device.public_key()), "p");
  const auto m1 = init.write_request("secret request");
  auto fake = noise::Handshake::responder(mallory.x25519_secret(), "p");
  EXPECT_FALSE(fake.read_request(m1)) << "only the device's key opens the request";
  // Mallory answers anyway with a handshake of its own: the client rejects it.
  auto other = noise::Handshake::initiator(client.x25519_secret(), *x25519_of(mallory.public_key()), "p");
  auto fake2 = noise::Handshake::responder(mallory.x25519_secret(), "p");
  ASSERT_TRUE(fake2.read_request(other.write_request("x")));
  EXPECT_FALSE(init.read_response(fake2.write_response("I am the device")));
}

TEST(RelayNoise, ADifferentPrologueFailsTheHandshake) {
  const auto client = Identity::generate(), device = Identity::generate();
  auto init = noise::Handshake::initiator(client.x25519_secret(), *x25519_of(device.public_key()), "device A");
  auto resp = noise::Handshake::responder(device.x25519_secret(), "device B");
  EXPECT_FALSE(resp.read_request(init.write_request("x")));
}

TEST(RelayIdentity, IdsAreBase32OfTheKeysHashAndRoundTrip) {
  std::array<unsigned char, 32> seed{};
  for (size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<unsigned char>(i);
  const auto id = Identity::from_seed(seed);
  const auto text = id_text(id.id());
  EXPECT_EQ(text.size(), 32u);
  EXPECT_EQ(text.find_first_not_of("abcdefghijklmnopqrstuvwxyz234567"), std::string::npos);
  EXPECT_EQ(parse_id(text), id.id());
  std::string upper = text;
  for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  EXPECT_EQ(parse_id(upper), id.id());
  EXPECT_FALSE(parse_id(text.substr(1)));
  EXPECT_FALSE(parse_id("0" + text.substr(1)));  // 0, 1, 8, 9 are not in the alphabet
  EXPECT_EQ(parse_key(key_text(id.public_key())), id.public_key());
  EXPECT_NE(id_text(Identity::generate().id()), text);
}

TEST(RelayIdentity, SignaturesVerifyOnlyForTheirMessageAndKey) {
  const auto a = Identity::generate(), b = Identity::generate();
  const auto sig = a.sign("grant");
  EXPECT_TRUE(verify(a.public_key(), "grant", sig));
  EXPECT_FALSE(verify(a.public_key(), "grans", sig));
  EXPECT_FALSE(verify(b.public_key(), "grant", sig));
}

TEST(RelayIdentity, TheKeyFileIsPrivateAndReloads) {
  const auto dir = std::filesystem::temp_directory_path() / ("fh-key-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string error;
  const auto made = Identity::load(dir / "key", true, &error);
  ASSERT_TRUE(made) << error;
  EXPECT_EQ(std::filesystem::status(dir / "key").permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  const auto again = Identity::load(dir / "key", false, &error);
  ASSERT_TRUE(again) << error;
  EXPECT_EQ(again->public_key(), made->public_key());
  EXPECT_FALSE(Identity::load(dir / "missing", false, &error));
  EXPECT_NE(error.find("no such key file"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace freehold::relay
