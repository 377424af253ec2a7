// SPDX-License-Identifier: GPL-3.0-or-later
// Fuzzes the WebSocket framing a relay link may travel in (relay/websocket): the first byte says which side reads
// (odd: the relay, reading a client's masked messages) and where the rest is cut into reads; the rest is the stream.
// Oracle: never crash; a refusal says why; what is decoded never outgrows what was read; and any payload framed by
// append_message decodes back to itself, cut anywhere.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "relay/websocket.hpp"

using namespace freehold::relay;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  if (size < 1 || size > 1 << 20) return -1;
  const bool masked = data[0] & 1;
  const size_t cut = 1 + (data[0] >> 1);  // bytes per read
  std::string stream(reinterpret_cast<const char*>(data + 1), size - 1);

  websocket::Reader reader(masked);
  std::string pongs, error;
  for (size_t at = 0; at < stream.size(); at += cut) {
    const size_t n = std::min(cut, stream.size() - at);
    const auto out = reader.decode(stream.data() + at, n, &pongs, &error);
    if (!out) {
      if (error.empty()) std::abort();
      break;
    }
    if (*out > n) std::abort();
  }

  // Round trip: the input as one message's payload, read back in pieces of `cut` bytes.
  const std::string payload(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string wire;
  websocket::append_message(websocket::kBinary, payload, masked, wire);
  websocket::Reader back(masked);
  std::string got;
  for (size_t at = 0; at < wire.size(); at += cut) {
    const size_t n = std::min(cut, wire.size() - at);
    const auto out = back.decode(wire.data() + at, n, &pongs, &error);
    if (!out) std::abort();
    got.append(wire.data() + at, *out);
  }
  if (got != payload) std::abort();
  return 0;
}
