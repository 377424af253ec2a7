// SPDX-License-Identifier: GPL-3.0-or-later
// The relay link's framing (docs/relay-protocol.md): every frame is an 8-byte header and at most 65535 bytes of
// payload, inside TLS 1.3 between a device or client and the relay. Parsers here check every field and name what is
// wrong; nothing trusts a length it has not bounded.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "relay/identity.hpp"

namespace freehold::relay {

enum class FrameType : uint8_t {
  hello = 0x01,      // peer -> relay: version, role, Ed25519 public key
  challenge = 0x02,  // relay -> peer: 32 random bytes
  auth = 0x03,       // peer -> relay: Ed25519 signature of the transcript
  ready = 0x04,      // relay -> peer: accepted; keep-alive interval
  open = 0x10,       // client -> relay -> device: device ID and Noise message 1
  accept = 0x11,     // device -> relay -> client: Noise message 2
  data = 0x12,       // either way: one Noise transport message
  credit = 0x13,     // either way: the receiver may take this many more payload bytes
  close = 0x14,      // either way: the session ends, with a reason
  direct = 0x15,     // relay -> peer: the token of the session's direct data connection
  ping = 0x20,
  pong = 0x21,
};

enum class LinkRole : uint8_t { device = 1, client = 2 };

enum class CloseReason : uint8_t {
  normal = 0,
  device_offline = 1,
  unknown_device = 2,
  too_many_sessions = 3,
  rate_limited = 4,
  flow_control = 5,
  protocol_error = 6,
  refused = 7,        // the device refused the client (the reason is in its authenticated Noise answer)
  relay_shutdown = 8,
  idle_timeout = 9,
  link_replaced = 10,
  decrypt_failed = 11,
  direct_failed = 12,  // the session's direct data connections did not both arrive
  reset = 13,          // the local connection at the sender's end failed or was reset mid-stream
};

[[nodiscard]] std::string_view reason_name(CloseReason r);

constexpr size_t kHeaderSize = 8;
constexpr size_t kMaxPayload = 65535;
constexpr uint8_t kVersion = 1;
constexpr uint32_t kInitialWindow = 4 << 20;  // payload bytes each side may send on a session before credit
constexpr size_t kMaxCloseText = 200;

// A direct data connection (docs/relay-protocol.md, "Direct data connections") starts with the magic and the token
// of one side of one session, then carries that session's Noise transport messages, each after its u16 BE length.
constexpr std::string_view kDirectMagic = "FHD1";
constexpr size_t kDirectTokenSize = 16;
constexpr size_t kDirectPreamble = 4 + kDirectTokenSize;
// The next message on a direct connection in [p, p + n): its length (tag included) once all of it is there, at
// p + 2; 0 while more bytes are needed; nullopt with `error` when the length prefix is impossible.
[[nodiscard]] std::optional<size_t> next_direct_message(const unsigned char* p, size_t n, std::string* error);

struct FrameHeader {
  FrameType type{};
  uint16_t length = 0;
  uint32_t session = 0;
};

void write_header(unsigned char* out, const FrameHeader& h);
// The header of a frame, or nullopt with `error` naming the field at fault.
[[nodiscard]] std::optional<FrameHeader> parse_header(const unsigned char* in, std::string* error);
// Checks a complete frame's payload against its type (sizes, fixed fields). nullopt when fine, else the problem.
[[nodiscard]] std::optional<std::string> check_payload(const FrameHeader& h, std::string_view payload);

[[nodiscard]] std::string frame(FrameType type, uint32_t session, std::string_view payload);

struct Hello {
  LinkRole role{};
  PublicKey key{};
};
[[nodiscard]] std::string hello_payload(LinkRole role, const PublicKey& key);
[[nodiscard]] Hello parse_hello(std::string_view checked_payload);

// What a peer signs to prove its key to the relay: bound to this TLS connection (its exporter value) and to the
// relay's fresh challenge, so a signature can be neither replayed nor relayed to another connection.
[[nodiscard]] std::string auth_transcript(LinkRole role, std::string_view tls_exporter, std::string_view challenge);
constexpr std::string_view kExporterLabel = "EXPORTER-freehold-relay-v1";

// The Noise prologue of a session: binds the handshake to the device ID the client asked the relay for.
[[nodiscard]] std::string session_prologue(const Id& device);

[[nodiscard]] std::string credit_payload(uint32_t bytes);
[[nodiscard]] uint32_t parse_credit(std::string_view checked_payload);
[[nodiscard]] std::string close_payload(CloseReason reason, std::string_view text);
struct Close {
  CloseReason reason{};
  std::string text;
};
[[nodiscard]] Close parse_close(std::string_view checked_payload);

}  // namespace freehold::relay
