// SPDX-License-Identifier: GPL-3.0-or-later
// One camera feeding every consumer (the stream encoders, later analytics): a thread pulls pictures from the
// source and offers each subscriber the newest one, scaled to the size and thinned to the rate it asked for. A
// subscriber is a one-picture mailbox: if it is still busy with the last picture it gets the newest one later and
// misses the ones between, so a slow encoder never delays capture or another stream.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "hal/source.hpp"

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

class Feed final {
 public:
  // Waits up to `timeout` for a picture newer than the last one taken; nullptr if none came.
  [[nodiscard]] PicturePtr wait(std::chrono::milliseconds timeout);
  // Live reconfiguration: the next pictures follow the new wishes.
  void want(const FeedWants& w);
  [[nodiscard]] FeedWants wants() const;
  // An inactive feed (nobody watches the stream) costs the capture thread nothing: no scaling, no hand-over.
  void set_active(bool active) { active_ = active; }
  [[nodiscard]] bool active() const { return active_; }

 private:
  friend class Capture;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  FeedWants wants_;
  PicturePtr pending_;
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

  // The newest raw picture at the source's size (snapshots); nullptr before the first or for encoded sources.
  [[nodiscard]] PicturePtr latest() const;
  [[nodiscard]] hal::PixelFormat format() const { return source_->format(); }
  [[nodiscard]] int width() const { return source_->width(); }
  [[nodiscard]] int height() const { return source_->height(); }
  [[nodiscard]] int fps() const { return source_->fps(); }
  [[nodiscard]] std::uint64_t pictures() const { return pictures_.load(); }

 private:
  void run();
  struct Scaler;

  std::unique_ptr<hal::Source> source_;
  std::vector<std::shared_ptr<Feed>> feeds_;
  std::vector<std::unique_ptr<Scaler>> scalers_;  // one per feed, capture thread only
  mutable std::mutex latest_mutex_;
  PicturePtr latest_;
  std::thread thread_;
  std::atomic<bool> running_{false};
  std::atomic<std::uint64_t> pictures_{0};
};

}  // namespace freehold::media
