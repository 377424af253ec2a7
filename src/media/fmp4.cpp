// SPDX-License-Identifier: GPL-3.0-or-later
#include "media/fmp4.hpp"

#include <array>
#include <cstdio>

#include "media/annexb.hpp"

namespace freehold::media {
namespace {

// Big-endian box writer: open() remembers where a box starts, close() writes its size there.
class Boxes final {
 public:
  explicit Boxes(std::vector<std::uint8_t>& out) : out_(out) {}

  std::size_t open(const char (&type)[5]) {
    const auto at = out_.size();
    u32(0);
    out_.insert(out_.end(), type, type + 4);
    return at;
  }
  std::size_t open_full(const char (&type)[5], std::uint8_t version, std::uint32_t flags) {
    const auto at = open(type);
    u32((static_cast<std::uint32_t>(version) << 24) | (flags & 0xffffff));
    return at;
  }
  void close(std::size_t at) { put_at(at, static_cast<std::uint32_t>(out_.size() - at)); }

  void u8(std::uint8_t v) { out_.push_back(v); }
  void u16(std::uint16_t v) {
    u8(static_cast<std::uint8_t>(v >> 8));
    u8(static_cast<std::uint8_t>(v));
  }
  void u32(std::uint32_t v) {
    u16(static_cast<std::uint16_t>(v >> 16));
    u16(static_cast<std::uint16_t>(v));
  }
  void u64(std::uint64_t v) {
    u32(static_cast<std::uint32_t>(v >> 32));
    u32(static_cast<std::uint32_t>(v));
  }
  void zeros(std::size_t n) { out_.insert(out_.end(), n, 0); }
  void bytes(std::span<const std::uint8_t> b) { out_.insert(out_.end(), b.begin(), b.end()); }
  void put_at(std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out_[at + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v >> (24 - 8 * i));
  }
  [[nodiscard]] std::size_t size() const { return out_.size(); }

  // The unity transformation of mvhd and tkhd.
  void matrix() {
    for (std::uint32_t v : {0x00010000u, 0u, 0u, 0u, 0x00010000u, 0u, 0u, 0u, 0x40000000u}) u32(v);
  }

