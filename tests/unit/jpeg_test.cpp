// SPDX-License-Identifier: GPL-3.0-or-later
// The JPEG encoder (snapshots and the MJPEG stream): what it makes decodes to the picture it was given, with the
// burned-in counter intact; bad pictures and settings are refused with a reason.
#include "media/jpeg.hpp"
#include "support/decode_jpeg.hpp"

#include <gtest/gtest.h>
#include <turbojpeg.h>

#include <cstdlib>
#include <thread>

#include "media/encoder.hpp"

namespace freehold::media {
namespace {

hal::Picture synthetic(int w, int h, int frames = 1) {
  auto src = hal::make_synthetic_source({w, h, 25, true, false});
  hal::Picture p;
  for (int i = 0; i < frames; ++i) EXPECT_EQ(src->next(p), std::nullopt);
  return p;
}

using test::decode;

double mean_abs_diff(const std::uint8_t* a, const std::uint8_t* b, std::size_t n) {
  double sum = 0;
  for (std::size_t i = 0; i < n; ++i) sum += std::abs(int{a[i]} - int{b[i]});
  return sum / static_cast<double>(n);
}

TEST(Jpeg, DecodesToThePictureWithItsCounter) {
  const auto p = synthetic(640, 360, 8);
  std::vector<std::uint8_t> jpeg;
  ASSERT_EQ(encode_jpeg(p, 80, jpeg), std::nullopt);
  ASSERT_GT(jpeg.size(), 4u);
  EXPECT_EQ(jpeg[0], 0xFF);
  EXPECT_EQ(jpeg[1], 0xD8);
  const auto d = decode(jpeg);
  ASSERT_EQ(d.y.size(), 640u * 360u);
  EXPECT_EQ(d.width, 640);
  EXPECT_EQ(d.height, 360);
  EXPECT_EQ(d.subsamp, TJSAMP_420);
  EXPECT_LT(mean_abs_diff(d.y.data(), p.y(), d.y.size()), 3.0);
  EXPECT_EQ(hal::read_burned_counter(d.y.data(), d.width, d.height), 7u);
}

TEST(Jpeg, QualityTradesSizeForFidelity) {
  const auto p = synthetic(320, 240);
  std::vector<std::uint8_t> low, high;
  ASSERT_EQ(encode_jpeg(p, 20, low), std::nullopt);
  ASSERT_EQ(encode_jpeg(p, 95, high), std::nullopt);
  EXPECT_LT(low.size(), high.size());
  const auto dl = decode(low), dh = decode(high);
  ASSERT_FALSE(dl.y.empty());
  ASSERT_FALSE(dh.y.empty());
  EXPECT_LT(mean_abs_diff(dh.y.data(), p.y(), dh.y.size()), mean_abs_diff(dl.y.data(), p.y(), dl.y.size()));
}

TEST(Jpeg, RefusesWhatItCannotEncode) {
  std::vector<std::uint8_t> out = {1, 2, 3};
  auto p = synthetic(320, 240);
  auto err = encode_jpeg(p, 0, out);
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("quality 0"), std::string::npos) << *err;
  EXPECT_TRUE(encode_jpeg(p, 101, out));

  hal::Picture odd;
  odd.allocate(321, 240);
  err = encode_jpeg(odd, 80, out);
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("321x240"), std::string::npos) << *err;

  hal::Picture short_buffer = p;
  short_buffer.data.resize(100);
  err = encode_jpeg(short_buffer, 80, out);
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("too small"), std::string::npos) << *err;

  hal::Picture encoded = p;
  encoded.format = hal::PixelFormat::h264;
  EXPECT_TRUE(encode_jpeg(encoded, 80, out));
  EXPECT_EQ(out, (std::vector<std::uint8_t>{1, 2, 3})) << "a refusal leaves the output alone";
}

TEST(Jpeg, ThreadsEncodeAtOnce) {
  const auto p = synthetic(320, 240, 3);
  std::vector<std::uint8_t> reference;
  ASSERT_EQ(encode_jpeg(p, 75, reference), std::nullopt);
  std::vector<std::vector<std::uint8_t>> outs(4);
  std::vector<std::thread> threads;
  for (auto& o : outs) {
    threads.emplace_back([&p, &o] {
      for (int i = 0; i < 20; ++i) {
        if (encode_jpeg(p, 75, o)) o.clear();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& o : outs) EXPECT_EQ(o, reference) << "same picture, same quality: same bytes on every thread";
}

TEST(JpegEncoder, EveryFrameIsAKeyframe) {
  std::string err;
  EncoderSettings s;
  s.width = 320;
  s.height = 240;
  auto enc = make_jpeg_encoder(s, &err);
  ASSERT_TRUE(enc) << err;
  auto src = hal::make_synthetic_source({320, 240, 25, true, false});
  hal::Picture p;
  for (std::uint64_t i = 0; i < 3; ++i) {
    ASSERT_EQ(src->next(p), std::nullopt);
    EncodedFrame f;
    ASSERT_EQ(enc->encode(p, f), std::nullopt);
    EXPECT_EQ(f.codec, Codec::mjpeg);
    EXPECT_TRUE(f.keyframe);
    EXPECT_EQ(f.capture_us, p.capture_us);
    const auto d = decode(f.data);
    ASSERT_FALSE(d.y.empty());
    EXPECT_EQ(hal::read_burned_counter(d.y.data(), d.width, d.height), i);
  }
  EncodedFrame f;
  const auto big = synthetic(640, 360);
  err = enc->encode(big, f).value_or("");
  EXPECT_NE(err.find("640x360"), std::string::npos) << err;
}

TEST(JpegEncoder, RefusesSizesRtpCannotCarry) {
  std::string err;
  EncoderSettings s;
  s.width = 2048;
  s.height = 1080;
  EXPECT_FALSE(make_jpeg_encoder(s, &err));
  EXPECT_NE(err.find("2040"), std::string::npos) << err;
  s.width = 2040;
  EXPECT_TRUE(make_jpeg_encoder(s, &err)) << err;
  s.jpeg_quality = 0;
  EXPECT_FALSE(make_jpeg_encoder(s, &err));
  EXPECT_NE(err.find("quality"), std::string::npos) << err;
}

}  // namespace
}  // namespace freehold::media
