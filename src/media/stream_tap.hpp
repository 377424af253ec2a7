// SPDX-License-Identifier: GPL-3.0-or-later
// What a server keeps per stream when it turns the stream's frames into its own form once for many readers (the
// RTSP server's RTP packets, the live view's fMP4 fragments): one cursor on the stream's ring while anyone uses it
// (the encoder idles otherwise), a ring of its own output of the same capacity, the rule that a reader never gets
// output from before the latest restart, and the readers' wake-ups. The consumer's I/O thread alone uses it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <vector>

#include "media/frame_ring.hpp"
#include "media/video_stream.hpp"

namespace freehold::media {

template <typename Out>
struct StreamTap {
  VideoStream* stream;         // null once detached (the owner is going away before its readers)
  std::uint64_t listener = 0;  // the owner's add_on_frame() id
  FrameRing::Cursor cursor;    // on the stream's frames
  Ring<Out> ring;              // the output, shared by every reader
  int users = 0;               // readers, and waits that need the stream running
  std::uint64_t fresh_from = 0;  // first output since the stream last woke up for this tap
  std::map<std::uint64_t, std::function<void()>> wakers;
  std::uint64_t next_waker = 1;

  explicit StreamTap(VideoStream* s) : stream(s), ring(s->ring().capacity()) {}

  void acquire() {
    if (users++ > 0 || !stream) return;
    cursor = stream->add_reader();
    fresh_from = ring.end();  // what the ring holds now is from an earlier run: never hand it out
  }
  void release() {
    if (--users == 0 && stream) stream->remove_reader();
  }
  // A new reader's cursor: the cached GOP of the running stream, but never output from before the latest restart
  // (it then waits for the keyframe asked for at the restart).
  [[nodiscard]] RingCursor join() const { return ring.join(fresh_from); }
  // The stream's frames not yet taken, oldest first.
  void take(std::vector<FramePtr>& frames) {
    if (stream) stream->ring().read(cursor, frames, stream->ring().capacity());
  }

  std::uint64_t add_waker(std::function<void()> w) {
    wakers.emplace(next_waker, std::move(w));
    return next_waker++;
  }
  void remove_waker(std::uint64_t id) { wakers.erase(id); }
  void wake_all() {
    for (auto& [id, w] : wakers) w();
  }

  // Stops listening and reading; readers still registered keep the tap but get nothing more.
  void detach() {
    if (!stream) return;
    stream->remove_on_frame(listener);
    if (users > 0) stream->remove_reader();
    stream = nullptr;
  }

  // One acquire() for the life of a scope, released however the scope ends (a co_await in it may throw).
  class Use final {
   public:
    explicit Use(StreamTap& t) : tap_(t) { tap_.acquire(); }
    ~Use() { tap_.release(); }
    Use(const Use&) = delete;
    Use& operator=(const Use&) = delete;

   private:
    StreamTap& tap_;
  };
};

}  // namespace freehold::media