 private:
  std::vector<std::uint8_t>& out_;
};

constexpr std::uint32_t kTrackId = 1;

void avc_sample_entry(Boxes& b, const Fmp4Track& t) {
  const auto avc1 = b.open("avc1");
  b.zeros(6);  // reserved
  b.u16(1);    // data_reference_index
  b.zeros(16);  // pre_defined, reserved, pre_defined[3]
  b.u16(static_cast<std::uint16_t>(t.width));
  b.u16(static_cast<std::uint16_t>(t.height));
  b.u32(0x00480000);  // 72 dpi
  b.u32(0x00480000);
  b.u32(0);       // reserved
  b.u16(1);       // frame_count
  b.zeros(32);    // compressorname
  b.u16(0x0018);  // depth
  b.u16(0xffff);  // pre_defined = -1
  const auto avcc = b.open("avcC");
  b.u8(1);  // configurationVersion
  b.u8(t.sps[1]);  // profile, compatibility, level: straight from the SPS
  b.u8(t.sps[2]);
  b.u8(t.sps[3]);
  b.u8(0xff);  // 4-byte NAL lengths
  b.u8(0xe1);  // one SPS
  b.u16(static_cast<std::uint16_t>(t.sps.size()));
  b.bytes(t.sps);
  b.u8(1);  // one PPS
  b.u16(static_cast<std::uint16_t>(t.pps.size()));
  b.bytes(t.pps);
  b.close(avcc);
  b.close(avc1);
}

void empty_table(Boxes& b, const char (&type)[5]) {
  const auto at = b.open_full(type, 0, 0);
  b.u32(0);  // entry_count
  b.close(at);
}

}  // namespace

std::optional<Fmp4Track> track_from_access_unit(std::span<const std::uint8_t> annexb) {
  Fmp4Track t;
  for (auto nal : split_annexb(annexb)) {
    if (nal_type(nal) == kNalSps && nal.size() >= 4) t.sps.assign(nal.begin(), nal.end());
    if (nal_type(nal) == kNalPps) t.pps.assign(nal.begin(), nal.end());
  }
  if (t.sps.empty() || t.pps.empty() || t.sps.size() > 0xffff || t.pps.size() > 0xffff) return std::nullopt;
  return t;
}

std::string avc1_codec(std::span<const std::uint8_t> sps) {
  if (sps.size() < 4) return "avc1";
  std::array<char, 16> s{};
  std::snprintf(s.data(), s.size(), "avc1.%02x%02x%02x", sps[1], sps[2], sps[3]);
  return s.data();
}

std::vector<std::uint8_t> fmp4_init_segment(const Fmp4Track& t) {
  std::vector<std::uint8_t> out;
  out.reserve(512 + t.sps.size() + t.pps.size());
  Boxes b(out);
  const auto ftyp = b.open("ftyp");
  for (const char* brand : {"isom", "\0\0\2\0", "isom", "iso6", "avc1", "mp41"}) {
    b.bytes(std::span(reinterpret_cast<const std::uint8_t*>(brand), 4));
  }
  b.close(ftyp);

  const auto moov = b.open("moov");
  const auto mvhd = b.open_full("mvhd", 0, 0);
  b.u32(0);  // creation_time
  b.u32(0);  // modification_time
  b.u32(1000);  // timescale
  b.u32(0);  // duration: unknown, fragments follow
  b.u32(0x00010000);  // rate 1.0
  b.u16(0x0100);  // volume 1.0
  b.zeros(10);  // reserved
  b.matrix();
  b.zeros(24);  // pre_defined
  b.u32(kTrackId + 1);  // next_track_ID
  b.close(mvhd);

  const auto trak = b.open("trak");
  const auto tkhd = b.open_full("tkhd", 0, 0x3);  // enabled, in movie
  b.u32(0);
  b.u32(0);
  b.u32(kTrackId);
  b.u32(0);  // reserved
  b.u32(0);  // duration
  b.zeros(8);  // reserved
  b.u16(0);  // layer
  b.u16(0);  // alternate_group
  b.u16(0);  // volume: video
  b.u16(0);  // reserved
  b.matrix();
  b.u32(static_cast<std::uint32_t>(t.width) << 16);  // 16.16 fixed point
  b.u32(static_cast<std::uint32_t>(t.height) << 16);
  b.close(tkhd);

  const auto mdia = b.open("mdia");
  const auto mdhd = b.open_full("mdhd", 0, 0);
  b.u32(0);
  b.u32(0);
  b.u32(t.timescale);
  b.u32(0);
  b.u16(0x55c4);  // language "und"
  b.u16(0);
  b.close(mdhd);
  const auto hdlr = b.open_full("hdlr", 0, 0);
  b.u32(0);  // pre_defined
  b.bytes(std::span(reinterpret_cast<const std::uint8_t*>("vide"), 4));
  b.zeros(12);  // reserved
  static constexpr char kName[] = "Freehold video";
  b.bytes(std::span(reinterpret_cast<const std::uint8_t*>(kName), sizeof kName));  // with its NUL
  b.close(hdlr);
  const auto minf = b.open("minf");
  const auto vmhd = b.open_full("vmhd", 0, 1);
  b.zeros(8);  // graphicsmode, opcolor
  b.close(vmhd);
  const auto dinf = b.open("dinf");
  const auto dref = b.open_full("dref", 0, 0);
  b.u32(1);
  const auto url = b.open_full("url ", 0, 1);  // the media is in this file
  b.close(url);
  b.close(dref);
  b.close(dinf);
  const auto stbl = b.open("stbl");
  const auto stsd = b.open_full("stsd", 0, 0);
  b.u32(1);
  avc_sample_entry(b, t);
  b.close(stsd);
  empty_table(b, "stts");
  empty_table(b, "stsc");
  const auto stsz = b.open_full("stsz", 0, 0);
  b.u32(0);  // sample_size
  b.u32(0);  // sample_count
  b.close(stsz);
  empty_table(b, "stco");
  b.close(stbl);
  b.close(minf);
  b.close(mdia);
  b.close(trak);

  const auto mvex = b.open("mvex");
  const auto trex = b.open_full("trex", 0, 0);
  b.u32(kTrackId);
  b.u32(1);  // default_sample_description_index
  b.u32(0);  // default_sample_duration
  b.u32(0);  // default_sample_size
  b.u32(0);  // default_sample_flags
  b.close(trex);
  b.close(mvex);
  b.close(moov);
  return out;
}

std::vector<std::uint8_t> fmp4_fragment(std::uint32_t sequence, const Fmp4Sample& s) {
  const auto nals = split_annexb(s.annexb);
  std::size_t payload = 0;
  auto carried = [](std::span<const std::uint8_t> nal) {
    const auto t = nal_type(nal);
    return t != kNalSps && t != kNalPps && t != kNalAud;  // in the init segment, or meaningless in MP4
  };
  for (auto nal : nals) {
    if (carried(nal)) payload += 4 + nal.size();
  }
  std::vector<std::uint8_t> out;
  out.reserve(128 + payload);
  Boxes b(out);
  const auto moof = b.open("moof");
  const auto mfhd = b.open_full("mfhd", 0, 0);
  b.u32(sequence);
  b.close(mfhd);
  const auto traf = b.open("traf");
  const auto tfhd = b.open_full("tfhd", 0, 0x020000);  // default-base-is-moof
  b.u32(kTrackId);
  b.close(tfhd);
  const auto tfdt = b.open_full("tfdt", 1, 0);
  b.u64(s.decode_time);
  b.close(tfdt);
  // data-offset, sample-duration, sample-size and sample-flags present
  const auto trun = b.open_full("trun", 0, 0x000001 | 0x000100 | 0x000200 | 0x000400);
  b.u32(1);  // sample_count
  const auto data_offset = b.size();
  b.u32(0);  // patched below
  b.u32(s.duration);
  b.u32(static_cast<std::uint32_t>(payload));
  // A keyframe depends on no other sample; any other frame depends on others and is no sync sample.
  b.u32(s.keyframe ? 0x02000000 : 0x01010000);
  b.close(trun);
  b.close(traf);
  b.close(moof);
  b.put_at(data_offset, static_cast<std::uint32_t>(b.size() - moof + 8));
  const auto mdat = b.open("mdat");
  for (auto nal : nals) {
    if (!carried(nal)) continue;
    b.u32(static_cast<std::uint32_t>(nal.size()));
    b.bytes(nal);
  }
  b.close(mdat);
  return out;
}

}  // namespace freehold::media
