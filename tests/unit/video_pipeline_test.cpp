// SPDX-License-Identifier: GPL-3.0-or-later
// The synthetic source through x264, decoded again with libavcodec: the burned-in counter must come back intact,
// frame after frame, and the stream must start with a decodable keyframe.
#include <gtest/gtest.h>

extern "C" {
#include <libavcodec/avcodec.h>
}

#include <thread>

#include "hal/source.hpp"
#include "media/encoder.hpp"
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
    EXPECT_EQ(frame_->linesize[0], frame_->width) << "test assumes unpadded luma rows";
    return hal::read_burned_counter(frame_->data[0], frame_->width, frame_->height);
  }

 private:
  AVCodecContext* ctx_ = nullptr;
  AVFrame* frame_ = nullptr;
  AVPacket* packet_ = nullptr;
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

TEST(X264, RefusesOddSizes) {
  std::string err;
  EXPECT_EQ(make_x264_encoder({641, 360, 25, 1000, false, 10}, &err), nullptr);
  EXPECT_EQ(err, "H.264 needs an even width and height, got 641x360");
}

TEST(VideoStream, IdleUntilReadAndFirstReaderStartsAtAFreshKeyframe) {
  std::string err;
  auto stream = std::make_unique<VideoStream>("main", hal::make_synthetic_source({320, 240, 50, false, true}),
                                              make_x264_encoder({320, 240, 50, 500, false, 100}, &err), 200);
  std::atomic<int> published{0};
  stream->set_on_frame([&] { ++published; });
  stream->start();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(published.load(), 0) << "nobody reads: nothing is encoded";
  EXPECT_GT(stream->stats().frames_skipped_idle, 0u);
  auto cursor = stream->add_reader();
  for (int i = 0; i < 200 && published.load() < 5; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::vector<FramePtr> got;
  stream->ring().read(cursor, got, 100);
  ASSERT_FALSE(got.empty());
  EXPECT_TRUE(got.front()->keyframe);
  stream->remove_reader();
  stream->stop();
}

}  // namespace
}  // namespace freehold::media
