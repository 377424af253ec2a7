// SPDX-License-Identifier: GPL-3.0-or-later
#include "rtsp/rtp_jpeg.hpp"

#include <algorithm>
#include <stdexcept>

namespace freehold::rtsp {
namespace {

// Markers (ITU-T T.81 Table B.1).
constexpr std::uint8_t kSof0 = 0xC0, kDht = 0xC4, kDac = 0xCC, kSoi = 0xD8, kEoi = 0xD9, kSos = 0xDA, kDqt = 0xDB,
                       kDri = 0xDD, kTem = 0x01;
constexpr std::uint8_t kQ = 255;  // quantization tables in band, and they may change with every frame (§4.2)

bool is_rst(std::uint8_t m) { return m >= 0xD0 && m <= 0xD7; }
bool is_sof(std::uint8_t m) { return m >= 0xC0 && m <= 0xCF && m != kDht && m != 0xC8 && m != kDac; }

std::string hex_marker(std::uint8_t m) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  return std::string("0xFF") + kDigits[m >> 4] + kDigits[m & 15];
}

std::string sof_kind(std::uint8_t m) {
  switch (m) {
    case 0xC1: return "extended sequential (SOF1)";
    case 0xC2: return "progressive (SOF2)";
    case 0xC3: return "lossless (SOF3)";
    default: return (m & 8 ? "arithmetic-coded (" : "hierarchical (") + hex_marker(m) + ")";
  }
}

std::uint16_t be16(std::span<const std::uint8_t> s, std::size_t at) {
  return static_cast<std::uint16_t>(s[at] << 8 | s[at + 1]);
}

// T.81 Annex K.3.3: symbols in the order the code lengths assign them.
constexpr std::uint8_t kDcSymbols[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
constexpr std::uint8_t kAcLumaSymbols[] = {
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07, 0x22, 0x71,
    0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0, 0x24, 0x33, 0x62, 0x72,
    0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x34, 0x35, 0x36, 0x37,
    0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59,
    0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83,
    0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3,
    0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3,
    0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2,
    0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa};
constexpr std::uint8_t kAcChromaSymbols[] = {
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71, 0x13, 0x22,
    0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0, 0x15, 0x62, 0x72, 0xd1,
    0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x35, 0x36,
    0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58,
    0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a,
    0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a,
    0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba,
    0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda,
    0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa};

const HuffmanSpec kStandard[2][2] = {
    {{{0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0}, kDcSymbols},
     {{0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0}, kDcSymbols}},
    {{{0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d}, kAcLumaSymbols},
     {{0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77}, kAcChromaSymbols}},
};

struct Component {
  std::uint8_t id = 0, h = 0, v = 0, table = 0;
};

struct ParseState {
  std::array<std::array<std::uint8_t, 64>, 4> tables{};
  std::array<bool, 4> defined{};
  std::array<Component, 3> components{};
  bool have_sof = false;
};

std::optional<std::string> read_dqt(std::span<const std::uint8_t> seg, ParseState& st) {
  while (!seg.empty()) {
    const int precision = seg[0] >> 4, id = seg[0] & 15;
    if (precision != 0) {
      return "JPEG has a 16-bit quantization table (a 12-bit JPEG); RTP/JPEG carries 8-bit tables only";
    }
    if (id > 3) return "malformed JPEG: quantization table id " + std::to_string(id) + " (0-3 allowed)";
    if (seg.size() < 65) return "malformed JPEG: a quantization table (DQT) is cut short";
    std::copy_n(seg.begin() + 1, 64, st.tables[static_cast<std::size_t>(id)].begin());
    st.defined[static_cast<std::size_t>(id)] = true;
    seg = seg.subspan(65);
  }
  return std::nullopt;
}

std::optional<std::string> read_dht(std::span<const std::uint8_t> seg) {
  static const std::string kOnlyStandard =
      "; RTP/JPEG (RFC 2435) receivers know only the standard tables (T.81 Annex K.3): encode without optimized "
      "Huffman tables";
  while (!seg.empty()) {
    if (seg.size() < 17) return "malformed JPEG: a Huffman table (DHT) is cut short";
    const int table_class = seg[0] >> 4, id = seg[0] & 15;
    std::size_t symbols = 0;
    for (int i = 1; i <= 16; ++i) symbols += seg[static_cast<std::size_t>(i)];
    if (seg.size() < 17 + symbols) return "malformed JPEG: a Huffman table (DHT) is cut short";
    if (table_class > 1 || id > 1) {
      return "JPEG defines Huffman table " + std::to_string(table_class) + "/" + std::to_string(id) + kOnlyStandard;
    }
    const HuffmanSpec& want = kStandard[table_class][id];
    if (!std::equal(want.counts.begin(), want.counts.end(), seg.begin() + 1) ||
        !std::equal(want.symbols.begin(), want.symbols.end(), seg.begin() + 17,
                    seg.begin() + 17 + static_cast<std::ptrdiff_t>(symbols))) {
      return std::string("JPEG uses its own ") + (table_class ? "AC " : "DC ") + (id ? "chroma" : "luma") +
             " Huffman table" + kOnlyStandard;
    }
    seg = seg.subspan(17 + symbols);
  }
  return std::nullopt;
}

std::optional<std::string> read_sof(std::uint8_t marker, std::span<const std::uint8_t> seg, ParseState& st,
                                    JpegFrame& out) {
  if (marker != kSof0) return "JPEG is " + sof_kind(marker) + "; RTP/JPEG carries baseline (SOF0) JPEGs only";
  if (st.have_sof) return "malformed JPEG: two frame headers (SOF)";
  if (seg.size() < 6) return "malformed JPEG: the frame header (SOF0) is cut short";
  if (seg[0] != 8) return "JPEG has " + std::to_string(seg[0]) + "-bit samples; RTP/JPEG carries 8-bit only";
  out.height = be16(seg, 1);
  out.width = be16(seg, 3);
  const int count = seg[5];
  if (count != 3) {
    return "JPEG has " + std::to_string(count) + " colour components; RTP/JPEG carries YCbCr (3) only";
  }
  if (seg.size() < 6 + 3 * 3u) return "malformed JPEG: the frame header (SOF0) is cut short";
  for (std::size_t i = 0; i < 3; ++i) {
    const auto c = seg.subspan(6 + 3 * i, 3);
    st.components[i] = {c[0], static_cast<std::uint8_t>(c[1] >> 4), static_cast<std::uint8_t>(c[1] & 15), c[2]};
  }
  st.have_sof = true;
  if (out.width == 0 || out.height == 0) {
    return "JPEG has no size in its frame header (" + std::to_string(out.width) + "x" + std::to_string(out.height) +
           ")";
  }
  if (out.width > JpegPacketizer::kMaxDimension || out.height > JpegPacketizer::kMaxDimension) {
    return "JPEG is " + std::to_string(out.width) + "x" + std::to_string(out.height) + "; RTP/JPEG is limited to " +
           std::to_string(JpegPacketizer::kMaxDimension) + "x" + std::to_string(JpegPacketizer::kMaxDimension);
  }
  const auto& y = st.components[0];
  const auto& cb = st.components[1];
  const auto& cr = st.components[2];
  if (y.h != 2 || (y.v != 1 && y.v != 2) || cb.h != 1 || cb.v != 1 || cr.h != 1 || cr.v != 1) {
    return "JPEG sampling is " + std::to_string(y.h) + "x" + std::to_string(y.v) + "," + std::to_string(cb.h) + "x" +
           std::to_string(cb.v) + "," + std::to_string(cr.h) + "x" + std::to_string(cr.v) +
           "; RTP/JPEG carries 4:2:2 (2x1,1x1,1x1) and 4:2:0 (2x2,1x1,1x1) only";
  }
  out.type = y.v == 2 ? 1 : 0;
  return std::nullopt;
}

std::optional<std::string> read_sos(std::span<const std::uint8_t> seg, const ParseState& st) {
  if (!st.have_sof) return "malformed JPEG: the scan (SOS) comes before the frame header (SOF)";
  if (seg.empty() || seg.size() != 4 + 2u * seg[0]) return "malformed JPEG: the scan header (SOS) has a bad length";
  if (seg[0] != 3) return "JPEG scans its components separately; RTP/JPEG carries one interleaved scan only";
  for (std::size_t i = 0; i < 3; ++i) {
    // Receivers rebuild the headers with the luma tables for Y and the chroma tables for Cb and Cr (§3.1.3).
    const std::uint8_t want_tables = i == 0 ? 0x00 : 0x11;
    if (seg[1 + 2 * i] != st.components[i].id || seg[2 + 2 * i] != want_tables) {
      return "JPEG scan uses other components or Huffman tables than RTP/JPEG receivers assume";
    }
  }
  if (seg[7] != 0 || seg[8] != 63 || seg[9] != 0) {
    return "JPEG scan is not a sequential scan of all coefficients (progressive?)";
  }
  return std::nullopt;
}

// The entropy-coded data from `from` to the EOI: byte stuffing (FF 00) and restart markers belong to it, any other
// marker means a second scan.
std::optional<std::string> find_scan(std::span<const std::uint8_t> j, std::size_t from, JpegFrame& out) {
  for (std::size_t i = from; i + 1 < j.size(); ++i) {
    if (j[i] != 0xFF) continue;
    const std::uint8_t next = j[i + 1];
    if (next == 0x00 || is_rst(next)) {
      ++i;
      continue;
    }
    if (next == 0xFF) continue;  // fill byte before a marker
    if (next != kEoi) {
      return "JPEG has marker " + hex_marker(next) + " after its scan; RTP/JPEG carries one scan ending at EOI";
    }
    std::size_t end = i;
    while (end > from && j[end - 1] == 0xFF) --end;  // fill bytes are not data
    if (end == from) return "malformed JPEG: the scan is empty";
    out.scan = j.subspan(from, end - from);
    return std::nullopt;
  }
  return "truncated JPEG: the scan has no end of image (EOI)";
}

}  // namespace

const HuffmanSpec& standard_huffman_table(int table_class, int id) {
  if (table_class < 0 || table_class > 1 || id < 0 || id > 1) throw std::out_of_range("no such standard table");
  return kStandard[table_class][id];
}

std::optional<std::string> parse_jpeg_for_rtp(std::span<const std::uint8_t> j, JpegFrame& out) {
  out = JpegFrame{};
  if (j.size() < 2 || j[0] != 0xFF || j[1] != kSoi) return "not a JPEG: no start of image (SOI) marker";
  ParseState st;
  std::size_t pos = 2;
  for (;;) {
    if (pos >= j.size()) return "truncated JPEG: it ends before the scan (SOS)";
    if (j[pos] != 0xFF) return "malformed JPEG: no marker at byte " + std::to_string(pos);
    while (pos < j.size() && j[pos] == 0xFF) ++pos;  // fill bytes
    if (pos >= j.size()) return "truncated JPEG: it ends before the scan (SOS)";
    const std::uint8_t m = j[pos++];
    if (m == kTem || is_rst(m)) continue;  // stand-alone markers without a length
    if (m == kSoi || m == kEoi || m == 0x00) {
      return "malformed JPEG: marker " + hex_marker(m) + " before the scan (SOS)";
    }
    if (pos + 2 > j.size()) return "truncated JPEG: marker " + hex_marker(m) + " without its length";
    const std::size_t len = be16(j, pos);
    if (len < 2 || pos + len > j.size()) {
      return "truncated JPEG: segment " + hex_marker(m) + " at byte " + std::to_string(pos - 2) +
             " runs past the end";
    }
    const auto seg = j.subspan(pos + 2, len - 2);
    pos += len;
    std::optional<std::string> err;
    if (m == kDqt) {
      err = read_dqt(seg, st);
    } else if (m == kDht) {
      err = read_dht(seg);
    } else if (m == kDac) {
      err = "JPEG uses arithmetic coding; RTP/JPEG carries Huffman-coded JPEGs only";
    } else if (is_sof(m)) {
      err = read_sof(m, seg, st, out);
    } else if (m == kDri) {
      if (seg.size() != 2) return "malformed JPEG: the restart interval (DRI) has a bad length";
      out.restart_interval = be16(seg, 0);
    } else if (m == kSos) {
      if (auto e = read_sos(seg, st)) return e;
      break;
    }
    // Anything else (APPn, COM, ...) is metadata that RFC 2435 does not carry.
    if (err) return err;
  }
  const auto& c = st.components;
  if (c[1].table != c[2].table) {
    return "JPEG quantizes Cb and Cr with different tables; RTP/JPEG carries one chroma table";
  }
  if (c[0].table > 3 || c[1].table > 3 || !st.defined[c[0].table] || !st.defined[c[1].table]) {
    return "malformed JPEG: a component uses an undefined quantization table";
  }
  std::copy(st.tables[c[0].table].begin(), st.tables[c[0].table].end(), out.quant.begin());
  std::copy(st.tables[c[1].table].begin(), st.tables[c[1].table].end(), out.quant.begin() + 64);
  if (out.restart_interval) out.type |= 64;
  return find_scan(j, pos, out);
}

JpegPacketizer::JpegPacketizer(std::uint32_t ssrc, std::size_t max_packet, std::uint16_t first_sequence)
    : rtp_(ssrc, kPayloadType, first_sequence), max_payload_(max_packet - kRtpHeaderBytes) {
  if (max_packet < kMinPacket) throw std::invalid_argument("RTP packet size too small for RTP/JPEG");
}

std::optional<std::string> JpegPacketizer::pack(std::span<const std::uint8_t> jpeg, std::uint32_t timestamp,
                                                RtpBurst& out) {
  out = RtpBurst{};
  JpegFrame f;
  if (auto err = parse_jpeg_for_rtp(jpeg, f)) return err;
  if (f.scan.size() >= std::size_t{1} << 24) {
    return "JPEG data of " + std::to_string(f.scan.size()) +
           " bytes is more than RTP/JPEG's 24-bit fragment offset can address (16 MiB)";
  }
  const bool restart = f.type & 64;
  const std::size_t main_header = 8 + (restart ? 4 : 0);
  const std::size_t quant_header = 4 + f.quant.size();
  RtpBurst b = rtp_.start(timestamp);
  const std::size_t per_packet = max_payload_ - main_header;
  const std::size_t packets = (f.scan.size() + quant_header + per_packet - 1) / per_packet;
  b.bytes.reserve(f.scan.size() + quant_header + packets * (kInterleavedPrefixBytes + kRtpHeaderBytes + main_header));
  std::size_t offset = 0;
  while (offset < f.scan.size()) {
    const bool first = offset == 0;
    const std::size_t room = per_packet - (first ? quant_header : 0);
    const std::size_t n = std::min(room, f.scan.size() - offset);
    const bool last = offset + n == f.scan.size();
    rtp_.begin_packet(b, main_header + (first ? quant_header : 0) + n, last);
    // Main JPEG header (§3.1): type-specific 0 (progressive frame, not interlaced), fragment offset, type, Q, and
    // the size in 8-pixel blocks, rounded up: the MCU count, hence the decoding, does not change.
    b.bytes.push_back(0);
    append_be24(b.bytes, static_cast<std::uint32_t>(offset));
    b.bytes.push_back(f.type);
    b.bytes.push_back(kQ);
    b.bytes.push_back(static_cast<std::uint8_t>((f.width + 7) / 8));
    b.bytes.push_back(static_cast<std::uint8_t>((f.height + 7) / 8));
    if (restart) {
      // §3.1.7: fragments are not aligned to restart intervals, so F=1, L=1 and the count is 0x3FFF.
      append_be16(b.bytes, f.restart_interval);
      append_be16(b.bytes, 0xFFFF);
    }
    if (first) {  // §3.1.8: MBZ, precision (both tables 8-bit), length, then the luma and chroma tables
      b.bytes.push_back(0);
      b.bytes.push_back(0);
      append_be16(b.bytes, static_cast<std::uint32_t>(f.quant.size()));
      b.bytes.insert(b.bytes.end(), f.quant.begin(), f.quant.end());
    }
    const auto chunk = f.scan.subspan(offset, n);
    b.bytes.insert(b.bytes.end(), chunk.begin(), chunk.end());
    offset += n;
  }
  out = std::move(b);
  return std::nullopt;
}

}  // namespace freehold::rtsp
