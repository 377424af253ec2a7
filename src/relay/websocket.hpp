// SPDX-License-Identifier: GPL-3.0-or-later
// The WebSocket framing (RFC 6455) a link may travel in (docs/relay-protocol.md, "WebSocket transport"): the upgrade
// handshake's values, messages built, and a stream of messages turned back into the bytes they carry. No I/O here;
// relay/link does the handshake and calls this for each read and write.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace freehold::relay::websocket {

constexpr std::string_view kPath = "/freehold-relay";
constexpr std::string_view kProtocol = "freehold-relay.v1";
constexpr uint8_t kBinary = 0x2, kClose = 0x8, kPing = 0x9, kPong = 0xA;

// RFC 6455 §4.2.2: base64 of SHA-1 of the key and the protocol's GUID.
[[nodiscard]] std::string accept_key(std::string_view key);
[[nodiscard]] std::string new_key();  // 16 random bytes, base64
// Whether a comma-separated header value holds `token` (case-insensitive, spaces around items ignored).
[[nodiscard]] bool has_token(std::string_view list, std::string_view token);

// Appends one final message of `opcode` carrying `payload`, masked with a fresh random key when `masked` (a
// client's messages must be, a server's must not).
void append_message(uint8_t opcode, std::string_view payload, bool masked, std::string& out);

// Reads the messages of one direction. `masked`: whether the sender must mask (it is the client).
class Reader {
 public:
  explicit Reader(bool masked) : masked_(masked) {}
  // Turns the messages in [p, p + n) into the bytes their binary and continuation payloads carry, written in place
  // from p; returns how many. Messages may be cut anywhere: the state carries over to the next call. A ping's
  // pong is appended to `pongs`. nullopt with `error` for anything else: a text message, reserved bits or opcodes,
  // wrong masking, a fragmented or oversized control message, or a close (the peer ends the link).
  [[nodiscard]] std::optional<size_t> decode(char* p, size_t n, std::string* pongs, std::string* error);
  // After decode failed: whether it was because the peer sent a close (else the peer broke the protocol).
  [[nodiscard]] bool peer_closed() const { return peer_closed_; }

 private:
  bool masked_;
  unsigned char header_[14]{};
  size_t have_ = 0, need_ = 2;  // header bytes so far, and how many it has
  bool in_payload_ = false;
  uint8_t opcode_ = 0;
  bool message_masked_ = false;
  uint64_t left_ = 0;  // payload bytes of the current message still to come
  unsigned char mask_[4]{};
  size_t mask_at_ = 0;
  std::string control_;  // a ping's or close's payload (at most 125 bytes)
  bool peer_closed_ = false;
};

}  // namespace freehold::relay::websocket
