// SPDX-License-Identifier: GPL-3.0-or-later
// H.264 over RTP (RFC 6184, packetization-mode 1: single NAL unit packets and FU-A fragments). A frame is packed
// once into one buffer shared by every reader. Each packet is preceded by the 4-byte RTSP interleaved prefix
// (RFC 2326 §10.12: '$', channel 0, length), so a TCP reader on channel 0 sends the buffer as it is and a UDP
// reader sends each packet from offset + 4.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace freehold::rtsp {

struct RtpBurst {
  std::vector<std::uint8_t> bytes;     // [$ 0 len16][RTP header][payload] ...
  std::vector<std::uint32_t> offsets;  // where each packet's interleaved prefix starts
  std::uint16_t first_sequence = 0;
  std::uint32_t timestamp = 0;

  [[nodiscard]] std::size_t packets() const { return offsets.size(); }
  // The RTP packet itself (without the interleaved prefix).
  [[nodiscard]] std::span<const std::uint8_t> packet(std::size_t i) const;
};

// The NAL units of an Annex-B byte stream (3- or 4-byte start codes), without start codes or trailing zeros.
[[nodiscard]] std::vector<std::span<const std::uint8_t>> split_annexb(std::span<const std::uint8_t> stream);
// NAL types 24-29 belong to RTP payload formats (STAP, MTAP, FU) and are never valid inside a byte stream.
[[nodiscard]] bool rtp_reserved_nal(std::span<const std::uint8_t> nal);

class H264Packetizer final {
 public:
  static constexpr std::size_t kHeaderBytes = 12;
  static constexpr std::size_t kPrefixBytes = 4;

  // `max_packet` is the largest RTP packet (header + payload); 1400 keeps clear of a 1500-byte MTU with VPN/PPPoE.
  H264Packetizer(std::uint32_t ssrc, std::uint8_t payload_type = 96, std::size_t max_packet = 1400,
                 std::uint16_t first_sequence = 0);

  // Packs one access unit (Annex-B) at `timestamp` (90 kHz). An IDR access unit that lacks SPS/PPS gets the last
  // ones seen in front, so a reader that joins at any keyframe can decode. The marker bit ends the access unit.
  // NAL units of RTP-reserved types are dropped.
  [[nodiscard]] RtpBurst pack(std::span<const std::uint8_t> access_unit, std::uint32_t timestamp);

  [[nodiscard]] std::uint16_t next_sequence() const { return sequence_; }
  [[nodiscard]] std::uint32_t ssrc() const { return ssrc_; }
  // The latest parameter sets, for the SDP's sprop-parameter-sets.
  [[nodiscard]] const std::vector<std::uint8_t>& sps() const { return sps_; }
  [[nodiscard]] const std::vector<std::uint8_t>& pps() const { return pps_; }

 private:
  void begin_packet(RtpBurst& b, std::size_t payload_bytes, bool marker);

  std::uint32_t ssrc_;
  std::uint8_t payload_type_;
  std::size_t max_payload_;
  std::uint16_t sequence_;
  std::vector<std::uint8_t> sps_, pps_;
};

}  // namespace freehold::rtsp
