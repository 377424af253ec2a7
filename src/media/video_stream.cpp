// SPDX-License-Identifier: GPL-3.0-or-later
#include "media/video_stream.hpp"

#include "core/log.hpp"

namespace freehold::media {

VideoStream::VideoStream(std::string name, std::unique_ptr<hal::Source> source, std::unique_ptr<Encoder> encoder,
                         std::size_t ring_frames)
    : name_(std::move(name)), source_(std::move(source)), encoder_(std::move(encoder)), ring_(ring_frames) {}

VideoStream::~VideoStream() { stop(); }

void VideoStream::set_on_frame(std::function<void()> f) {
  std::lock_guard lock(on_frame_mutex_);
  on_frame_ = std::move(f);
}

void VideoStream::start() {
  if (running_.exchange(true)) return;
  thread_ = std::thread([this] { run(); });
}

void VideoStream::stop() {
  running_ = false;
  if (thread_.joinable()) thread_.join();
}

FrameRing::Cursor VideoStream::add_reader() {
  if (readers_.fetch_add(1) == 0) {
    fresh_from_ = ring_.end();  // frames from before this wake-up are stale
    keyframe_wanted_ = true;    // the first reader must not wait a whole GOP
  }
  // A reader joining just after a wake-up must not get the stale GOP either: never start before fresh_from_.
  FrameRing::Cursor c = ring_.join();
  if (c.next < fresh_from_) {
    c = FrameRing::Cursor{};
    c.next = fresh_from_;
  }
  return c;
}

void VideoStream::remove_reader() { readers_.fetch_sub(1); }

StreamStats VideoStream::stats() const { return {frames_.load(), bytes_.load(), skipped_.load()}; }

void VideoStream::run() {
  hal::Picture picture;
  std::string last_error;
  while (running_) {
    if (auto err = source_->next(picture)) {
      if (*err != last_error) log::warn("stream.source_failed", {{"stream", name_}, {"error", *err}});
      last_error = *err;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    last_error.clear();
    if (readers_.load() == 0) {
      ++skipped_;
      continue;
    }
    if (keyframe_wanted_.exchange(false)) encoder_->request_keyframe();
    EncodedFrame frame;
    if (auto err = encoder_->encode(picture, frame)) {
      log::error("stream.encode_failed", {{"stream", name_}, {"error", *err}});
      continue;
    }
    if (frame.data.empty()) continue;
    ++frames_;
    bytes_ += frame.data.size();
    ring_.publish(std::move(frame));
    std::lock_guard lock(on_frame_mutex_);
    if (on_frame_) on_frame_();
  }
}

}  // namespace freehold::media
