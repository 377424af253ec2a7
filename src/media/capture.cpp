// SPDX-License-Identifier: GPL-3.0-or-later
#include "media/capture.hpp"


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
  static constexpr std::size_t kMax = 12;
  std::vector<std::shared_ptr<hal::Picture>> pool_;
};

}  // namespace

struct Capture::Scaler {
  PicturePool pool;
  SwsContext* ctx = nullptr;
  int sw = 0, sh = 0, dw = 0, dh = 0;
  ~Scaler() { sws_freeContext(ctx); }

  // Scales the window `c` of `in` (the PTZ crop; the whole picture without PTZ) to w x h.
  PicturePtr scale(const hal::Picture& in, int w, int h, const CropWindow& c) {
    if (!ctx || sw != c.width || sh != c.height || dw != w || dh != h) {
      ctx = sws_getCachedContext(ctx, c.width, c.height, AV_PIX_FMT_YUV420P, w, h, AV_PIX_FMT_YUV420P,
                                 SWS_BILINEAR, nullptr, nullptr, nullptr);
      sw = c.width, sh = c.height, dw = w, dh = h;
      if (!ctx) return nullptr;
    }
    auto out = pool.get();
    out->allocate(w, h);
    const auto chroma = static_cast<std::size_t>(c.y / 2) * (in.width / 2) + c.x / 2;
    const std::uint8_t* src[3] = {in.y() + static_cast<std::size_t>(c.y) * in.width + c.x, in.u() + chroma,
                                  in.v() + chroma};
    const int src_stride[3] = {in.width, in.width / 2, in.width / 2};
    std::uint8_t* dst[3] = {out->y(), out->u(), out->v()};
    const int dst_stride[3] = {w, w / 2, w / 2};
    sws_scale(ctx, src, src_stride, 0, c.height, dst, dst_stride);
    out->capture_us = in.capture_us;
    out->wallclock_us = in.wallclock_us;
    out->index = in.index;
    return out;
  }
};

PicturePtr Feed::wait(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  cv_.wait_for(lock, timeout, [this] { return !pending_.empty(); });
  if (pending_.empty()) return nullptr;
  PicturePtr p = std::move(pending_.front());
  pending_.pop_front();
  return p;
}

void Feed::set_active(bool active) {
  std::lock_guard lock(mutex_);
  active_ = active;
  if (!active) pending_.clear();  // a stream that wakes up later must not start with stale pictures
}

std::uint64_t Feed::lost() const {
  std::lock_guard lock(mutex_);
  return lost_;
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
  PicturePtr p;
  CropWindow crop;
  {
    std::lock_guard lock(latest_mutex_);
    p = latest_;
    crop = latest_crop_;
  }
  if (!p || crop == CropWindow{0, 0, p->width, p->height}) return p;
  Scaler once;  // snapshots are rare: cropping here spares the capture thread a full-size copy per picture
  return once.scale(*p, p->width, p->height, crop);
}

void Capture::set_image_controls(const hal::ImageControls& controls) {
  adjust_.set(source_->set_image_controls(controls) ? hal::ImageControls{} : controls);
}

void Capture::run() {
  PicturePool pool;
  std::string last_error;
  int failures_in_a_row = 0;
  while (running_) {
    auto picture = pool.get();
    if (auto err = source_->next(*picture)) {
      if (*err != last_error) log::warn("capture.source_failed", {{"error", *err}});
      last_error = *err;
      // One damaged frame costs only itself; a source that keeps failing (unplugged) is retried at 5 Hz.
      if (++failures_in_a_row > 1) std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    failures_in_a_row = 0;
    if (!last_error.empty()) log::info("capture.source_recovered");
    last_error.clear();
    ++pictures_;
    const bool raw = picture->format == hal::PixelFormat::i420;
    const CropWindow whole{0, 0, picture->width, picture->height};
    const CropWindow crop = raw && ptz_ ? ptz_->window(picture->width, picture->height) : whole;
    if (raw) {
      adjust_.apply(*picture);
      std::lock_guard lock(latest_mutex_);
      latest_ = picture;
      latest_crop_ = crop;
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
      if (raw && (crop != whole || (w.width && w.width != picture->width) ||
                  (w.height && w.height != picture->height))) {
        give = scalers_[i]->scale(*picture, w.width ? w.width : picture->width,
                                  w.height ? w.height : picture->height, crop);
        if (!give) continue;
      }
      {
        std::lock_guard lock(f.mutex_);
        if (f.pending_.size() >= kFeedDepth) {
          f.pending_.pop_front();
          ++f.lost_;
        }
        f.pending_.push_back(std::move(give));
      }
      f.cv_.notify_one();
    }
  }
}

}  // namespace freehold::media
