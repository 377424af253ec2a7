// SPDX-License-Identifier: GPL-3.0-or-later
// RTP packets (RFC 3550) as the RTSP server sends them: a frame is packed once into one buffer shared by every
// reader. Each packet is preceded by the 4-byte RTSP interleaved prefix (RFC 2326 §10.12: '$', channel 0, length),
// so a TCP reader on channel 0 sends the buffer as it is and a UDP reader sends each packet from offset + 4.
// The payload formats (rtp_h264, rtp_jpeg) fill in the payloads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace freehold::rtsp {

inline constexpr std::size_t kRtpHeaderBytes = 12;
inline constexpr std::size_t kInterleavedPrefixBytes = 4;

// One frame's packets.
struct RtpBurst {
  std::vector<std::uint8_t> bytes;     // [$ 0 len16][RTP header][payload] ...
  std::vector<std::uint32_t> offsets;  // where each packet's interleaved prefix starts
  std::uint16_t first_sequence = 0;
  std::uint32_t timestamp = 0;

  [[nodiscard]] std::size_t packets() const { return offsets.size(); }
  // The RTP packet itself (without the interleaved prefix).
  [[nodiscard]] std::span<const std::uint8_t> packet(std::size_t i) const;
  // Payload bytes in the burst (for RTCP sender reports' octet count).
  [[nodiscard]] std::size_t payload_bytes() const {
    return bytes.size() - packets() * (kInterleavedPrefixBytes + kRtpHeaderBytes);
  }
};

// The header state of one RTP stream: SSRC, payload type and the running sequence number.
class RtpHeaderWriter final {
 public:
  RtpHeaderWriter(std::uint32_t ssrc, std::uint8_t payload_type, std::uint16_t first_sequence)
      : ssrc_(ssrc), payload_type_(payload_type & 0x7f), sequence_(first_sequence) {}

  // An empty burst for a frame at `timestamp` (90 kHz for video).
  [[nodiscard]] RtpBurst start(std::uint32_t timestamp) const;
  // Appends the interleaved prefix and RTP header of the next packet; the caller appends exactly
  // `payload_bytes` of payload. The marker bit ends a frame.
  void begin_packet(RtpBurst& b, std::size_t payload_bytes, bool marker);

  [[nodiscard]] std::uint16_t next_sequence() const { return sequence_; }
  [[nodiscard]] std::uint32_t ssrc() const { return ssrc_; }

 private:
  std::uint32_t ssrc_;
  std::uint8_t payload_type_;
  std::uint16_t sequence_;
};

// Big-endian stores into a buffer, at `at` or appended.
void put_be16(std::vector<std::uint8_t>& v, std::size_t at, std::uint32_t x);
void put_be32(std::vector<std::uint8_t>& v, std::size_t at, std::uint32_t x);
void append_be16(std::vector<std::uint8_t>& v, std::uint32_t x);
void append_be24(std::vector<std::uint8_t>& v, std::uint32_t x);

}  // namespace freehold::rtsp
