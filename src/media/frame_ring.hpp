// SPDX-License-Identifier: GPL-3.0-or-later
// The fan-out point between one encoder and any number of readers (RTSP sessions, web viewers, recorders).
// Each encoded frame is published once as an immutable, reference-counted buffer into a ring of recent frames.
// A reader is only a cursor into that ring: no per-reader copies, and its queue is bounded by `max_lag`. A reader
// that falls further behind skips to the next keyframe and counts what it lost; it never slows the producer or any
// other reader. The ring always reaches back to the latest keyframe (the GOP cache), so a new reader starts
// decoding at once. Thread-safe: one producer thread, readers on any thread.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace freehold::media {

enum class Codec { h264, mjpeg };

struct EncodedFrame {
  std::vector<std::uint8_t> data;  // H.264: one access unit in Annex-B form; MJPEG: one JPEG
  Codec codec = Codec::h264;
  bool keyframe = false;           // H.264 IDR (with SPS/PPS in front); every MJPEG frame
  std::int64_t capture_us = 0;     // capture time, monotonic clock (drives RTP timestamps)
  std::int64_t encoded_us = 0;     // when it left the encoder, monotonic clock (send latency)
  std::uint64_t sequence = 0;      // assigned by the ring: 0, 1, 2, ...
  std::uint64_t generation = 0;    // which encoder of its stream made it: VideoStream::generation() then
};

using FramePtr = std::shared_ptr<const EncodedFrame>;

// A reader's position in a ring.
struct RingCursor {
  std::uint64_t next = 0;       // sequence of the next frame this reader wants
  bool need_keyframe = true;    // skip until a keyframe (a new or dropped reader)
  std::uint64_t delivered = 0;  // frames handed to this reader
  std::uint64_t dropped = 0;    // frames it lost by falling behind (none before its first frame)
  std::uint64_t drops = 0;      // how many times it fell behind
};

// T is any frame-like item with `bool keyframe` and `std::uint64_t sequence` (the ring assigns the latter):
// encoded frames here, RTP-packetized frames in the RTSP server.
template <typename T>
class Ring final {
 public:
  using Ptr = std::shared_ptr<const T>;
  using Cursor = RingCursor;

  // `capacity` frames are kept; it should hold a whole GOP (a longer GOP keeps its keyframe anyway, see publish).
  explicit Ring(std::size_t capacity);

  // Producer: takes ownership, stamps the sequence number, and returns the published frame.
  Ptr publish(T frame);

  // A cursor for a new reader: at the latest keyframe, so its first frame decodes; but never before `not_before`
  // (what a producer published before it last restarted is stale: the reader then waits for the next keyframe).
  [[nodiscard]] Cursor join(std::uint64_t not_before = 0) const;

  // Appends to `out` the frames due to this reader, oldest first, at most `max_frames`. If the reader is more than
  // `max_lag` frames behind the newest frame (or behind what the ring still holds), it skips to the next keyframe
  // after its position, and the skipped frames are counted in the cursor.
  void read(Cursor& cursor, std::vector<Ptr>& out, std::size_t max_lag, std::size_t max_frames = SIZE_MAX) const;

  // Sequence the next published frame will get (= number of frames published).
  [[nodiscard]] std::uint64_t end() const;
  [[nodiscard]] std::size_t capacity() const { return slots_.size(); }

 private:
  // Oldest sequence still held; caller holds mutex_.
  [[nodiscard]] std::uint64_t begin_locked() const;

  mutable std::mutex mutex_;
  std::vector<Ptr> slots_;
  std::uint64_t end_ = 0;            // next sequence
  std::uint64_t last_keyframe_ = 0;  // valid when have_keyframe_
  bool have_keyframe_ = false;
  Ptr pinned_keyframe_;              // keeps the latest keyframe when the GOP is longer than the ring
};

using FrameRing = Ring<EncodedFrame>;

