// SPDX-License-Identifier: GPL-3.0-or-later
#include "rtsp/rtp_h264.hpp"

#include <cstdint>
#include <stdexcept>

namespace freehold::rtsp {
namespace {

using media::kNalIdr;
using media::kNalPps;
using media::kNalSps;
using media::nal_type;
constexpr std::uint8_t kFuA = 28;

}  // namespace

H264Packetizer::H264Packetizer(std::uint32_t ssrc, std::uint8_t payload_type, std::size_t max_packet,
                               std::uint16_t first_sequence)
    : rtp_(ssrc, payload_type, first_sequence), max_payload_(max_packet - kHeaderBytes) {
  if (max_packet < kHeaderBytes + 3) throw std::invalid_argument("RTP packet size too small for FU-A");
}

bool rtp_reserved_nal(std::span<const std::uint8_t> nal) {
  const auto t = nal_type(nal);
  return t >= 24 && t <= 29;
}

RtpBurst H264Packetizer::pack(std::span<const std::uint8_t> access_unit, std::uint32_t timestamp) {
  auto nals = split_annexb(access_unit);
  // Types 24-29 are RTP's own (aggregation, fragmentation): in a byte stream they are corrupt input, and sent on
  // they would be misread by every receiver.
  std::erase_if(nals, rtp_reserved_nal);
  bool has_sps = false, has_pps = false, has_idr = false;
  for (auto n : nals) {
    switch (nal_type(n)) {
      case kNalSps: sps_.assign(n.begin(), n.end()); has_sps = true; break;
      case kNalPps: pps_.assign(n.begin(), n.end()); has_pps = true; break;
      case kNalIdr: has_idr = true; break;
      default: break;
    }
  }
  if (has_idr) {
    std::vector<std::span<const std::uint8_t>> params;
    if (!has_sps && !sps_.empty()) params.emplace_back(sps_);
    if (!has_pps && !pps_.empty()) params.emplace_back(pps_);
    nals.insert(nals.begin(), params.begin(), params.end());
  }

  RtpBurst b = rtp_.start(timestamp);
  std::size_t total = 0;
  for (auto n : nals) total += n.size() + (n.size() / max_payload_ + 1) * (kPrefixBytes + kHeaderBytes + 2);
  b.bytes.reserve(total);
  for (std::size_t k = 0; k < nals.size(); ++k) {
    const auto nal = nals[k];
    const bool last_nal = k + 1 == nals.size();
    if (nal.size() <= max_payload_) {  // single NAL unit packet (RFC 6184 §5.6)
      rtp_.begin_packet(b, nal.size(), last_nal);
      b.bytes.insert(b.bytes.end(), nal.begin(), nal.end());
      continue;
    }
    // FU-A (§5.8): the NAL header's F and NRI go to the indicator, its type to the FU header.
    const std::uint8_t indicator = static_cast<std::uint8_t>((nal[0] & 0xe0) | kFuA);
    auto rest = nal.subspan(1);
    const std::size_t chunk = max_payload_ - 2;
    for (bool first = true; !rest.empty(); first = false) {
      const std::size_t n = std::min(chunk, rest.size());
      const bool end = n == rest.size();
      rtp_.begin_packet(b, n + 2, end && last_nal);
      b.bytes.push_back(indicator);
      b.bytes.push_back(static_cast<std::uint8_t>((first ? 0x80 : 0) | (end ? 0x40 : 0) | nal_type(nal)));
      b.bytes.insert(b.bytes.end(), rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(n));
      rest = rest.subspan(n);
    }
  }
  return b;
}

}  // namespace freehold::rtsp
