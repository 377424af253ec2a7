// SPDX-License-Identifier: GPL-3.0-or-later
// RTP/JPEG (RFC 2435): header fields checked by hand against §3.1, fragmentation, refusals of what the format
// cannot carry, and a round trip: packets depacketized here as RFC 2435 Appendix A does (headers rebuilt from type,
// Q, size and tables) decode to exactly the pixels of the JPEG that went in.
#include "rtsp/rtp_jpeg.hpp"

#include <gtest/gtest.h>
#include <turbojpeg.h>

#include <cstdlib>

#include "hal/source.hpp"
#include "media/jpeg.hpp"

namespace freehold::rtsp {
namespace {

using Bytes = std::vector<std::uint8_t>;

void put16(Bytes& b, int x) {
  b.push_back(static_cast<std::uint8_t>(x >> 8));
  b.push_back(static_cast<std::uint8_t>(x));
}

void segment(Bytes& b, std::uint8_t marker, const Bytes& body) {
  b.push_back(0xFF);
  b.push_back(marker);
  put16(b, static_cast<int>(body.size() + 2));
  b.insert(b.end(), body.begin(), body.end());
}

Bytes dht_body(int table_class, int id) {
  const auto& t = standard_huffman_table(table_class, id);
  Bytes b = {static_cast<std::uint8_t>(table_class << 4 | id)};
  b.insert(b.end(), t.counts.begin(), t.counts.end());
  b.insert(b.end(), t.symbols.begin(), t.symbols.end());
  return b;
}

// A hand-made JPEG: headers as asked, the scan bytes as given (never decoded by the packetizer).
struct JpegSpec {
  int width = 48, height = 32;
  std::uint8_t sof = 0xC0;
  std::uint8_t precision = 8;
  std::uint8_t luma_sampling = 0x22;  // h=2, v=2: 4:2:0
  std::uint8_t quant_of_y = 0, quant_of_cb = 1, quant_of_cr = 1;
  std::uint8_t dqt_precision = 0;
  bool standard_huffman = true;
  bool with_dht = true;
  int restart_interval = 0;
  int components = 3;
  Bytes scan = {0x11, 0x22, 0xFF, 0x00, 0x33, 0xFF, 0xD0, 0x44};  // stuffing and a restart marker are data
  Bytes after_scan = {0xFF, 0xD9};
};

std::uint8_t q0(int i) { return static_cast<std::uint8_t>(i + 1); }
std::uint8_t q1(int i) { return static_cast<std::uint8_t>(200 - i); }

Bytes make_jpeg(const JpegSpec& s) {
  Bytes j = {0xFF, 0xD8};
  segment(j, 0xE0, {'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0});
  Bytes dqt;
  for (int t = 0; t < 2; ++t) {
    dqt.push_back(static_cast<std::uint8_t>(s.dqt_precision << 4 | t));
    for (int i = 0; i < 64 * (s.dqt_precision ? 2 : 1); ++i) dqt.push_back(t == 0 ? q0(i % 64) : q1(i % 64));
  }
  segment(j, 0xDB, dqt);
  Bytes sof = {s.precision};
  put16(sof, s.height);
  put16(sof, s.width);
  sof.push_back(static_cast<std::uint8_t>(s.components));
  const std::uint8_t quant[3] = {s.quant_of_y, s.quant_of_cb, s.quant_of_cr};
  for (int c = 0; c < s.components; ++c) {
    sof.insert(sof.end(), {static_cast<std::uint8_t>(c + 1), c == 0 ? s.luma_sampling : std::uint8_t{0x11},
                           quant[c]});
  }
  segment(j, s.sof, sof);
  if (s.with_dht) {
    Bytes dht;
    for (int c = 0; c < 2; ++c) {
      for (int id = 0; id < 2; ++id) {
        auto t = dht_body(c, id);
        if (!s.standard_huffman && c == 1 && id == 0) std::swap(t[17], t[18]);  // two symbols' codes exchanged
        dht.insert(dht.end(), t.begin(), t.end());
      }
    }
    segment(j, 0xC4, dht);
  }
  if (s.restart_interval) {
    Bytes dri;
    put16(dri, s.restart_interval);
    segment(j, 0xDD, dri);
  }
  Bytes sos = {static_cast<std::uint8_t>(s.components)};
  for (int c = 0; c < s.components; ++c) {
    sos.insert(sos.end(), {static_cast<std::uint8_t>(c + 1), static_cast<std::uint8_t>(c ? 0x11 : 0x00)});
  }
  sos.insert(sos.end(), {0, 63, 0});
  segment(j, 0xDA, sos);
  j.insert(j.end(), s.scan.begin(), s.scan.end());
  j.insert(j.end(), s.after_scan.begin(), s.after_scan.end());
  return j;
}

Bytes bytes(std::span<const std::uint8_t> s) { return Bytes(s.begin(), s.end()); }

std::string pack_error(const Bytes& jpeg) {
  JpegPacketizer p(1);
  RtpBurst b;
  auto err = p.pack(jpeg, 0, b);
  if (err) {
    EXPECT_EQ(b.packets(), 0u);
    EXPECT_EQ(p.next_sequence(), 0) << "a refused frame uses no sequence number";
  }
  return err.value_or("");
}

// §3.1 main header, §3.1.8 quantization table header; checked byte by byte.
TEST(JpegPacketizer, OnePacketFrameMatchesRfc2435ByHand) {
  JpegPacketizer p(0x11223344, 1400, 0x1234);
  RtpBurst b;
  ASSERT_EQ(p.pack(make_jpeg({}), 0x01020304, b), std::nullopt);
  ASSERT_EQ(b.packets(), 1u);
  Bytes want = {'$', 0, 0x00, 12 + 8 + 4 + 128 + 8,
                0x80, 0x80 | 26, 0x12, 0x34,  // V=2; marker (the frame's last packet), PT 26; sequence
                0x01, 0x02, 0x03, 0x04,       // timestamp
                0x11, 0x22, 0x33, 0x44,       // SSRC
                0,                            // type-specific: progressive (not interlaced) frame
                0, 0, 0,                      // fragment offset
                1,                            // type 1: 4:2:0
                255,                          // Q: tables in band, may change every frame
                48 / 8, 32 / 8,               // size in 8-pixel blocks
                0, 0, 0, 128};                // MBZ, precision (two 8-bit tables), length
  for (int i = 0; i < 64; ++i) want.push_back(q0(i));
  for (int i = 0; i < 64; ++i) want.push_back(q1(i));
  want.insert(want.end(), {0x11, 0x22, 0xFF, 0x00, 0x33, 0xFF, 0xD0, 0x44});  // the scan, without the EOI
  EXPECT_EQ(b.bytes, want);
  EXPECT_EQ(b.first_sequence, 0x1234);
  EXPECT_EQ(p.next_sequence(), 0x1235);
  EXPECT_EQ(b.payload_bytes(), 8u + 4 + 128 + 8);
}

TEST(JpegPacketizer, FragmentsCarryOffsetsAndTheMarkerEndsTheFrame) {
  JpegSpec s;
  s.scan.clear();
  for (int i = 0; i < 600; ++i) s.scan.push_back(static_cast<std::uint8_t>(i % 251));
  const std::size_t max_packet = JpegPacketizer::kMinPacket + 19;  // 176: 24 bytes of data first, then 156
  JpegPacketizer p(7, max_packet);
  RtpBurst b;
  ASSERT_EQ(p.pack(make_jpeg(s), 90000, b), std::nullopt);
  ASSERT_EQ(b.packets(), 5u);  // 24 + 156 + 156 + 156 + 108
  const std::uint32_t offsets[] = {0, 24, 180, 336, 492};
  Bytes data;
  for (std::size_t i = 0; i < b.packets(); ++i) {
    const auto pkt = b.packet(i);
    EXPECT_LE(pkt.size(), max_packet);
    EXPECT_EQ((b.bytes[b.offsets[i] + 2] << 8) | b.bytes[b.offsets[i] + 3], static_cast<int>(pkt.size()));
    EXPECT_EQ(pkt[1], (i == 4 ? 0x80 : 0) | 26) << "marker on the last packet only, packet " << i;
    EXPECT_EQ((pkt[2] << 8) | pkt[3], static_cast<int>(i));
    const std::uint32_t offset = pkt[13] << 16 | pkt[14] << 8 | pkt[15];
    EXPECT_EQ(offset, offsets[i]);
    EXPECT_EQ(bytes(pkt.subspan(16, 4)), (Bytes{1, 255, 6, 4})) << "type, Q, size in every packet";
    const std::size_t header = 12 + 8 + (i == 0 ? 132 : 0);  // the tables only in the first packet
    if (i == 0) {
      EXPECT_EQ(bytes(pkt.subspan(20, 4)), (Bytes{0, 0, 0, 128}));
    }
    data.insert(data.end(), pkt.begin() + static_cast<std::ptrdiff_t>(header), pkt.end());
  }
  EXPECT_EQ(data, s.scan);
}

TEST(JpegPacketizer, SamplingGivesTheType) {
  for (auto [sampling, type] : {std::pair<std::uint8_t, std::uint8_t>{0x21, 0}, {0x22, 1}}) {
    JpegSpec s;
    s.luma_sampling = sampling;
    JpegFrame f;
    ASSERT_EQ(parse_jpeg_for_rtp(make_jpeg(s), f), std::nullopt);
    EXPECT_EQ(f.type, type) << "sampling " << int{sampling};
  }
  JpegSpec s;
  s.luma_sampling = 0x11;  // 4:4:4
  EXPECT_NE(pack_error(make_jpeg(s)).find("4:2:0"), std::string::npos);
}

// §3.1.7: with a DRI the type gains 64 and every packet has a restart header; our fragments do not follow restart
// intervals, so F=1, L=1 and the count is 0x3FFF.
TEST(JpegPacketizer, RestartIntervalAddsTheRestartHeader) {
  for (auto [sampling, type] : {std::pair<std::uint8_t, std::uint8_t>{0x21, 64}, {0x22, 65}}) {
    JpegSpec s;
    s.luma_sampling = sampling;
    s.restart_interval = 0x0102;
    s.scan.assign(300, 0x5A);
    JpegPacketizer p(1, 200);
    RtpBurst b;
    ASSERT_EQ(p.pack(make_jpeg(s), 0, b), std::nullopt);
    ASSERT_EQ(b.packets(), 3u);  // 200 - 12 - 12 = 176 per packet, 44 in the first after the tables
    for (std::size_t i = 0; i < b.packets(); ++i) {
      const auto pkt = b.packet(i);
      EXPECT_EQ(pkt[16], type);
      EXPECT_EQ(bytes(pkt.subspan(20, 4)), (Bytes{0x01, 0x02, 0xFF, 0xFF})) << "packet " << i;
    }
    EXPECT_EQ(bytes(b.packet(0).subspan(24, 4)), (Bytes{0, 0, 0, 128})) << "then the quantization table header";
  }
}

TEST(JpegPacketizer, SizeIsSentInBlocksUpTo2040) {
  JpegSpec s;
  s.width = 2040;
  s.height = 1081;  // rounded up: 136 blocks, the MCU rows are the same
  JpegPacketizer p(1);
  RtpBurst b;
  ASSERT_EQ(p.pack(make_jpeg(s), 0, b), std::nullopt);
  EXPECT_EQ(b.packet(0)[18], 255);
  EXPECT_EQ(b.packet(0)[19], 136);
  s.width = 2048;
  const auto err = pack_error(make_jpeg(s));
  EXPECT_NE(err.find("2048x1081"), std::string::npos) << err;
  EXPECT_NE(err.find("2040x2040"), std::string::npos) << err;
}

TEST(JpegPacketizer, LumaTableGoesFirstWhateverItsId) {
  JpegSpec s;
  s.quant_of_y = 1;
  s.quant_of_cb = s.quant_of_cr = 0;
  JpegFrame f;
  ASSERT_EQ(parse_jpeg_for_rtp(make_jpeg(s), f), std::nullopt);
  EXPECT_EQ(f.quant[0], q1(0));
  EXPECT_EQ(f.quant[64], q0(0));
}

TEST(JpegPacketizer, JpegWithoutHuffmanTablesImpliesTheStandardOnes) {
  JpegSpec s;
  s.with_dht = false;  // as many MJPEG cameras send it
  EXPECT_EQ(pack_error(make_jpeg(s)), "");
}

TEST(JpegPacketizer, RefusesWhatRfc2435CannotCarry) {
  auto expect = [](JpegSpec s, const std::string& words) {
    const auto err = pack_error(make_jpeg(s));
    EXPECT_NE(err.find(words), std::string::npos) << "error: '" << err << "', expected '" << words << "'";
  };
  JpegSpec s;
  s.sof = 0xC2;
  expect(s, "progressive (SOF2)");
  s = {};
  s.sof = 0xC9;
  expect(s, "arithmetic");
  s = {};
  s.dqt_precision = 1;
  expect(s, "16-bit quantization table");
  s = {};
  s.precision = 12;
  expect(s, "12-bit samples");
  s = {};
  s.standard_huffman = false;
  expect(s, "own AC luma Huffman table");
  s = {};
  s.components = 1;
  expect(s, "1 colour components");
  s = {};
  s.quant_of_cr = 0;
  expect(s, "Cb and Cr with different tables");
  s = {};
  s.quant_of_y = 3;
  expect(s, "undefined quantization table");
  s = {};
  s.height = 0;
  expect(s, "no size");
  s = {};
  s.after_scan = {0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 63, 0, 0xFF, 0xD9};  // a second scan
  expect(s, "marker 0xFFDA after its scan");
  s = {};
  s.after_scan = {};
  expect(s, "no end of image (EOI)");
}

TEST(JpegPacketizer, MalformedInputIsAnErrorNeverACrash) {
  EXPECT_NE(pack_error({}).find("SOI"), std::string::npos);
  EXPECT_NE(pack_error({0x89, 'P', 'N', 'G'}).find("SOI"), std::string::npos);
  JpegSpec no_sof;
  Bytes j = make_jpeg(no_sof);
  // Cut out the SOF0 segment: the scan then comes first.
  const std::size_t sof = 2 + 18 + 2 + 2 + 130;
  ASSERT_EQ(j[sof + 1], 0xC0);
  j.erase(j.begin() + static_cast<std::ptrdiff_t>(sof), j.begin() + static_cast<std::ptrdiff_t>(sof + 2 + 17));
  EXPECT_NE(pack_error(j).find("before the frame header"), std::string::npos) << pack_error(j);
  // Every truncation of a good JPEG is refused (the scan needs its EOI), and nothing reads past the end.
  const Bytes good = make_jpeg({});
  for (std::size_t n = 0; n < good.size(); ++n) {
    EXPECT_NE(pack_error(Bytes(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n))), "") << n << " bytes";
  }
  // A segment length that runs past the end.
  Bytes bad = good;
  bad[4] = 0xFF;
  EXPECT_NE(pack_error(bad).find("runs past the end"), std::string::npos) << pack_error(bad);
}

// ----- Round trip with real JPEGs: depacketized per RFC 2435 Appendix A, decoded with libturbojpeg.

struct Depacketized {
  std::uint8_t type = 0, q = 0;
  int width = 0, height = 0;
  std::uint16_t restart_interval = 0;
  Bytes tables, data;
};

// The receiver's side: checks the header fields packet by packet and collects the scan.
Depacketized depacketize(const RtpBurst& b) {
  Depacketized d;
  for (std::size_t i = 0; i < b.packets(); ++i) {
    auto pkt = b.packet(i);
    EXPECT_EQ(pkt[1] & 0x7F, 26);
    EXPECT_EQ((pkt[1] & 0x80) != 0, i + 1 == b.packets());
    auto payload = pkt.subspan(12);
    const std::uint32_t offset = payload[1] << 16 | payload[2] << 8 | payload[3];
    EXPECT_EQ(offset, d.data.size()) << "packet " << i << " continues where the last one ended";
    d.type = payload[4];
    d.q = payload[5];
    d.width = payload[6] * 8;
    d.height = payload[7] * 8;
    payload = payload.subspan(8);
    if (d.type & 64) {
      d.restart_interval = static_cast<std::uint16_t>(payload[0] << 8 | payload[1]);
      payload = payload.subspan(4);
    }
    if (offset == 0 && d.q >= 128) {
      const std::size_t length = payload[2] << 8 | payload[3];
      d.tables = bytes(payload.subspan(4, length));
      payload = payload.subspan(4 + length);
    }
    d.data.insert(d.data.end(), payload.begin(), payload.end());
  }
  return d;
}

// RFC 2435 Appendix A's MakeHeaders: the headers a receiver rebuilds, then the scan, then EOI.
Bytes rebuild_jpeg(const Depacketized& d) {
  Bytes j = {0xFF, 0xD8};
  for (int t = 0; t < 2; ++t) {
    Bytes dqt = {static_cast<std::uint8_t>(t)};
    dqt.insert(dqt.end(), d.tables.begin() + 64 * t, d.tables.begin() + 64 * (t + 1));
    segment(j, 0xDB, dqt);
  }
  if (d.restart_interval) {
    Bytes dri;
    put16(dri, d.restart_interval);
    segment(j, 0xDD, dri);
  }
  Bytes sof = {8};
  put16(sof, d.height);
  put16(sof, d.width);
  sof.insert(sof.end(), {3, 0, static_cast<std::uint8_t>((d.type & 63) == 0 ? 0x21 : 0x22), 0, 1, 0x11, 1, 2, 0x11,
                         1});
  segment(j, 0xC0, sof);
  for (int c = 0; c < 2; ++c) {
    for (int id = 0; id < 2; ++id) segment(j, 0xC4, dht_body(c, id));
  }
  segment(j, 0xDA, {3, 0, 0x00, 1, 0x11, 2, 0x11, 0, 63, 0});
  j.insert(j.end(), d.data.begin(), d.data.end());
  j.insert(j.end(), {0xFF, 0xD9});
  return j;
}

struct Planes {
  int width = 0, height = 0, subsamp = -1;
  Bytes yuv;  // as tjDecompressToYUV2 lays them out, no padding
};

Planes decode_yuv(const Bytes& jpeg) {
  Planes p;
  tjhandle h = tjInitDecompress();
  int colorspace = 0;
  if (tjDecompressHeader3(h, jpeg.data(), jpeg.size(), &p.width, &p.height, &p.subsamp, &colorspace) == 0) {
    p.yuv.resize(tjBufSizeYUV2(p.width, 1, p.height, p.subsamp));
    if (tjDecompressToYUV2(h, jpeg.data(), jpeg.size(), p.yuv.data(), p.width, 1, p.height, 0) != 0) p.yuv.clear();
  }
  tjDestroy(h);
  return p;
}

hal::Picture synthetic_picture(int w, int h, int frames) {
  auto src = hal::make_synthetic_source({w, h, 25, true, false});
  hal::Picture p;
  for (int i = 0; i < frames; ++i) EXPECT_EQ(src->next(p), std::nullopt);
  return p;
}

// Packs `jpeg`, depacketizes, rebuilds, decodes: the pixels must equal those of `jpeg` decoded directly.
Planes round_trip(const Bytes& jpeg, std::uint8_t want_type) {
  JpegPacketizer p(0xABCD, 1400);
  RtpBurst b;
  auto err = p.pack(jpeg, 0, b);
  EXPECT_EQ(err, std::nullopt);
  if (err) return {};
  EXPECT_GT(b.packets(), 2u) << "big enough to fragment";
  const auto d = depacketize(b);
  EXPECT_EQ(d.type, want_type);
  EXPECT_EQ(d.q, 255);
  EXPECT_EQ(d.tables.size(), 128u);
  const Planes direct = decode_yuv(jpeg);
  const Planes rebuilt = decode_yuv(rebuild_jpeg(d));
  EXPECT_FALSE(direct.yuv.empty());
  EXPECT_EQ(rebuilt.width, direct.width);
  EXPECT_EQ(rebuilt.height, direct.height);
  EXPECT_EQ(rebuilt.subsamp, direct.subsamp);
  EXPECT_TRUE(rebuilt.yuv == direct.yuv) << "the receiver decodes exactly what the encoder made";
  return rebuilt;
}

TEST(JpegRoundTrip, OurEncoderThroughRtpDecodesToTheSourcePicture) {
  const auto src = synthetic_picture(640, 360, 42);
  Bytes jpeg;
  ASSERT_EQ(media::encode_jpeg(src, 80, jpeg), std::nullopt);
  const auto out = round_trip(jpeg, 1);
  ASSERT_EQ(out.subsamp, TJSAMP_420);
  ASSERT_EQ(out.yuv.size(), src.data.size());
  double diff = 0;
  for (std::size_t i = 0; i < src.data.size(); ++i) diff += std::abs(int{out.yuv[i]} - int{src.data[i]});
  EXPECT_LT(diff / static_cast<double>(src.data.size()), 3.0) << "mean difference within JPEG tolerance";
  EXPECT_EQ(hal::read_burned_counter(out.yuv.data(), out.width, out.height), 41u);
}

TEST(JpegRoundTrip, FourTwoTwoAndRestartMarkers) {
  const auto src = synthetic_picture(320, 240, 5);
  // 4:2:2 planes from the I420 picture: each chroma row twice.
  Bytes u, v;
  for (int y = 0; y < 240; ++y) {
    const auto* ur = src.u() + (y / 2) * 160;
    const auto* vr = src.v() + (y / 2) * 160;
    u.insert(u.end(), ur, ur + 160);
    v.insert(v.end(), vr, vr + 160);
  }
  const unsigned char* planes[3] = {src.y(), u.data(), v.data()};
  auto compress = [&](int subsamp) {
    tjhandle h = tjInitCompress();
    unsigned char* buf = nullptr;
    unsigned long size = 0;
    Bytes out;
    if (tjCompressFromYUVPlanes(h, planes, 320, nullptr, 240, subsamp, &buf, &size, 85, 0) == 0) {
      out.assign(buf, buf + size);
    }
    tjFree(buf);
    tjDestroy(h);
    return out;
  };
  Bytes jpeg = compress(TJSAMP_422);
  ASSERT_FALSE(jpeg.empty());
  EXPECT_EQ(round_trip(jpeg, 0).subsamp, TJSAMP_422);
  // libturbojpeg writes restart markers (a DRI and RSTn in the scan) when TJ_RESTART asks for them.
  setenv("TJ_RESTART", "2", 1);  // every 2 MCU rows
  jpeg = compress(TJSAMP_422);
  unsetenv("TJ_RESTART");
  JpegFrame f;
  ASSERT_EQ(parse_jpeg_for_rtp(jpeg, f), std::nullopt);
  ASSERT_EQ(f.restart_interval, 2 * 320 / 16) << "libturbojpeg did not write restart markers";
  const auto out = round_trip(jpeg, 64);
  EXPECT_EQ(out.subsamp, TJSAMP_422);
  EXPECT_EQ(hal::read_burned_counter(out.yuv.data(), out.width, out.height), 4u);
}

TEST(JpegRoundTrip, RealJpegsThatRtpCannotCarryAreRefused) {
  const auto src = synthetic_picture(320, 240, 1);
  const unsigned char* planes[3] = {src.y(), src.u(), src.v()};
  auto compress = [&](int flags) {
    tjhandle h = tjInitCompress();
    unsigned char* buf = nullptr;
    unsigned long size = 0;
    Bytes out;
    if (tjCompressFromYUVPlanes(h, planes, 320, nullptr, 240, TJSAMP_420, &buf, &size, 80, flags) == 0) {
      out.assign(buf, buf + size);
    }
    tjFree(buf);
    tjDestroy(h);
    return out;
  };
  EXPECT_NE(pack_error(compress(TJFLAG_PROGRESSIVE)).find("progressive"), std::string::npos);
  setenv("TJ_OPTIMIZE", "1", 1);  // Huffman tables made for this picture
  const auto optimized = compress(0);
  unsetenv("TJ_OPTIMIZE");
  EXPECT_NE(pack_error(optimized).find("Huffman"), std::string::npos) << pack_error(optimized);
}

}  // namespace
}  // namespace freehold::rtsp
