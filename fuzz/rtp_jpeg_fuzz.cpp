// SPDX-License-Identifier: GPL-3.0-or-later
// Fuzzes the JPEG parser and the RTP/JPEG packetizer (RFC 2435): they see camera JPEGs in passthrough mode.
// The first byte picks the packet size, the rest is the JPEG. Oracle: never crash; a refusal produces no packets
// and uses no sequence number; otherwise every packet fits the size limit, carries the same main header with
// consecutive fragment offsets, the tables only in the first, the marker on the last only, and the fragments
// reassemble to exactly the scan the parser found.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "rtsp/rtp_jpeg.hpp"

using freehold::rtsp::JpegPacketizer;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  if (size < 1 || size > 256 * 1024) return -1;
  const std::size_t max_packet = JpegPacketizer::kMinPacket + data[0] % 200 * 7;
  std::span<const std::uint8_t> jpeg(data + 1, size - 1);
  JpegPacketizer p(0xDEADBEEF, max_packet, 65530);
  freehold::rtsp::RtpBurst burst;
  const auto err = p.pack(jpeg, 1234, burst);
  if (err) {
    if (err->empty() || burst.packets() != 0 || p.next_sequence() != 65530) std::abort();
    return 0;
  }
  freehold::rtsp::JpegFrame f;
  if (freehold::rtsp::parse_jpeg_for_rtp(jpeg, f)) std::abort();  // pack accepted it
  if (f.width > JpegPacketizer::kMaxDimension || f.height > JpegPacketizer::kMaxDimension) std::abort();
  std::vector<std::uint8_t> scan;
  for (std::size_t i = 0; i < burst.packets(); ++i) {
    const auto pkt = burst.packet(i);
    if (pkt.size() > max_packet || pkt.size() < 12 + 8 + 1) std::abort();
    if (((pkt[1] & 0x80) != 0) != (i + 1 == burst.packets()) || (pkt[1] & 0x7f) != 26) std::abort();
    auto payload = pkt.subspan(12);
    const std::size_t offset = std::size_t{payload[1]} << 16 | payload[2] << 8 | payload[3];
    if (offset != scan.size() || payload[4] != f.type || payload[5] != 255) std::abort();
    if (payload[6] != (f.width + 7) / 8 || payload[7] != (f.height + 7) / 8) std::abort();
    payload = payload.subspan(8 + (f.type & 64 ? 4 : 0));
    if (i == 0) {
      if (payload.size() < 132 + 1 || payload[3] != 128) std::abort();
      payload = payload.subspan(132);
    }
    scan.insert(scan.end(), payload.begin(), payload.end());
  }
  if (!std::equal(scan.begin(), scan.end(), f.scan.begin(), f.scan.end())) std::abort();
  return 0;
}
