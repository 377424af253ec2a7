// SPDX-License-Identifier: GPL-3.0-or-later
#include "media/video_stream.hpp"

#include "core/log.hpp"

namespace freehold::media {
namespace {

FeedWants wants_for(const EncoderSettings& s, bool passthrough) {
  return passthrough ? FeedWants{0, 0, 0, true} : FeedWants{s.width, s.height, s.fps, false};
}

}  // namespace

VideoStream::VideoStream(std::string name, std::shared_ptr<Feed> feed, EncoderFactory make,
                         const EncoderSettings& settings, std::size_t ring_frames)
    : name_(std::move(name)), feed_(std::move(feed)), make_(std::move(make)), ring_(ring_frames) {
  std::string err;
  encoder_ = make_(settings, &err);
  if (!encoder_) throw std::invalid_argument("stream " + name_ + ": " + err);
  codec_ = encoder_->codec();
  idles_ = encoder_->idles();
  settings_ = settings;
  requested_ = settings;
  feed_->want(wants_for(settings, encoder_->passthrough()));
  feed_->set_active(!idles_);
}

VideoStream::~VideoStream() { stop(); }

std::uint64_t VideoStream::add_on_frame(std::function<void()> f) {
  std::lock_guard lock(on_frame_mutex_);
  const auto id = next_listener_++;
  on_frame_.emplace(id, std::move(f));
  return id;
}

void VideoStream::remove_on_frame(std::uint64_t id) {
  std::lock_guard lock(on_frame_mutex_);
  on_frame_.erase(id);
}

void VideoStream::start() {
  if (running_.exchange(true)) return;
  thread_ = std::thread([this] { run(); });
}

void VideoStream::stop() {
  running_ = false;
  if (thread_.joinable()) thread_.join();
}

EncoderSettings VideoStream::settings() const {
  std::lock_guard lock(settings_mutex_);
  return settings_;
}

EncoderSettings VideoStream::requested_settings() const {
  std::lock_guard lock(settings_mutex_);
  return requested_;
}

bool VideoStream::reconfiguring() const {
  std::lock_guard lock(settings_mutex_);
  return pending_.has_value();
}

void VideoStream::reconfigure(const EncoderSettings& settings) {
  std::lock_guard lock(settings_mutex_);
  requested_ = settings;
  pending_ = settings;
}

FrameRing::Cursor VideoStream::add_reader() {
  if (readers_.fetch_add(1) == 0 && idles_) {
    fresh_from_ = ring_.end();  // frames from before this wake-up are stale
    keyframe_wanted_ = true;    // the first reader must not wait a whole GOP
    feed_->set_active(true);
  }
  // A reader joining just after a wake-up must not get the stale GOP either: never start before fresh_from_.
  return ring_.join(fresh_from_);
}

void VideoStream::remove_reader() {
  if (readers_.fetch_sub(1) == 1 && idles_) feed_->set_active(false);
}

StreamStats VideoStream::stats() const {
  return {frames_.load(), bytes_.load(), skipped_.load(), feed_->lost(), resized_away_.load(), failures_.load()};
}

void VideoStream::apply_pending() {
  // The request stays pending until it is in place (or refused): reconfiguring() is true until the new generation
  // counts, so nobody takes the old encoder's output for the new settings' in between.
  std::optional<EncoderSettings> next;
  {
    std::lock_guard lock(settings_mutex_);
    if (pending_ && *pending_ == settings_) pending_.reset();  // a change reverted before we got to it
    next = pending_;
  }
  if (!next) return;
  auto done = [&] {
    std::lock_guard lock(settings_mutex_);
    if (pending_ == next) pending_.reset();  // a newer request waits for the next round
  };
  std::string err;
  auto encoder = make_(*next, &err);
  if (!encoder || encoder->codec() != codec_) {
    log::error("stream.reconfigure_failed",
               {{"stream", name_}, {"error", encoder ? std::string("the codec cannot change while running") : err}});
    done();
    return;
  }
  encoder_ = std::move(encoder);
  feed_->want(wants_for(*next, encoder_->passthrough()));
  {
    std::lock_guard lock(settings_mutex_);
    settings_ = *next;
  }
  ++generation_;
  done();
  log::info("stream.reconfigured", {{"stream", name_},
                                    {"width", next->width},
                                    {"height", next->height},
                                    {"fps", next->fps},
                                    {"bitrate_kbps", next->bitrate_kbps},
                                    {"gop", next->gop}});
}

void VideoStream::run() {
  while (running_) {
    apply_pending();
    PicturePtr picture = feed_->wait(std::chrono::milliseconds(200));
    if (!picture) continue;
    if (idles_ && readers_.load() == 0) {
      ++skipped_;
      continue;
    }
    // After a resize the feed may still hold pictures scaled for the old size (its queue, and one the capture
    // thread was scaling as the wishes changed): the new encoder would refuse them. settings_ is written on this
    // thread only, so reading it here needs no lock.
    if (!encoder_->passthrough() && (picture->width != settings_.width || picture->height != settings_.height)) {
      ++resized_away_;
      continue;
    }
    if (keyframe_wanted_.exchange(false)) encoder_->request_keyframe();
    EncodedFrame frame;
    if (auto err = encoder_->encode(*picture, frame)) {
      ++failures_;
      log::error("stream.encode_failed", {{"stream", name_}, {"error", *err}});
      continue;
    }
    picture.reset();  // back to the capture's pool
    if (frame.data.empty()) continue;
    frame.generation = generation_.load();
    frame.encoded_us = std::chrono::duration_cast<std::chrono::microseconds>(
                           std::chrono::steady_clock::now().time_since_epoch())
                           .count();
    ++frames_;
    bytes_ += frame.data.size();
    ring_.publish(std::move(frame));
    std::lock_guard lock(on_frame_mutex_);
    for (const auto& [id, f] : on_frame_) f();
  }
}

}  // namespace freehold::media