// How far a live reader (an RTSP session, a browser) may fall behind before it skips to the next keyframe: two
// seconds of frames, and never less than a batch (a source that reports 0 fps would otherwise hand out keyframes
// only).
inline constexpr std::size_t kMinReaderLag = 32;
[[nodiscard]] inline std::size_t reader_max_lag(int fps) {
  return std::max(static_cast<std::size_t>(2 * std::max(fps, 0)), kMinReaderLag);
}

template <typename T>
Ring<T>::Ring(std::size_t capacity) : slots_(capacity) {
  if (capacity < 2) throw std::invalid_argument("a frame ring needs room for at least 2 frames");
}

template <typename T>
std::shared_ptr<const T> Ring<T>::publish(T frame) {
  // Allocate outside the lock; only the sequence stamp and the pointer swap are inside.
  auto fresh = std::make_shared<T>(std::move(frame));
  std::lock_guard lock(mutex_);
  fresh->sequence = end_;
  Ptr ptr = std::move(fresh);
  Ptr evicted = std::move(slots_[end_ % slots_.size()]);
  slots_[end_ % slots_.size()] = ptr;
  if (ptr->keyframe) {
    last_keyframe_ = end_;
    have_keyframe_ = true;
    pinned_keyframe_.reset();
  } else if (have_keyframe_ && evicted && evicted->sequence == last_keyframe_) {
    pinned_keyframe_ = std::move(evicted);  // the GOP outgrew the ring: keep its keyframe for new readers
  }
  ++end_;
  return ptr;
}

template <typename T>
std::uint64_t Ring<T>::begin_locked() const { return end_ > slots_.size() ? end_ - slots_.size() : 0; }

template <typename T>
std::uint64_t Ring<T>::end() const {
  std::lock_guard lock(mutex_);
  return end_;
}

template <typename T>
RingCursor Ring<T>::join(std::uint64_t not_before) const {
  std::lock_guard lock(mutex_);
  RingCursor c;
  if (have_keyframe_ && last_keyframe_ >= not_before) {
    c.next = last_keyframe_;  // need_keyframe: the frame at `next` is one, so nothing is skipped
  } else {
    c.next = std::max(end_, not_before);
  }
  return c;
}

template <typename T>
void Ring<T>::read(RingCursor& cursor, std::vector<Ptr>& out, std::size_t max_lag, std::size_t max_frames) const {
  // Frames skipped before a reader's first frame were never its to lose.
  auto skip_to = [&cursor](std::uint64_t seq) {
    if (cursor.delivered > 0) cursor.dropped += seq - cursor.next;
    cursor.next = seq;
  };
  auto deliver = [&cursor, &out](const Ptr& f) {
    out.push_back(f);
    cursor.next = f->sequence + 1;
    cursor.need_keyframe = false;
    ++cursor.delivered;
  };
  std::lock_guard lock(mutex_);
  const std::uint64_t begin = begin_locked();
  const bool too_far = cursor.next < end_ && end_ - cursor.next > max_lag;
  const bool overwritten = cursor.next < begin;
  if ((too_far || overwritten) && !cursor.need_keyframe) {
    cursor.need_keyframe = true;
    ++cursor.drops;
  }
  if (cursor.need_keyframe && too_far) {
    // Jump to the newest keyframe: older frames would only deepen the lag.
    if (have_keyframe_ && last_keyframe_ > cursor.next) skip_to(last_keyframe_);
  }
  // The pinned keyframe of an over-long GOP is still deliverable after its slot was reused.
  size_t taken = 0;
  if (cursor.need_keyframe && pinned_keyframe_ && cursor.next <= last_keyframe_ && last_keyframe_ < begin &&
      max_frames > 0) {
    skip_to(last_keyframe_);
    deliver(pinned_keyframe_);
    ++taken;
  }
  if (cursor.next < begin) skip_to(begin);  // what the reader wanted is gone
  while (cursor.next < end_ && taken < max_frames) {
    const Ptr& f = slots_[cursor.next % slots_.size()];
    if (cursor.need_keyframe && !f->keyframe) {
      skip_to(cursor.next + 1);
      continue;
    }
    deliver(f);
    ++taken;
  }
}

}  // namespace freehold::media
