// SPDX-License-Identifier: GPL-3.0-or-later
#include "rtsp/rtp.hpp"

namespace freehold::rtsp {

void put_be16(std::vector<std::uint8_t>& v, std::size_t at, std::uint32_t x) {
  v[at] = static_cast<std::uint8_t>(x >> 8);
  v[at + 1] = static_cast<std::uint8_t>(x);
}

void put_be32(std::vector<std::uint8_t>& v, std::size_t at, std::uint32_t x) {
  put_be16(v, at, x >> 16);
  put_be16(v, at + 2, x & 0xffff);
}

void append_be16(std::vector<std::uint8_t>& v, std::uint32_t x) {
  v.push_back(static_cast<std::uint8_t>(x >> 8));
  v.push_back(static_cast<std::uint8_t>(x));
}

void append_be24(std::vector<std::uint8_t>& v, std::uint32_t x) {
  v.push_back(static_cast<std::uint8_t>(x >> 16));
  append_be16(v, x & 0xffff);
}

std::span<const std::uint8_t> RtpBurst::packet(std::size_t i) const {
  const std::size_t start = offsets.at(i) + kInterleavedPrefixBytes;
  const std::size_t end = i + 1 < offsets.size() ? offsets[i + 1] : bytes.size();
  return std::span<const std::uint8_t>(bytes).subspan(start, end - start);
}

RtpBurst RtpHeaderWriter::start(std::uint32_t timestamp) const {
  RtpBurst b;
  b.first_sequence = sequence_;
  b.timestamp = timestamp;
  return b;
}

void RtpHeaderWriter::begin_packet(RtpBurst& b, std::size_t payload_bytes, bool marker) {
  const std::size_t at = b.bytes.size();
  b.offsets.push_back(static_cast<std::uint32_t>(at));
  b.bytes.resize(at + kInterleavedPrefixBytes + kRtpHeaderBytes);
  b.bytes[at] = '$';
  b.bytes[at + 1] = 0;  // interleaved channel: patched per reader only if it negotiated another one
  put_be16(b.bytes, at + 2, static_cast<std::uint32_t>(kRtpHeaderBytes + payload_bytes));
  const std::size_t h = at + kInterleavedPrefixBytes;
  b.bytes[h] = 0x80;  // V=2, no padding, no extension, no CSRC
  b.bytes[h + 1] = static_cast<std::uint8_t>((marker ? 0x80 : 0) | payload_type_);
  put_be16(b.bytes, h + 2, sequence_++);
  put_be32(b.bytes, h + 4, b.timestamp);
  put_be32(b.bytes, h + 8, ssrc_);
}

}  // namespace freehold::rtsp
