// SPDX-License-Identifier: GPL-3.0-or-later
// H.264 over RTP (RFC 6184, packetization-mode 1: single NAL unit packets and FU-A fragments), packed once per
// frame into an RtpBurst (rtp.hpp) shared by every reader.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "media/annexb.hpp"
#include "rtsp/rtp.hpp"

namespace freehold::rtsp {

using media::split_annexb;
// NAL types 24-29 belong to RTP payload formats (STAP, MTAP, FU) and are never valid inside a byte stream.
[[nodiscard]] bool rtp_reserved_nal(std::span<const std::uint8_t> nal);

class H264Packetizer final {
 public:
  static constexpr std::size_t kHeaderBytes = kRtpHeaderBytes;
  static constexpr std::size_t kPrefixBytes = kInterleavedPrefixBytes;

  // `max_packet` is the largest RTP packet (header + payload); 1400 keeps clear of a 1500-byte MTU with VPN/PPPoE.
  H264Packetizer(std::uint32_t ssrc, std::uint8_t payload_type = 96, std::size_t max_packet = 1400,
                 std::uint16_t first_sequence = 0);

  // Packs one access unit (Annex-B) at `timestamp` (90 kHz). An IDR access unit that lacks SPS/PPS gets the last
  // ones seen in front, so a reader that joins at any keyframe can decode. The marker bit ends the access unit.
  // NAL units of RTP-reserved types are dropped.
  [[nodiscard]] RtpBurst pack(std::span<const std::uint8_t> access_unit, std::uint32_t timestamp);

  [[nodiscard]] std::uint16_t next_sequence() const { return rtp_.next_sequence(); }
  [[nodiscard]] std::uint32_t ssrc() const { return rtp_.ssrc(); }
  // The latest parameter sets, for the SDP's sprop-parameter-sets.
  [[nodiscard]] const std::vector<std::uint8_t>& sps() const { return sps_; }
  [[nodiscard]] const std::vector<std::uint8_t>& pps() const { return pps_; }
  // Drops them, when the encoder changed: the next IDR brings its own, and nothing older is put in front of it.
  void forget_parameter_sets() {
    sps_.clear();
    pps_.clear();
  }

 private:
  RtpHeaderWriter rtp_;
  std::size_t max_payload_;
  std::vector<std::uint8_t> sps_, pps_;
};

}  // namespace freehold::rtsp
