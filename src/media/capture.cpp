// SPDX-License-Identifier: GPL-3.0-or-later
#include "media/capture.hpp"

#include <utility>

extern "C" {
#include <libswscale/swscale.h>
}

#include "core/log.hpp"

namespace freehold::media {
namespace {

// Pictures are recycled: a 720p picture is 1.4 MB, and allocating one per frame would mean page faults per frame.
// A picture is free again once no consumer holds it (the pool's reference is the last one).
class PicturePool {
 public:
  std::shared_ptr<hal::Picture> get() {
    for (auto& p : pool_) {
      if (p.use_count() == 1) {
        // The consumer's release of its reference happens-before our reuse of the picture.
        std::atomic_thread_fence(std::memory_order_acquire);
        return p;
      }
    }
    auto p = std::make_shared<hal::Picture>();
    if (pool_.size() < kMax) pool_.push_back(p);
    return p;
  }

 private:
  static constexpr std::size_t kMax = 6;
  std::vector<std::shared_ptr<hal::Picture>> pool_;
};

}  // namespace

struct Capture::Scaler {
  PicturePool pool;
  SwsContext* ctx = nullptr;
  int sw = 0, sh = 0, dw = 0, dh = 0;
  ~Scaler() { sws_freeContext(ctx); }

  PicturePtr scale(const hal::Picture& in, int w, int h) {
    if (!ctx || sw != in.width || sh != in.height || dw != w || dh != h) {
      ctx = sws_getCachedContext(ctx, in.width, in.height, AV_PIX_FMT_YUV420P, w, h, AV_PIX_FMT_YUV420P,
                                 SWS_BILINEAR, nullptr, nullptr, nullptr);
      sw = in.width, sh = in.height, dw = w, dh = h;
      if (!ctx) return nullptr;
    }
    auto out = pool.get();
    out->allocate(w, h);
    const std::uint8_t* src[3] = {in.y(), in.u(), in.v()};
    const int src_stride[3] = {in.width, in.width / 2, in.width / 2};
    std::uint8_t* dst[3] = {out->y(), out->u(), out->v()};
    const int dst_stride[3] = {w, w / 2, w / 2};
    sws_scale(ctx, src, src_stride, 0, in.height, dst, dst_stride);
    out->capture_us = in.capture_us;
    out->wallclock_us = in.wallclock_us;
    out->index = in.index;
    return out;
  }
};

PicturePtr Feed::wait(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  cv_.wait_for(lock, timeout, [this] { return pending_ != nullptr; });
  return std::exchange(pending_, nullptr);
}

void Feed::want(const FeedWants& w) {
  std::lock_guard lock(mutex_);
  wants_ = w;
}

FeedWants Feed::wants() const {
  std::lock_guard lock(mutex_);
  return wants_;
}

Capture::Capture(std::unique_ptr<hal::Source> source) : source_(std::move(source)) {}

Capture::~Capture() { stop(); }

std::shared_ptr<Feed> Capture::subscribe(const FeedWants& wants) {
  auto f = std::make_shared<Feed>();
  f->wants_ = wants;
  feeds_.push_back(f);
  scalers_.push_back(std::make_unique<Scaler>());
  return f;
}

void Capture::start() {
  if (running_.exchange(true)) return;
  thread_ = std::thread([this] { run(); });
}

void Capture::stop() {
  running_ = false;
  if (thread_.joinable()) thread_.join();
}

PicturePtr Capture::latest() const {
  std::lock_guard lock(latest_mutex_);
  return latest_;
}

void Capture::run() {
  PicturePool pool;
  std::string last_error;
  while (running_) {
    auto picture = pool.get();
    if (auto err = source_->next(*picture)) {
      if (*err != last_error) log::warn("capture.source_failed", {{"error", *err}});
      last_error = *err;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    if (!last_error.empty()) log::info("capture.source_recovered");
    last_error.clear();
    ++pictures_;
    const bool raw = picture->format == hal::PixelFormat::i420;
    if (raw) {
      std::lock_guard lock(latest_mutex_);
      latest_ = picture;
    }
    const int source_fps = std::max(source_->fps(), 1);
    for (std::size_t i = 0; i < feeds_.size(); ++i) {
      Feed& f = *feeds_[i];
      if (!f.active()) continue;
      const FeedWants w = f.wants();
      if (w.passthrough == raw) continue;  // an encoder wants raw pictures, passthrough wants encoded ones
      if (w.fps > 0 && w.fps < source_fps && !w.passthrough) {
        // Thin to the wanted rate by counting pictures, not by the clock: 25 -> 10 keeps 2 of every 5, evenly,
        // whatever the scheduling jitter.
        f.credit_ += w.fps;
        if (f.credit_ < source_fps) continue;
        f.credit_ -= source_fps;
      }
      PicturePtr give = picture;
      if (raw && ((w.width && w.width != picture->width) || (w.height && w.height != picture->height))) {
        give = scalers_[i]->scale(*picture, w.width ? w.width : picture->width, w.height ? w.height : picture->height);
        if (!give) continue;
      }
      {
        std::lock_guard lock(f.mutex_);
        f.pending_ = std::move(give);
      }
      f.cv_.notify_one();
    }
  }
}

}  // namespace freehold::media
