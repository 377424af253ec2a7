// SPDX-License-Identifier: GPL-3.0-or-later
// Fuzzes the relay's TLS 1.3 record layer (relay/records): what a link's peer sends once the handshake is done. The
// first byte picks the suite (even: AES-128-GCM, odd: ChaCha20-Poly1305), the rest is the stream, under the traffic
// secret of 32 bytes 0x11 (the seed corpus's records use it). Oracle: never crash; a refusal says why; a record's
// plaintext lies inside it; a KeyUpdate's reply is one whole record.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "relay/records.hpp"

using freehold::relay::Records;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  if (size < 1 || size > 8 * Records::kMaxRecord) return -1;
  Records::Secret secret{}, exporter{};
  secret.fill(0x11);
  exporter.fill(0x22);
  auto made = Records::from_secrets(data[0] & 1, secret, secret, exporter);
  if (!made) std::abort();
  auto& records = *made;
  std::vector<unsigned char> stream(data + 1, data + size);
  size_t at = 0;
  while (at < stream.size()) {
    size_t used = 0, plain = 0;
    std::string reply, error;
    const auto r = records.open(stream.data() + at, stream.size() - at, &used, &plain, &reply, &error);
    if (r == Records::Result::more) {
      if (used <= stream.size() - at || used > Records::kMaxRecord) std::abort();
      break;
    }
    if (r == Records::Result::failed) {
      if (error.empty()) std::abort();
      break;
    }
    if (r == Records::Result::closed) break;
    if (used > stream.size() - at || 5 + plain + 1 + 16 > used) std::abort();
    if (!reply.empty() && reply.size() != 5 + 5 + 1 + 16) std::abort();
    at += used;
  }
  std::string sealed;
  if (!records.seal(std::string(reinterpret_cast<const char*>(data), size), sealed) || sealed.size() < size)
    std::abort();
  return 0;
}
