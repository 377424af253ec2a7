// SPDX-License-Identifier: GPL-3.0-or-later
#include "relay/frame.hpp"

#include <cstring>

#include "relay/noise.hpp"

namespace freehold::relay {
namespace {

constexpr uint32_t be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
void put32(unsigned char* p, uint32_t v) {
  p[0] = static_cast<unsigned char>(v >> 24);
  p[1] = static_cast<unsigned char>(v >> 16);
  p[2] = static_cast<unsigned char>(v >> 8);
  p[3] = static_cast<unsigned char>(v);
}

bool session_frame(FrameType t) {
  return t == FrameType::open || t == FrameType::accept || t == FrameType::data || t == FrameType::credit ||
         t == FrameType::close || t == FrameType::direct;
}

}  // namespace

std::string_view reason_name(CloseReason r) {
  switch (r) {
    case CloseReason::normal: return "normal";
    case CloseReason::device_offline: return "device_offline";
    case CloseReason::unknown_device: return "unknown_device";
    case CloseReason::too_many_sessions: return "too_many_sessions";
    case CloseReason::rate_limited: return "rate_limited";
    case CloseReason::flow_control: return "flow_control";
    case CloseReason::protocol_error: return "protocol_error";
    case CloseReason::refused: return "refused";
    case CloseReason::relay_shutdown: return "relay_shutdown";
    case CloseReason::idle_timeout: return "idle_timeout";
    case CloseReason::link_replaced: return "link_replaced";
    case CloseReason::decrypt_failed: return "decrypt_failed";
    case CloseReason::direct_failed: return "direct_failed";
    case CloseReason::reset: return "reset";
  }
  return "unknown";
}

void write_header(unsigned char* out, const FrameHeader& h) {
  out[0] = static_cast<unsigned char>(h.type);
  out[1] = 0;
  out[2] = static_cast<unsigned char>(h.length >> 8);
  out[3] = static_cast<unsigned char>(h.length);
  put32(out + 4, h.session);
}

std::optional<FrameHeader> parse_header(const unsigned char* in, std::string* error) {
  FrameHeader h;
  h.type = static_cast<FrameType>(in[0]);
  switch (h.type) {
    case FrameType::hello: case FrameType::challenge: case FrameType::auth: case FrameType::ready:
    case FrameType::open: case FrameType::accept: case FrameType::data: case FrameType::credit:
    case FrameType::close: case FrameType::direct: case FrameType::ping: case FrameType::pong:
      break;
    default:
      *error = "unknown frame type " + std::to_string(in[0]);
      return std::nullopt;
  }
  if (in[1] != 0) {
    *error = "reserved header byte is " + std::to_string(in[1]) + ", not 0";
    return std::nullopt;
  }
  h.length = static_cast<uint16_t>((in[2] << 8) | in[3]);
  h.session = be32(in + 4);
  // close may also end the whole link (session 0).
  if (h.type != FrameType::close && session_frame(h.type) != (h.session != 0)) {
    *error = session_frame(h.type) ? "session frame with session 0" : "link frame with a session number";
    return std::nullopt;
  }
  return h;
}

std::optional<std::string> check_payload(const FrameHeader& h, std::string_view p) {
  auto exactly = [&](size_t n, const char* what) -> std::optional<std::string> {
    if (p.size() == n) return std::nullopt;
    return std::string(what) + " payload is " + std::to_string(p.size()) + " bytes, not " + std::to_string(n);
  };
  switch (h.type) {
    case FrameType::hello:
      if (auto e = exactly(2 + 32, "hello")) return e;
      if (static_cast<uint8_t>(p[0]) != kVersion) return "protocol version " + std::to_string(uint8_t(p[0])) + " is not 1";
      if (p[1] != 1 && p[1] != 2) return "role " + std::to_string(uint8_t(p[1])) + " is neither device (1) nor client (2)";
      return std::nullopt;
    case FrameType::challenge: return exactly(32, "challenge");
    case FrameType::auth: return exactly(64, "auth");
    case FrameType::ready:
      if (auto e = exactly(4, "ready")) return e;
      if (static_cast<uint8_t>(p[0]) != kVersion || p[1] != 0) return std::string("ready names another protocol version");
      return std::nullopt;
    case FrameType::open:
      // Device ID, then the IK request: e (32), s (32 + tag), payload (at least the tag).
      if (p.size() < 20 + 32 + 48 + noise::kTagSize) return std::string("open payload too short for a handshake");
      return std::nullopt;
    case FrameType::accept:
      if (p.size() < 32 + noise::kTagSize) return std::string("accept payload too short for a handshake");
      return std::nullopt;
    case FrameType::data:
      if (p.size() < noise::kTagSize) return std::string("data payload shorter than its tag");
      return std::nullopt;
    case FrameType::credit:
      if (auto e = exactly(4, "credit")) return e;
      if (be32(reinterpret_cast<const unsigned char*>(p.data())) == 0) return std::string("credit of 0 bytes");
      return std::nullopt;
    case FrameType::close:
      if (p.empty() || p.size() > 1 + kMaxCloseText) return std::string("close payload of ") + std::to_string(p.size()) + " bytes";
      if (static_cast<uint8_t>(p[0]) > static_cast<uint8_t>(CloseReason::reset))
        return "unknown close reason " + std::to_string(uint8_t(p[0]));
      return std::nullopt;
    case FrameType::direct: return exactly(kDirectTokenSize, "direct");
    case FrameType::ping:
    case FrameType::pong: return exactly(8, "ping");
  }
  return std::string("unknown frame type");
}

std::optional<size_t> next_direct_message(const unsigned char* p, size_t n, std::string* error) {
  if (n < 2) return 0;
  const size_t len = (size_t{p[0]} << 8) | p[1];
  if (len < noise::kTagSize) {
    *error = "a message of " + std::to_string(len) + " bytes on the direct connection, shorter than its tag";
    return std::nullopt;
  }
  return n - 2 >= len ? len : 0;
}

std::string frame(FrameType type, uint32_t session, std::string_view payload) {
  std::string out(kHeaderSize + payload.size(), '\0');
  write_header(reinterpret_cast<unsigned char*>(out.data()),
               FrameHeader{type, static_cast<uint16_t>(payload.size()), session});
  std::memcpy(out.data() + kHeaderSize, payload.data(), payload.size());
  return out;
}

std::string hello_payload(LinkRole role, const PublicKey& key) {
  std::string p;
  p += static_cast<char>(kVersion);
  p += static_cast<char>(role);
  p.append(reinterpret_cast<const char*>(key.data()), key.size());
  return p;
}

Hello parse_hello(std::string_view p) {
  Hello h;
  h.role = static_cast<LinkRole>(p[1]);
  std::memcpy(h.key.data(), p.data() + 2, h.key.size());
  return h;
}

std::string auth_transcript(LinkRole role, std::string_view tls_exporter, std::string_view challenge) {
  std::string t = "freehold-relay-auth-v1";
  t += '\0';
  t += static_cast<char>(role);
  t += tls_exporter;
  t += challenge;
  return t;
}

std::string session_prologue(const Id& device) {
  std::string p = "freehold-session-v1";
  p += '\0';
  p.append(reinterpret_cast<const char*>(device.data()), device.size());
  return p;
}

std::string credit_payload(uint32_t bytes) {
  std::string p(4, '\0');
  put32(reinterpret_cast<unsigned char*>(p.data()), bytes);
  return p;
}

uint32_t parse_credit(std::string_view p) { return be32(reinterpret_cast<const unsigned char*>(p.data())); }

std::string close_payload(CloseReason reason, std::string_view text) {
  std::string p(1, static_cast<char>(reason));
  p += text.substr(0, kMaxCloseText);
  return p;
}

Close parse_close(std::string_view p) { return {static_cast<CloseReason>(p[0]), std::string(p.substr(1))}; }

}  // namespace freehold::relay
