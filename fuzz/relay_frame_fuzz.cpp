// SPDX-License-Identifier: GPL-3.0-or-later
// Fuzzes what a relay link reads before anything on it is authenticated (docs/relay-protocol.md): the input is a
// stream of frames (header, payload, check, parse), and the end-to-end side a device runs on an open frame (the
// Noise IK request, read with a fixed device key) and on data frames (Noise transport messages under a fixed key);
// then the same input as the stream of a direct data connection (length-prefixed transport messages).
// Oracle: never crash; a refused header says why; whatever the checks accept parses and writes back to the same
// bytes; nothing that fails to open is handed out.
#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "relay/frame.hpp"
#include "relay/identity.hpp"
#include "relay/messages.hpp"
#include "relay/noise.hpp"

namespace {

using namespace freehold::relay;

// The device the fuzzer plays: Ed25519 seed 00 01 … 1f (the vector of docs/relay-protocol.md), so that a seed built
// for that key reaches the handshake's success path.
const Identity& device() {
  static const Identity id = [] {
    std::array<unsigned char, 32> seed{};
    for (size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<unsigned char>(i);
    return Identity::from_seed(seed);
  }();
  return id;
}

// The transport key of data frames: 32 bytes of 0x42, nonces from 0 (the seed corpus's data frame uses it).
noise::Key transport_key() {
  noise::Key k{};
  k.fill(0x42);
  return k;
}

// What the device does with an open frame's Noise message: read it and, if it authenticates, answer.
void handshake(std::string_view message) {
  auto hs = noise::Handshake::responder(device().x25519_secret(), session_prologue(device().id()));
  const auto payload = hs.read_request(message);
  if (!payload) return;
  std::string error;
  if (!parse_session_request(*payload, &error) && error.empty()) std::abort();  // a refusal always says why
  if (payload->size() + 32 + 32 + 2 * noise::kTagSize != message.size()) std::abort();  // e, s + tag, payload + tag
  const auto answer = hs.write_response(R"({"ok":false,"error":"not_paired","message":"fuzz"})");
  if (answer.size() < 32 + noise::kTagSize) std::abort();
  auto t = hs.split();
  if (!t.send.has_key() || !t.receive.has_key()) std::abort();
}

// Opens `message` as the next transport message; a failure must leave the nonce alone and hand out nothing.
void open(noise::CipherState& c, std::string_view message) {
  if (message.size() < noise::kTagSize || message.size() > noise::kMaxMessage) {
    std::string out(message.size(), '\0');
    const uint64_t before = c.nonce();
    if (c.open(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(message.data()),
               message.size()))
      std::abort();
    if (c.nonce() != before) std::abort();
    return;
  }
  std::string out(message.size() - noise::kTagSize, '\0');
  const uint64_t before = c.nonce();
  if (c.open(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(message.data()),
             message.size())) {
    if (c.nonce() != before + 1) std::abort();
  } else {
    if (c.nonce() != before) std::abort();
    for (char ch : out)
      if (ch != 0) std::abort();  // zeroed, never the unverified plaintext
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  if (size > 4 * (kHeaderSize + kMaxPayload)) return -1;
  const std::string_view in(reinterpret_cast<const char*>(data), size);

  // The same bytes as what follows a direct connection's preamble: length-prefixed transport messages.
  noise::CipherState direct;
  direct.set_key(transport_key());
  for (size_t at = 0;;) {
    std::string error;
    const auto len = next_direct_message(data + at, size - at, &error);
    if (!len) {
      if (error.empty()) std::abort();
      break;
    }
    if (*len == 0) break;
    if (*len < noise::kTagSize || *len > size - at - 2) std::abort();
    open(direct, in.substr(at + 2, *len));
    at += 2 + *len;
  }

  noise::CipherState receive;
  receive.set_key(transport_key());
  size_t at = 0;
  while (size - at >= kHeaderSize) {
    std::string error;
    const auto* head = data + at;
    const auto h = parse_header(head, &error);
    if (!h) {
      if (error.empty()) std::abort();
      break;
    }
    at += kHeaderSize;
    if (size - at < h->length) break;
    const std::string_view payload = in.substr(at, h->length);
    at += h->length;

    // The header writes back to the bytes it came from (the reserved byte was checked to be 0).
    const std::string again = frame(h->type, h->session, payload);
    if (std::memcmp(again.data(), head, kHeaderSize + payload.size()) != 0) std::abort();

    if (const auto problem = check_payload(*h, payload)) {
      if (problem->empty()) std::abort();
      continue;
    }
    switch (h->type) {
      case FrameType::hello: {
        const auto hello = parse_hello(payload);
        if (hello.role != LinkRole::device && hello.role != LinkRole::client) std::abort();
        if (hello_payload(hello.role, hello.key) != payload) std::abort();
        (void)id_text(id_of(hello.key));
        (void)x25519_of(hello.key);
        break;
      }
      case FrameType::credit: {
        const uint32_t n = parse_credit(payload);
        if (n == 0 || credit_payload(n) != payload) std::abort();
        break;
      }
      case FrameType::close: {
        const auto c = parse_close(payload);
        if (c.text.size() > kMaxCloseText || close_payload(c.reason, c.text) != payload) std::abort();
        (void)reason_name(c.reason);
        break;
      }
      case FrameType::open:
        if (h->session == 0) std::abort();
        handshake(payload.substr(20));
        break;
      case FrameType::data:
        if (h->session == 0) std::abort();
        open(receive, payload);
        break;
      default:
        break;
    }
  }

  // The same bytes read as if they were a Noise message 1 and a transport message, unframed.
  if (size >= 32 + 32 + 2 * noise::kTagSize) handshake(in);
  noise::CipherState other;
  other.set_key(transport_key());
  open(other, in);
  // Both handshake payloads' parsers, on the raw bytes (the client reads the device's answer with the second).
  std::string error;
  if (!parse_session_request(in, &error) && error.empty()) std::abort();
  const auto answer = parse_session_answer(in);
  if (answer.ok == answer.role.empty()) std::abort();  // admitted with a role, or refused
  return 0;
}
