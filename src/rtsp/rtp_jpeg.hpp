// SPDX-License-Identifier: GPL-3.0-or-later
// Motion JPEG over RTP (RFC 2435). RTP carries only what a receiver cannot rebuild: the picture size, the
// sampling type, the quantization tables and the restart interval; the receiver regenerates every other header
// from these and the standard Huffman tables. So only baseline JPEGs that use the standard tables can be sent:
// 8-bit, three components (4:2:0 or 4:2:2), one interleaved scan, at most 2040x2040. They come from our own
// encoder, but also from cameras in passthrough: anything else is refused with the reason, never sent garbled.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "rtsp/rtp.hpp"

namespace freehold::rtsp {

// The fields of one JPEG that RFC 2435 carries.
struct JpegFrame {
  std::uint8_t type = 0;                  // 0: 4:2:2, 1: 4:2:0; +64 with restart markers (§3.1.3)
  int width = 0;                          // pixels, as in the SOF (sent rounded up to a multiple of 8)
  int height = 0;
  std::uint16_t restart_interval = 0;     // MCUs, from the DRI; 0: none
  std::array<std::uint8_t, 128> quant{};  // luma then chroma table, 8-bit, zigzag order as in the DQT
  std::span<const std::uint8_t> scan;     // entropy-coded data after the SOS header, up to the EOI (excluded)
};

// Parses `jpeg` into `out` (whose `scan` points into `jpeg`). An error names what RFC 2435 cannot carry.
[[nodiscard]] std::optional<std::string> parse_jpeg_for_rtp(std::span<const std::uint8_t> jpeg, JpegFrame& out);

// The standard Huffman tables of ITU-T T.81 Annex K.3 (the only ones RFC 2435 receivers know): the 16 code
// counts and the symbols, as a DHT segment lists them. Class 0 = DC, 1 = AC; id 0 = luminance, 1 = chrominance.
struct HuffmanSpec {
  std::array<std::uint8_t, 16> counts;
  std::span<const std::uint8_t> symbols;
};
[[nodiscard]] const HuffmanSpec& standard_huffman_table(int table_class, int id);

class JpegPacketizer final {
 public:
  static constexpr std::uint8_t kPayloadType = 26;  // static, RFC 3551
  static constexpr int kMaxDimension = 2040;        // width/8 and height/8 are one byte each
  // The first packet holds the headers and both quantization tables plus at least one byte of data.
  static constexpr std::size_t kMinPacket = kRtpHeaderBytes + 8 + 4 + 4 + 128 + 1;

  // `max_packet` is the largest RTP packet (header + payload), at least kMinPacket.
  explicit JpegPacketizer(std::uint32_t ssrc, std::size_t max_packet = 1400, std::uint16_t first_sequence = 0);

  // Packs one JPEG at `timestamp` (90 kHz) into `out`: Q=255 with the quantization tables in the first packet,
  // the marker bit on the last. nullopt on success; otherwise why the JPEG cannot be sent (`out` is then empty
  // and no sequence number is used).
  [[nodiscard]] std::optional<std::string> pack(std::span<const std::uint8_t> jpeg, std::uint32_t timestamp,
                                                RtpBurst& out);

  [[nodiscard]] std::uint16_t next_sequence() const { return rtp_.next_sequence(); }
  [[nodiscard]] std::uint32_t ssrc() const { return rtp_.ssrc(); }

 private:
  RtpHeaderWriter rtp_;
  std::size_t max_payload_;
};

}  // namespace freehold::rtsp
