// SPDX-License-Identifier: GPL-3.0-or-later
// The synthetic source through x264, decoded again with libavcodec: the burned-in counter must come back intact,
// frame after frame, and the stream must start with a decodable keyframe.
#include <gtest/gtest.h>

extern "C" {
#include <libavcodec/avcodec.h>
}

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <thread>

#include "core/config.hpp"
#include "hal/source.hpp"
#include "support/eventually.hpp"
#include "media/camera.hpp"
#include "media/encoder.hpp"
#include "media/capture.hpp"
#include "media/video_stream.hpp"

namespace freehold::media {
namespace {

class Decoder {
 public:
  Decoder() {
    const AVCodec* codec = avcodec_find_decoder(AV_CODEC_ID_H264);
    ctx_ = avcodec_alloc_context3(codec);
    avcodec_open2(ctx_, codec, nullptr);
    frame_ = av_frame_alloc();
    packet_ = av_packet_alloc();
  }
  ~Decoder() {
    av_packet_free(&packet_);
    av_frame_free(&frame_);
    avcodec_free_context(&ctx_);
  }
  // Decodes one access unit; returns the burned-in counter of the picture it yields, if any.
  std::optional<std::uint64_t> decode(const std::vector<std::uint8_t>& au) {
    packet_->data = const_cast<std::uint8_t*>(au.data());
    packet_->size = static_cast<int>(au.size());
    if (avcodec_send_packet(ctx_, packet_) < 0) return std::nullopt;
    if (avcodec_receive_frame(ctx_, frame_) < 0) return std::nullopt;
    luma_.resize(static_cast<std::size_t>(frame_->width) * frame_->height);
    for (int y = 0; y < frame_->height; ++y) {
      std::copy_n(frame_->data[0] + static_cast<std::ptrdiff_t>(y) * frame_->linesize[0], frame_->width,
                  luma_.begin() + static_cast<std::ptrdiff_t>(y) * frame_->width);
    }
    return hal::read_burned_counter(luma_.data(), frame_->width, frame_->height);
  }
  [[nodiscard]] int width() const { return frame_->width; }
  [[nodiscard]] int height() const { return frame_->height; }

