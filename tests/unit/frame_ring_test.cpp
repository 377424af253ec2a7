// SPDX-License-Identifier: GPL-3.0-or-later
#include "media/frame_ring.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace freehold::media {
namespace {

EncodedFrame frame(bool key, std::size_t bytes = 100) {
  EncodedFrame f;
  f.keyframe = key;
  f.data.assign(bytes, key ? 0x65 : 0x41);
  return f;
}

// Publishes `n` frames with a keyframe every `gop`.
void publish(FrameRing& ring, int n, int gop) {
  for (int i = 0; i < n; ++i) ring.publish(frame(ring.end() % static_cast<std::uint64_t>(gop) == 0));
}

std::vector<std::uint64_t> seqs(const std::vector<FramePtr>& frames) {
  std::vector<std::uint64_t> out;
  for (const auto& f : frames) out.push_back(f->sequence);
  return out;
}

TEST(FrameRing, NewReaderStartsAtTheLatestKeyframe) {
  FrameRing ring(64);
  publish(ring, 23, 10);  // keyframes at 0, 10, 20
  auto c = ring.join();
  std::vector<FramePtr> got;
  ring.read(c, got, 64);
  EXPECT_EQ(seqs(got), (std::vector<std::uint64_t>{20, 21, 22}));
  EXPECT_TRUE(got.front()->keyframe);
  EXPECT_EQ(c.dropped, 0u);
}

TEST(FrameRing, ReaderBeforeAnyKeyframeWaitsForOne) {
  FrameRing ring(16);
  ring.publish(frame(false));
  auto c = ring.join();
  ring.publish(frame(false));
  ring.publish(frame(true));
  ring.publish(frame(false));
  std::vector<FramePtr> got;
  ring.read(c, got, 16);
  EXPECT_EQ(seqs(got), (std::vector<std::uint64_t>{2, 3}));
  EXPECT_EQ(c.dropped, 0u) << "frames before a reader's first frame are not drops";
}

TEST(FrameRing, JoinNeverStartsBeforeARestart) {
  FrameRing ring(64);
  publish(ring, 23, 10);  // keyframes at 0, 10, 20: a producer's earlier spell
  const auto restart = ring.end();
  auto c = ring.join(restart);
  ring.publish(frame(false));  // 23: not a keyframe, skipped
  ring.publish(frame(true));   // 24: the restart's keyframe
  ring.publish(frame(false));
  std::vector<FramePtr> got;
  ring.read(c, got, 64);
  EXPECT_EQ(seqs(got), (std::vector<std::uint64_t>{24, 25})) << "the cached GOP from before the restart is stale";
  auto late = ring.join(restart);
  got.clear();
  ring.read(late, got, 64);
  EXPECT_EQ(seqs(got), (std::vector<std::uint64_t>{24, 25})) << "a keyframe since the restart is a fine start";
}

TEST(FrameRing, ReaderThatKeepsUpGetsEveryFrameOnce) {
  FrameRing ring(8);
  publish(ring, 1, 5);
  auto c = ring.join();
  std::vector<FramePtr> got;
  for (int i = 0; i < 100; ++i) {
    ring.read(c, got, 4);
    publish(ring, 3, 5);
  }
  ring.read(c, got, 4);
  ASSERT_EQ(got.size(), 301u);
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i]->sequence, i);
  EXPECT_EQ(c.dropped, 0u);
  EXPECT_EQ(c.drops, 0u);
}

TEST(FrameRing, SlowReaderDropsToTheNextKeyframeAndOthersAreUnaffected) {
  FrameRing ring(128);
  publish(ring, 1, 10);
  auto fast = ring.join(), slow = ring.join();
  std::vector<FramePtr> fast_got, slow_got;
  ring.read(slow, slow_got, 20);  // frame 0
  for (int i = 0; i < 45; ++i) {  // frames 1..45; the fast reader keeps up
    publish(ring, 1, 10);
    ring.read(fast, fast_got, 20);
  }
  ring.read(slow, slow_got, 20);  // 45 behind > 20: skips to the newest keyframe, 40
  EXPECT_EQ(seqs(slow_got), (std::vector<std::uint64_t>{0, 40, 41, 42, 43, 44, 45}));
  EXPECT_EQ(slow.dropped, 39u);
  EXPECT_EQ(slow.drops, 1u);
  EXPECT_EQ(fast_got.size(), 46u);  // 0..45, every one
  EXPECT_EQ(fast.dropped, 0u);
}

