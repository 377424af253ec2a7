// SPDX-License-Identifier: GPL-3.0-or-later
// One camera feeding every consumer (the stream encoders, later analytics): a thread pulls pictures from the
// source and offers each subscriber the newest one, scaled to the size and thinned to the rate it asked for. A
// subscriber is a short queue (kFeedDepth pictures): an encoder that hiccups catches up, one that stays behind loses
// the oldest pictures, so a slow encoder never delays capture or another stream.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "hal/source.hpp"
#include "media/image_adjust.hpp"
#include "media/ptz.hpp"

namespace freehold::media {

using PicturePtr = std::shared_ptr<const hal::Picture>;

// What a subscriber wants: raw pictures of this size (0: the source's) at most `fps` per second, or the source's
// encoded pictures as they are (passthrough).
struct FeedWants {
  int width = 0;
  int height = 0;
  int fps = 0;  // 0: every picture
  bool passthrough = false;
};

inline constexpr std::size_t kFeedDepth = 3;

class Feed final {
 public:
  // Waits up to `timeout` for the oldest picture not taken yet; nullptr if none came.
  [[nodiscard]] PicturePtr wait(std::chrono::milliseconds timeout);
  // Live reconfiguration: the next pictures follow the new wishes.
  void want(const FeedWants& w);
  [[nodiscard]] FeedWants wants() const;
  // An inactive feed (nobody watches the stream) costs the capture thread nothing: no scaling, no hand-over.
  void set_active(bool active);
  [[nodiscard]] bool active() const { return active_; }
  [[nodiscard]] std::uint64_t lost() const;

 private:
  friend class Capture;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  FeedWants wants_;
  std::deque<PicturePtr> pending_;
  std::uint64_t lost_ = 0;  // pictures pushed out of a full queue
  std::atomic<bool> active_{true};
  int credit_ = 0;  // rate thinning, capture thread only
};

class Capture final {
 public:
  explicit Capture(std::unique_ptr<hal::Source> source);
  ~Capture();
  Capture(const Capture&) = delete;
  Capture& operator=(const Capture&) = delete;

  // Subscribe before start().
  [[nodiscard]] std::shared_ptr<Feed> subscribe(const FeedWants& wants);
  void start();
  void stop();

  // Brightness, contrast, saturation, sharpness: handed to a source that has its own controls (V4L2), otherwise
  // applied here to every raw picture before it is scaled. Any thread; live.
  void set_image_controls(const hal::ImageControls& controls);
  // Before start(): the digital PTZ whose window crops every raw picture, for every feed and snapshots.
  void set_ptz(std::shared_ptr<const DigitalPtz> ptz) { ptz_ = std::move(ptz); }

  // The newest raw picture at the source's size (snapshots); nullptr before the first or for encoded sources.
  [[nodiscard]] PicturePtr latest() const;
  [[nodiscard]] hal::PixelFormat format() const { return source_->format(); }
  [[nodiscard]] int width() const { return source_->width(); }
  [[nodiscard]] int height() const { return source_->height(); }
  [[nodiscard]] int fps() const { return source_->fps(); }
  [[nodiscard]] hal::Overlay overlay() const { return source_->overlay(); }
  [[nodiscard]] std::uint64_t pictures() const { return pictures_.load(); }

 private:
  void run();
  struct Scaler;

  std::unique_ptr<hal::Source> source_;
  std::vector<std::shared_ptr<Feed>> feeds_;
  std::vector<std::unique_ptr<Scaler>> scalers_;  // one per feed, capture thread only
  ImageAdjuster adjust_;
  std::shared_ptr<const DigitalPtz> ptz_;
  mutable std::mutex latest_mutex_;
  PicturePtr latest_;
  CropWindow latest_crop_;  // the PTZ window of latest_, cropped when a snapshot asks for it
  std::thread thread_;
  std::atomic<bool> running_{false};
  std::atomic<std::uint64_t> pictures_{0};
};

}  // namespace freehold::media
