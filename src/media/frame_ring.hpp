// SPDX-License-Identifier: GPL-3.0-or-later
// The fan-out point between one encoder and any number of readers (RTSP sessions, web viewers, recorders).
// Each encoded frame is published once as an immutable, reference-counted buffer into a ring of recent frames.
// A reader is only a cursor into that ring: no per-reader copies, and its queue is bounded by `max_lag`. A reader
// that falls further behind skips to the next keyframe and counts what it lost; it never slows the producer or any
// other reader. The ring always reaches back to the latest keyframe (the GOP cache), so a new reader starts
// decoding at once. Thread-safe: one producer thread, readers on any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace freehold::media {

enum class Codec { h264, mjpeg };

struct EncodedFrame {
  std::vector<std::uint8_t> data;  // H.264: one access unit in Annex-B form; MJPEG: one JPEG
  Codec codec = Codec::h264;
  bool keyframe = false;           // H.264 IDR (with SPS/PPS in front); every MJPEG frame
  std::int64_t capture_us = 0;     // capture time, monotonic clock (drives RTP timestamps)
  std::uint64_t sequence = 0;      // assigned by the ring: 0, 1, 2, ...
};

using FramePtr = std::shared_ptr<const EncodedFrame>;

class FrameRing final {
 public:
  // `capacity` frames are kept; it must hold a whole GOP (a longer GOP keeps its keyframe anyway, see publish).
  explicit FrameRing(std::size_t capacity);

  // Producer: takes ownership, stamps the sequence number, and returns the published frame.
  FramePtr publish(EncodedFrame frame);

  struct Cursor {
    std::uint64_t next = 0;      // sequence of the next frame this reader wants
    bool need_keyframe = true;   // skip until a keyframe (a new or dropped reader)
    std::uint64_t delivered = 0; // frames handed to this reader
    std::uint64_t dropped = 0;   // frames it lost by falling behind (none before its first frame)
    std::uint64_t drops = 0;     // how many times it fell behind
  };

  // A cursor for a new reader: at the latest keyframe, so its first frame decodes.
  [[nodiscard]] Cursor join() const;

  // Appends to `out` the frames due to this reader, oldest first, at most `max_frames`. If the reader is more than
  // `max_lag` frames behind the newest frame (or behind what the ring still holds), it skips to the next keyframe
  // after its position, and the skipped frames are counted in the cursor.
  void read(Cursor& cursor, std::vector<FramePtr>& out, std::size_t max_lag, std::size_t max_frames = SIZE_MAX) const;

  // Sequence the next published frame will get (= number of frames published).
  [[nodiscard]] std::uint64_t end() const;
  [[nodiscard]] std::size_t capacity() const { return slots_.size(); }

 private:
  // Oldest sequence still held; caller holds mutex_.
  [[nodiscard]] std::uint64_t begin_locked() const;

  mutable std::mutex mutex_;
  std::vector<FramePtr> slots_;
  std::uint64_t end_ = 0;            // next sequence
  std::uint64_t last_keyframe_ = 0;  // valid when have_keyframe_
  bool have_keyframe_ = false;
  FramePtr pinned_keyframe_;         // keeps the latest keyframe when the GOP is longer than the ring
};

}  // namespace freehold::media
