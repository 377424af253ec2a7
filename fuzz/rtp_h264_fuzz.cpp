// SPDX-License-Identifier: GPL-3.0-or-later
// Fuzzes the Annex-B splitter and the H.264 RTP packetizer (they see file input in passthrough mode).
// Oracle: never crash; every packet fits the size limit; depacketizing (single NAL + FU-A) gives back exactly the
// NAL units that went in, parameter sets inserted before an IDR aside; the marker bit is on the last packet only.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "rtsp/rtp_h264.hpp"

using freehold::rtsp::H264Packetizer;
using Bytes = std::vector<std::uint8_t>;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  if (size < 1 || size > 256 * 1024) return -1;
  const std::size_t max_packet = 15 + data[0] % 200;  // exercise tiny and ordinary fragment sizes
  std::span<const std::uint8_t> au(data + 1, size - 1);
  H264Packetizer p(0xDEADBEEF, 96, max_packet);
  auto burst = p.pack(au, 1234);

  std::vector<Bytes> nals;
  Bytes fu;
  for (std::size_t i = 0; i < burst.packets(); ++i) {
    auto pkt = burst.packet(i);
    if (pkt.size() > max_packet || pkt.size() < 13) std::abort();
    if (((pkt[1] & 0x80) != 0) != (i + 1 == burst.packets())) std::abort();
    auto payload = pkt.subspan(12);
    if ((payload[0] & 0x1f) == 28) {
      if (payload.size() < 3) std::abort();
      if (payload[1] & 0x80) fu = {static_cast<std::uint8_t>((payload[0] & 0xe0) | (payload[1] & 0x1f))};
      fu.insert(fu.end(), payload.begin() + 2, payload.end());
      if (payload[1] & 0x40) nals.push_back(std::move(fu));
    } else {
      nals.emplace_back(payload.begin(), payload.end());
    }
  }
  auto in = freehold::rtsp::split_annexb(au);
  std::erase_if(in, freehold::rtsp::rtp_reserved_nal);
  // Inserted parameter sets come first; the input's NALs follow unchanged.
  if (nals.size() < in.size()) std::abort();
  const std::size_t skip = nals.size() - in.size();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (nals[skip + i] != Bytes(in[i].begin(), in[i].end())) std::abort();
  }
  return 0;
}
