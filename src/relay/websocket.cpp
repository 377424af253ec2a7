// SPDX-License-Identifier: GPL-3.0-or-later
#include "relay/websocket.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <cstring>

#include "core/crypto.hpp"

namespace freehold::relay::websocket {
namespace {

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return out;
}

}  // namespace

std::string accept_key(std::string_view key) {
  const std::string text = std::string(key) + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return base64({reinterpret_cast<const char*>(digest), sizeof digest});
}

std::string new_key() { return base64(crypto::random_bytes(16)); }

bool has_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    const auto comma = list.find(',');
    auto item = list.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (boost::beast::iequals(item, token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

void append_message(uint8_t opcode, std::string_view payload, bool masked, std::string& out) {
  const size_t len = payload.size();
  out += static_cast<char>(0x80 | opcode);
  const int mask_bit = masked ? 0x80 : 0;
  if (len < 126) {
    out += static_cast<char>(mask_bit | static_cast<int>(len));
  } else if (len < 65536) {
    out += static_cast<char>(mask_bit | 126);
    for (int shift = 8; shift >= 0; shift -= 8) out += static_cast<char>(len >> shift);
  } else {
    out += static_cast<char>(mask_bit | 127);
    for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>(static_cast<uint64_t>(len) >> shift);
  }
  if (!masked) {
    out += payload;
    return;
  }
  const std::string mask = crypto::random_bytes(4);
  out += mask;
  const size_t at = out.size();
  out.resize(at + len);
  for (size_t i = 0; i < len; ++i) out[at + i] = static_cast<char>(payload[i] ^ mask[i & 3]);
}

std::optional<size_t> Reader::decode(char* p, size_t n, std::string* pongs, std::string* error) {
  const auto fail = [&](const std::string& why) -> std::optional<size_t> {
    *error = why;
    return std::nullopt;
  };
  size_t out = 0, i = 0;
  while (i < n || (in_payload_ && left_ == 0)) {
    if (!in_payload_) {
      while (have_ < need_ && i < n) header_[have_++] = static_cast<unsigned char>(p[i++]);
      if (have_ < need_) break;
      const unsigned char h0 = header_[0], h1 = header_[1];
      const size_t len7 = h1 & 0x7f, ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
      message_masked_ = (h1 & 0x80) != 0;
      const size_t full = 2 + ext + (message_masked_ ? 4 : 0);
      if (need_ < full) {
        need_ = full;
        continue;
      }
      if (h0 & 0x70) return fail("a WebSocket message with reserved bits set");
      if (message_masked_ != masked_)
        return fail(masked_ ? "an unmasked WebSocket message from a client" : "a masked WebSocket message from the relay");
      opcode_ = h0 & 0x0f;
      uint64_t len = len7;
      if (ext) {
        len = 0;
        for (size_t k = 0; k < ext; ++k) len = len << 8 | header_[2 + k];
        if (len >> 63) return fail("a WebSocket message longer than 2^63 bytes");
      }
      if (opcode_ == 1) return fail("a WebSocket text message on the link (frames travel in binary messages)");
      if (opcode_ != 0 && opcode_ != kBinary && opcode_ != kClose && opcode_ != kPing && opcode_ != kPong)
        return fail("a WebSocket message of unknown opcode " + std::to_string(opcode_));
      if (opcode_ >= kClose && (!(h0 & 0x80) || len > 125))
        return fail("a fragmented or oversized WebSocket control message");
      if (message_masked_) std::memcpy(mask_, header_ + 2 + ext, 4);
      left_ = len;
      mask_at_ = 0;
      in_payload_ = true;
      have_ = 0;
      need_ = 2;
      control_.clear();
    }
    const bool control = opcode_ >= kClose;
    const size_t m = static_cast<size_t>(std::min<uint64_t>(left_, n - i));
    for (size_t k = 0; k < m; ++k) {
      const char c = message_masked_ ? static_cast<char>(p[i + k] ^ static_cast<char>(mask_[(mask_at_ + k) & 3]))
                                     : p[i + k];
      if (control) {
        control_ += c;
      } else {
        p[out + k] = c;  // out <= i + k: in place, front to back
      }
    }
    i += m;
    if (!control) out += m;
    left_ -= m;
    mask_at_ += m;
    if (left_ > 0) break;
    in_payload_ = false;
    if (opcode_ == kPing) append_message(kPong, control_, !masked_, *pongs);
    if (opcode_ == kClose) {
      peer_closed_ = true;
      return fail("the peer closed the WebSocket");
    }
  }
  return out;
}

}  // namespace freehold::relay::websocket