 private:
  AVCodecContext* ctx_ = nullptr;
  AVFrame* frame_ = nullptr;
  AVPacket* packet_ = nullptr;
  std::vector<std::uint8_t> luma_;
};

TEST(Synthetic, CounterReadsBackFromRawPictures) {
  auto src = hal::make_synthetic_source({640, 360, 25, true, false});
  hal::Picture p;
  for (std::uint64_t i = 0; i < 5; ++i) {
    ASSERT_EQ(src->next(p), std::nullopt);
    EXPECT_EQ(p.index, i);
    EXPECT_EQ(hal::read_burned_counter(p.y(), p.width, p.height), i);
  }
}

TEST(X264, EncodedStreamDecodesWithItsCounters) {
  hal::SyntheticOptions so{640, 360, 25, false, false};
  auto src = hal::make_synthetic_source(so);
  std::string err;
  auto enc = make_x264_encoder({640, 360, 25, 1000, false, 10}, &err);
  ASSERT_TRUE(enc) << err;
  Decoder dec;
  hal::Picture p;
  int keyframes = 0;
  for (std::uint64_t i = 0; i < 30; ++i) {
    ASSERT_EQ(src->next(p), std::nullopt);
    EncodedFrame f;
    ASSERT_EQ(enc->encode(p, f), std::nullopt);
    ASSERT_FALSE(f.data.empty()) << "zerolatency: one frame in, one frame out";
    if (i == 0) {
      EXPECT_TRUE(f.keyframe);
    }
    keyframes += f.keyframe;
    EXPECT_EQ(dec.decode(f.data), i) << "frame " << i;
  }
  EXPECT_EQ(keyframes, 3) << "GOP of 10";
}

// The libavcodec path that drives the V4L2 M2M hardware encoder, exercised through libavcodec's libx264 (no
// hardware here): in-band SPS/PPS, keyframes on request and every GOP, every frame decodable with its counter.
TEST(LibavEncoder, EncodesDecodableH264AndHonoursKeyframeRequests) {
  auto src = hal::make_synthetic_source({320, 240, 25, false, false});
  std::string err;
  auto enc = make_libav_encoder("libx264", {320, 240, 25, 500, false, 12}, &err);
  ASSERT_TRUE(enc) << err;
  Decoder dec;
  hal::Picture p;
  std::vector<bool> keys;
  for (std::uint64_t i = 0; i < 20; ++i) {
    ASSERT_EQ(src->next(p), std::nullopt);
    if (i == 5) enc->request_keyframe();
    EncodedFrame f;
    ASSERT_EQ(enc->encode(p, f), std::nullopt);
    ASSERT_FALSE(f.data.empty()) << "zerolatency: one frame in, one out";
    keys.push_back(f.keyframe);
    EXPECT_EQ(dec.decode(f.data), i);
  }
  EXPECT_TRUE(keys[0]);
  EXPECT_TRUE(keys[5]) << "requested";
  EXPECT_TRUE(keys[17]) << "GOP of 12 after the forced one";
  EXPECT_FALSE(keys[1]);
}

TEST(LibavEncoder, WithoutHardwareAutoFallsBackToX264AndSaysWhy) {
  std::string err, chosen;
  auto enc = make_h264_encoder("auto", {320, 240, 25, 500, false, 12}, &err, &chosen);
  ASSERT_TRUE(enc) << err;
  EXPECT_TRUE(chosen == "v4l2m2m" || chosen.starts_with("x264 (no hardware encoder: ")) << chosen;
  if (chosen != "v4l2m2m") {
    EXPECT_EQ(make_h264_encoder("v4l2m2m", {320, 240, 25, 500, false, 12}, &err), nullptr);
    EXPECT_TRUE(err.starts_with("no V4L2 M2M hardware encoder: ")) << err;
  }
  EXPECT_EQ(make_libav_encoder("nonesuch", {320, 240, 25, 500, false, 12}, &err), nullptr);
  EXPECT_EQ(err, "libavcodec has no encoder named nonesuch");
}

TEST(X264, RefusesOddSizes) {
  std::string err;
  EXPECT_EQ(make_x264_encoder({641, 360, 25, 1000, false, 10}, &err), nullptr);
  EXPECT_EQ(err, "H.264 needs an even width and height, got 641x360");
}

EncoderFactory x264() {
  return [](const EncoderSettings& s, std::string* e) { return make_x264_encoder(s, e); };
}

using freehold::test::eventually;

TEST(VideoStream, IdleUntilReadAndFirstReaderStartsAtAFreshKeyframe) {
  Capture capture(hal::make_synthetic_source({320, 240, 50, false, true}));
  VideoStream stream("main", capture.subscribe({}), x264(), {320, 240, 50, 500, false, 100}, 200);
  std::atomic<int> published{0};
  stream.add_on_frame([&] { ++published; });
  capture.start();
  stream.start();
  ASSERT_TRUE(eventually([&] { return capture.pictures() >= 5; }));
  EXPECT_EQ(published.load(), 0) << "nobody reads: nothing is encoded";
  auto cursor = stream.add_reader();
  ASSERT_TRUE(eventually([&] { return published.load() >= 5; }));
  std::vector<FramePtr> got;
  stream.ring().read(cursor, got, 100);
  ASSERT_FALSE(got.empty());
  EXPECT_TRUE(got.front()->keyframe);
  stream.remove_reader();
  stream.stop();
  capture.stop();
}

// Main and sub from one capture: sub is scaled and thinned, its counters still readable after decoding, and the
// capture's frame counter shows that sub skips pictures evenly.
TEST(Capture, SubIsScaledAndThinnedFromTheMainCapture) {
  Capture capture(hal::make_synthetic_source({640, 360, 50, false, true}));
  VideoStream main("main", capture.subscribe({}), x264(), {640, 360, 50, 800, false, 50}, 100);
  VideoStream sub("sub", capture.subscribe({}), x264(), {320, 180, 10, 300, false, 20}, 40);
  capture.start();
  main.start();
  sub.start();
  auto mc = main.add_reader();
  auto sc = sub.add_reader();
  ASSERT_TRUE(eventually([&] { return sub.stats().frames_encoded >= 8; }));
  main.stop();
  sub.stop();
  capture.stop();
  std::vector<FramePtr> frames;
  sub.ring().read(sc, frames, 1000);
  Decoder dec;
  std::vector<std::uint64_t> counters;
  for (const auto& f : frames) {
    if (auto c = dec.decode(f->data)) counters.push_back(*c);
  }
  ASSERT_GE(counters.size(), 6u);
  EXPECT_EQ(dec.width(), 320);
  EXPECT_EQ(dec.height(), 180);
  // 50 fps thinned to 10: every fifth picture (a busy machine may delay one, never deliver faster).
  for (std::size_t i = 1; i < counters.size(); ++i) EXPECT_GE(counters[i] - counters[i - 1], 4u);
  const double step = static_cast<double>(counters.back() - counters.front()) / (counters.size() - 1);
  EXPECT_NEAR(step, 5.0, 0.8);
  frames.clear();
  main.ring().read(mc, frames, 1000);
  EXPECT_GE(frames.size(), 3 * counters.size()) << "main is not thinned to sub's rate";
  main.remove_reader();
  sub.remove_reader();
}

TEST(VideoStream, ReconfiguresLiveAndReadersCarryOn) {
  Capture capture(hal::make_synthetic_source({640, 360, 25, false, true}));
  VideoStream stream("main", capture.subscribe({}), x264(), {640, 360, 25, 800, false, 25}, 100);
  capture.start();
  stream.start();
  auto cursor = stream.add_reader();
  ASSERT_TRUE(eventually([&] { return stream.stats().frames_encoded >= 3; }));
  stream.reconfigure({320, 180, 25, 300, true, 10});
  ASSERT_TRUE(eventually([&] { return stream.width() == 320; }));
  const auto before = stream.stats().frames_encoded;
  ASSERT_TRUE(eventually([&] { return stream.stats().frames_encoded >= before + 12; }));
  stream.stop();
  capture.stop();
  std::vector<FramePtr> frames;
  stream.ring().read(cursor, frames, 1000);
  Decoder dec;
  std::optional<std::uint64_t> last;
  bool saw_small = false;
  for (const auto& f : frames) {
    auto c = dec.decode(f->data);
    ASSERT_TRUE(c) << "every frame decodes, across the change";
    if (last) {
      EXPECT_GT(*c, *last) << "pictures in order across the change";
    }
    last = c;
    saw_small = saw_small || dec.width() == 320;
  }
  EXPECT_TRUE(saw_small);
  stream.remove_reader();
}

// Regression: after a resize, the pictures already queued at the old size went to the new encoder, which refused
// each one (stream.encode_failed). They are dropped and counted instead.
TEST(VideoStream, PicturesQueuedAtTheOldSizeAreDroppedNotEncoded) {
  Capture capture(hal::make_synthetic_source({320, 240, 50, false, true}));
  VideoStream stream("main", capture.subscribe({}), x264(), {320, 240, 50, 500, false, 50}, 100);
  auto cursor = stream.add_reader();  // the feed is active: the capture fills its queue
  capture.start();
  ASSERT_TRUE(eventually([&] { return stream.stats().frames_lost_busy >= 1; })) << "the feed's queue is full";
  stream.reconfigure({160, 120, 50, 300, false, 50});
  stream.start();  // applies the change first, then meets the queued 320x240 pictures
  ASSERT_TRUE(eventually([&] { return stream.stats().frames_encoded >= 5; }));
  stream.stop();
  capture.stop();
  const auto st = stream.stats();
  EXPECT_EQ(st.encode_failures, 0u);
  // The queue was full of old-size pictures; on a loaded machine the capture may push some of them out with new
  // ones before the stream thread starts, so at least one (not all kFeedDepth) meets the new encoder.
  EXPECT_GE(st.frames_dropped_resize, 1u);
  EXPECT_LE(st.frames_dropped_resize, kFeedDepth + 1) << "at most one more, scaled as the wishes changed";
  std::vector<FramePtr> frames;
  stream.ring().read(cursor, frames, 100);
  ASSERT_FALSE(frames.empty());
  EXPECT_TRUE(frames.front()->keyframe);
  Decoder dec;
  EXPECT_TRUE(dec.decode(frames.front()->data));
  EXPECT_EQ(dec.width(), 160);
  stream.remove_reader();
}

TEST(VideoStream, RefusedSettingsKeepTheRunningEncoder) {
  Capture capture(hal::make_synthetic_source({320, 240, 50, false, true}));
  VideoStream stream("main", capture.subscribe({}), x264(), {320, 240, 50, 500, false, 50}, 100);
  capture.start();
  stream.start();
  (void)stream.add_reader();
  stream.reconfigure({321, 240, 50, 500, false, 50});  // x264 refuses odd sizes
  const auto before = stream.stats().frames_encoded;
  ASSERT_TRUE(eventually([&] { return stream.stats().frames_encoded >= before + 5; }));
  EXPECT_EQ(stream.width(), 320);
  stream.remove_reader();
}

// Regression: Camera::apply compared the new settings with the running ones, so a change and its revert that both
// came before the stream thread applied the first (A -> B -> A) skipped the revert and left the stream at B.
TEST(Camera, AChangeRevertedBeforeItWasAppliedEndsAtTheRevert) {
  const auto a = parse_config(
      "[stream.main]\nwidth = 320\nheight = 240\nfps = 10\n"
      "[stream.sub]\nwidth = 160\nheight = 120\nfps = 10\nencoder = \"x264\"\n");
  ASSERT_TRUE(a.ok()) << a.errors.front().message;
  Config b = a.config;
  b.set_validated("stream.sub.width", std::int64_t{128});
  b.set_validated("stream.sub.height", std::int64_t{96});
  std::string err;
  auto camera = Camera::open(a.config, &err);
  ASSERT_TRUE(camera) << err;
  VideoStream* sub = camera->streams().at(1);
  ASSERT_EQ(sub->name(), "sub");
  // Not started yet: both changes are still pending when the stream thread first looks.
  camera->apply(b);
  camera->apply(a.config);
  auto cursor = sub->add_reader();
  camera->start();
  ASSERT_TRUE(eventually([&] { return sub->stats().frames_encoded >= 3; }));
  camera->stop();
  EXPECT_EQ(sub->width(), 160);
  EXPECT_EQ(sub->height(), 120);
  std::vector<FramePtr> frames;
  sub->ring().read(cursor, frames, 100);
  ASSERT_FALSE(frames.empty());
  Decoder dec;
  for (const auto& f : frames) (void)dec.decode(f->data);
  EXPECT_EQ(dec.width(), 160);
  EXPECT_EQ(dec.height(), 120);
  sub->remove_reader();
}

// Writes `frames` synthetic 320x240 pictures, encoded by x264 with a GOP of `gop`, to `path` as a raw Annex-B
// H.264 file (what a recorded clip or a camera's dump looks like). Returns the access units written; fewer than
// `frames` (with the test failed) if something went wrong.
std::vector<std::vector<std::uint8_t>> write_h264_clip(const std::string& path, int gop, int frames) {
  std::vector<std::vector<std::uint8_t>> units;
  auto src = hal::make_synthetic_source({320, 240, 25, false, false});
  std::string err;
  auto enc = make_x264_encoder({320, 240, 25, 500, false, gop}, &err);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!enc || !f) {
    ADD_FAILURE() << "cannot write " << path << ": " << (enc ? "fopen failed" : err);
    if (f) std::fclose(f);
    return units;
  }
  hal::Picture p;
  for (int i = 0; i < frames; ++i) {
    EncodedFrame out;
    if (src->next(p) || enc->encode(p, out) || std::fwrite(out.data.data(), 1, out.data.size(), f) != out.data.size()) {
      ADD_FAILURE() << "writing frame " << i << " of " << path;
      break;
    }
    units.push_back(std::move(out.data));
  }
  std::fclose(f);
  return units;
}

// A recorded file passed through: the access units come out as they went in, with keyframes flagged, looping.
TEST(FileSource, PassesAnnexBThroughAndLoops) {
  const std::string path = ::testing::TempDir() + "/freehold_clip.h264";
  const auto units = write_h264_clip(path, 5, 10);
  ASSERT_EQ(units.size(), 10u);
  std::string err;
  auto file = hal::make_file_source({path, true, false}, &err);
  ASSERT_TRUE(file) << err;
  EXPECT_EQ(file->format(), hal::PixelFormat::h264);
  EXPECT_EQ(file->width(), 320);
  EXPECT_EQ(file->height(), 240);
  Decoder dec;
  hal::Picture p;
  for (int i = 0; i < 25; ++i) {
    ASSERT_EQ(file->next(p), std::nullopt) << "unit " << i;
    EXPECT_EQ(p.keyframe, i % 10 % 5 == 0) << "unit " << i;
    if (i < 10) {
      EXPECT_EQ(p.data, units[static_cast<std::size_t>(i)]) << "unit " << i << " passes through unchanged";
    }
    EXPECT_EQ(dec.decode(p.data), static_cast<std::uint64_t>(i % 10)) << "unit " << i;
  }
}

TEST(FileSource, NamesTheProblemWithABadFile) {
  std::string err;
  EXPECT_EQ(hal::make_file_source({"/nonexistent/clip.mp4", true, false}, &err), nullptr);
  EXPECT_EQ(err, "cannot open /nonexistent/clip.mp4: No such file or directory");
  const std::string junk = ::testing::TempDir() + "/freehold_junk.mp4";
  std::FILE* f = std::fopen(junk.c_str(), "wb");
  ASSERT_TRUE(f);
  std::fputs("this is not a video", f);
  std::fclose(f);
  EXPECT_EQ(hal::make_file_source({junk, true, false}, &err), nullptr);
  EXPECT_NE(err.find("freehold_junk.mp4"), std::string::npos) << err;
}

// A passthrough stream keeps its GOP cache warm with nobody watching, so a reader starts at a keyframe at once.
TEST(VideoStream, PassthroughKeepsTheGopCacheWarm) {
  const std::string path = ::testing::TempDir() + "/freehold_clip2.h264";
  ASSERT_EQ(write_h264_clip(path, 10, 30).size(), 30u);
  std::string err;
  auto file = hal::make_file_source({path, true, true}, &err);
  ASSERT_TRUE(file) << err;
  Capture capture(std::move(file));
  VideoStream stream("main", capture.subscribe({}),
                     [](const EncoderSettings&, std::string*) { return make_passthrough_encoder(Codec::h264); },
                     {320, 240, 25, 0, false, 10}, 40);
  capture.start();
  stream.start();
  ASSERT_TRUE(eventually([&] { return stream.stats().frames_encoded >= 12; })) << "published with no reader";
  auto cursor = stream.add_reader();
  std::vector<FramePtr> got;
  stream.ring().read(cursor, got, 100);
  ASSERT_FALSE(got.empty()) << "the cached GOP is there at once";
  EXPECT_TRUE(got.front()->keyframe);
  stream.remove_reader();
}

}  // namespace
}  // namespace freehold::media