TEST(FrameRing, SlowReaderWithNoNewerKeyframeSkipsUntilOneArrives) {
  FrameRing ring(128);
  publish(ring, 3, 30);  // 0 is a keyframe
  auto c = ring.join();
  std::vector<FramePtr> got;
  ring.read(c, got, 5);  // 0, 1, 2
  publish(ring, 10, 30);  // 3..12, no keyframe: 10 behind > 5
  ring.read(c, got, 5);
  EXPECT_EQ(got.size(), 3u) << "nothing decodable until the next keyframe";
  publish(ring, 20, 30);  // 13..32, keyframe at 30
  ring.read(c, got, 100);
  EXPECT_EQ(got[3]->sequence, 30u);
  EXPECT_TRUE(got[3]->keyframe);
  EXPECT_EQ(c.dropped, 27u);  // 3..29
}

TEST(FrameRing, OverwrittenReaderResumesAtAKeyframe) {
  FrameRing ring(16);
  publish(ring, 1, 8);
  auto c = ring.join();
  std::vector<FramePtr> got;
  ring.read(c, got, 1000);  // max_lag larger than the ring: only the wrap can drop it
  publish(ring, 40, 8);     // 1..40, keyframes at 8, 16, 24, 32, 40; ring holds 25..40
  got.clear();
  ring.read(c, got, 1000);
  ASSERT_FALSE(got.empty());
  EXPECT_TRUE(got.front()->keyframe);
  EXPECT_EQ(got.front()->sequence, 32u);
  EXPECT_EQ(c.drops, 1u);
}

TEST(FrameRing, GopLongerThanTheRingStillStartsAtItsKeyframe) {
  FrameRing ring(8);
  publish(ring, 20, 100);  // one keyframe at 0, ring holds 12..19
  auto c = ring.join();
  std::vector<FramePtr> got;
  ring.read(c, got, 100);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.front()->sequence, 0u);
  EXPECT_TRUE(got.front()->keyframe);
  EXPECT_EQ(got[1]->sequence, 12u);  // a decoder error-conceals the gap; better than waiting for the next IDR
}

TEST(FrameRing, BatchLimit) {
  FrameRing ring(32);
  publish(ring, 10, 10);
  auto c = ring.join();
  std::vector<FramePtr> got;
  ring.read(c, got, 32, 4);
  EXPECT_EQ(got.size(), 4u);
  ring.read(c, got, 32, 100);
  EXPECT_EQ(got.size(), 10u);
}

TEST(FrameRing, FramesAreSharedNotCopied) {
  FrameRing ring(8);
  auto published = ring.publish(frame(true, 4096));
  auto a = ring.join(), b = ring.join();
  std::vector<FramePtr> ga, gb;
  ring.read(a, ga, 8);
  ring.read(b, gb, 8);
  EXPECT_EQ(ga[0].get(), published.get());
  EXPECT_EQ(gb[0].get(), published.get());
}

// One producer thread and several readers at different speeds: every reader sees increasing sequences, and after
// each drop its next frame is a keyframe.
TEST(FrameRing, ConcurrentProducerAndReaders) {
  FrameRing ring(64);
  std::atomic<bool> done{false};
  std::thread producer([&] {
    for (int i = 0; i < 20000; ++i) ring.publish(frame(i % 25 == 0, 64));
    done = true;
  });
  std::vector<std::thread> readers;
  std::atomic<int> failures{0};
  for (int r = 0; r < 4; ++r) {
    readers.emplace_back([&, r] {
      auto c = ring.join();
      std::vector<FramePtr> got;
      std::uint64_t last = 0, drops_seen = 0;
      bool first = true;
      while (!done || c.next < ring.end()) {
        got.clear();
        ring.read(c, got, 30, 16);
        for (const auto& f : got) {
          if (!first && f->sequence <= last) ++failures;
          if (c.drops != drops_seen && f->sequence != last + 1) {
            if (!f->keyframe) ++failures;
            drops_seen = c.drops;
          }
          if (first && !f->keyframe) ++failures;
          first = false;
          last = f->sequence;
        }
        if (r > 0) std::this_thread::sleep_for(std::chrono::microseconds(50 * r));
      }
    });
  }
  producer.join();
  for (auto& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace freehold::media
