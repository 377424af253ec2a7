// SPDX-License-Identifier: GPL-3.0-or-later
#include "rtsp/rtp_h264.hpp"

#include <gtest/gtest.h>

namespace freehold::rtsp {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes bytes(std::span<const std::uint8_t> s) { return Bytes(s.begin(), s.end()); }

TEST(SplitAnnexB, ThreeAndFourByteStartCodesAndTrailingZeros) {
  const Bytes s = {0, 0, 0, 1, 0x67, 0xAA, 0, 0, 1, 0x68, 0xBB, 0, 0, 0, 1, 0x65, 1, 2, 0, 0};
  auto nals = split_annexb(s);
  ASSERT_EQ(nals.size(), 3u);
  EXPECT_EQ(bytes(nals[0]), (Bytes{0x67, 0xAA}));
  EXPECT_EQ(bytes(nals[1]), (Bytes{0x68, 0xBB}));
  EXPECT_EQ(bytes(nals[2]), (Bytes{0x65, 1, 2}));
  EXPECT_TRUE(split_annexb(Bytes{1, 2, 3}).empty()) << "no start code, no NAL";
  EXPECT_TRUE(split_annexb(Bytes{}).empty());
}

// Checked by hand against RFC 3550 §5.1 and RFC 6184 §5.6.
TEST(H264Packetizer, SingleNalPacketsWithMarkerOnTheLast) {
  H264Packetizer p(0x11223344, 96, 1400, 0xFFFE);
  const Bytes au = {0, 0, 0, 1, 0x41, 0x9A, 0x02, 0, 0, 1, 0x01, 0x55};
  auto b = p.pack(au, 0x01020304);
  ASSERT_EQ(b.packets(), 2u);
  const Bytes first = {'$', 0, 0, 15,                        // interleaved prefix: channel 0, 15 bytes
                       0x80, 0x60, 0xFF, 0xFE,                // V=2, M=0, PT=96, seq 65534
                       0x01, 0x02, 0x03, 0x04,                // timestamp
                       0x11, 0x22, 0x33, 0x44,                // SSRC
                       0x41, 0x9A, 0x02};                     // the NAL as it is
  EXPECT_EQ(Bytes(b.bytes.begin(), b.bytes.begin() + 19), first);
  EXPECT_EQ(bytes(b.packet(1)), (Bytes{0x80, 0xE0, 0xFF, 0xFF, 1, 2, 3, 4, 0x11, 0x22, 0x33, 0x44, 0x01, 0x55}))
      << "marker set, sequence 65535";
  EXPECT_EQ(p.next_sequence(), 0) << "wraps";
}

TEST(H264Packetizer, FuAFragmentsReassembleToTheNal) {
  H264Packetizer p(1, 96, 12 + 100);  // 100-byte payloads: 98 bytes of NAL per fragment
  Bytes au = {0, 0, 0, 1, 0x65};      // IDR, NRI 3
  for (int i = 0; i < 250; ++i) au.push_back(static_cast<std::uint8_t>(i));
  auto b = p.pack(au, 90000);
  ASSERT_EQ(b.packets(), 3u);  // 250 bytes after the header: 98 + 98 + 54
  Bytes rebuilt = {static_cast<std::uint8_t>((b.packet(0)[12] & 0xE0) | (b.packet(0)[13] & 0x1F))};
  for (std::size_t i = 0; i < 3; ++i) {
    auto pkt = b.packet(i);
    EXPECT_EQ(pkt[12], 0x7C) << "FU indicator: F=0, NRI=3, type 28";
    const std::uint8_t fu = pkt[13];
    EXPECT_EQ(fu & 0x80, i == 0 ? 0x80 : 0) << "S bit only on the first";
    EXPECT_EQ(fu & 0x40, i == 2 ? 0x40 : 0) << "E bit only on the last";
    EXPECT_EQ(fu & 0x1F, 5) << "original NAL type";
    EXPECT_EQ(pkt[1] & 0x80, i == 2 ? 0x80 : 0) << "marker only on the last packet of the access unit";
    EXPECT_LE(pkt.size(), 112u);
    EXPECT_EQ((b.bytes[b.offsets[i] + 2] << 8) | b.bytes[b.offsets[i] + 3], static_cast<int>(pkt.size()));
    rebuilt.insert(rebuilt.end(), pkt.begin() + 14, pkt.end());
  }
  EXPECT_EQ(rebuilt, Bytes(au.begin() + 4, au.end()));
}

TEST(H264Packetizer, ParameterSetsGoBeforeEveryIdr) {
  H264Packetizer p(1);
  const Bytes first = {0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x68, 0xCE, 0, 0, 0, 1, 0x65, 0x88};
  auto b1 = p.pack(first, 0);
  EXPECT_EQ(b1.packets(), 3u);
  EXPECT_EQ(p.sps(), (Bytes{0x67, 0x42}));
  EXPECT_EQ(p.pps(), (Bytes{0x68, 0xCE}));
  auto b2 = p.pack(Bytes{0, 0, 0, 1, 0x41, 0x01}, 3000);  // P frame: nothing added
  EXPECT_EQ(b2.packets(), 1u);
  auto b3 = p.pack(Bytes{0, 0, 0, 1, 0x65, 0x99}, 6000);  // IDR alone: SPS and PPS are put in front
  ASSERT_EQ(b3.packets(), 3u);
  EXPECT_EQ(b3.packet(0)[12], 0x67);
  EXPECT_EQ(b3.packet(1)[12], 0x68);
  EXPECT_EQ(b3.packet(2)[12], 0x65);
  EXPECT_EQ(b3.first_sequence, 4);
  EXPECT_EQ(b3.packet(2)[1] & 0x80, 0x80);
}

// After a live change of the encoder, the old encoder's parameter sets must neither be announced nor put in front
// of the new encoder's frames.
TEST(H264Packetizer, ForgottenParameterSetsAreNotReused) {
  H264Packetizer p(1);
  (void)p.pack(Bytes{0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x68, 0xCE, 0, 0, 0, 1, 0x65, 0x88}, 0);
  p.forget_parameter_sets();
  EXPECT_TRUE(p.sps().empty());
  EXPECT_TRUE(p.pps().empty());
  auto b = p.pack(Bytes{0, 0, 0, 1, 0x65, 0x99}, 3000);
  ASSERT_EQ(b.packets(), 1u);
  EXPECT_EQ(b.packet(0)[12], 0x65);
  (void)p.pack(Bytes{0, 0, 0, 1, 0x67, 0x4D, 0, 0, 0, 1, 0x68, 0xEE, 0, 0, 0, 1, 0x65, 0x88}, 6000);
  EXPECT_EQ(p.sps(), (Bytes{0x67, 0x4D})) << "the new encoder's";
}

TEST(H264Packetizer, DropsNalTypesReservedForRtp) {
  H264Packetizer p(1);
  auto b = p.pack(Bytes{0, 0, 1, 0x7C, 0x85, 1, 0, 0, 1, 0x41, 0x02}, 0);  // an "FU-A" inside a byte stream
  ASSERT_EQ(b.packets(), 1u);
  EXPECT_EQ(b.packet(0)[12], 0x41);
}

}  // namespace
}  // namespace freehold::rtsp
