// SPDX-License-Identifier: GPL-3.0-or-later
// V4L2 capture: format negotiation and the mmap streaming loop. Every syscall goes through V4l2Device.
#include <linux/videodev2.h>
#include <poll.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <mutex>
#include <tuple>

#include "core/log.hpp"
#include "hal/source.hpp"
#include "hal/v4l2_controls.hpp"
#include "hal/v4l2_convert.hpp"
#include "hal/v4l2_device.hpp"

namespace freehold::hal {
namespace {

constexpr unsigned kWantedBuffers = 4;
constexpr unsigned kMaxBuffers = 32;
constexpr unsigned kMaxEnumerated = 256;  // formats, sizes or intervals read from one driver list

std::optional<CaptureFormat> capture_format(std::uint32_t fourcc) {
  switch (fourcc) {
    case V4L2_PIX_FMT_H264:
      return CaptureFormat::h264;
    case V4L2_PIX_FMT_NV12:
      return CaptureFormat::nv12;
    case V4L2_PIX_FMT_YUYV:
      return CaptureFormat::yuyv;
    case V4L2_PIX_FMT_MJPEG:
    case V4L2_PIX_FMT_JPEG:
      return CaptureFormat::mjpeg;
    default:
      return std::nullopt;
  }
}

// Lower is preferred: passthrough costs nothing, NV12 is a copy, YUYV a cheap repack, MJPEG a decode.
int preference(CaptureFormat f) {
  switch (f) {
    case CaptureFormat::h264:
      return 0;
    case CaptureFormat::nv12:
      return 1;
    case CaptureFormat::yuyv:
      return 2;
    case CaptureFormat::mjpeg:
      return 3;
  }
  return 4;
}

std::string fourcc_text(std::uint32_t f) {
  std::string s;
  for (int i = 0; i < 4; ++i) {
    const auto c = static_cast<char>((f >> (8 * i)) & 0xff);
    s += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  return s;
}

bool device_gone(int e) {
  return e == ENODEV || e == EIO || e == ENXIO || e == EBADF;
}

std::int64_t now_us(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

// Nearest even value to `want` in [min, max] on the driver's step grid.
std::uint32_t stepped(std::uint32_t want, std::uint32_t min, std::uint32_t max, std::uint32_t step) {
  step = std::max<std::uint32_t>(step, 1);
  want = std::clamp(want, min, std::max(min, max));
  std::uint32_t v = min + (want - min + step / 2) / step * step;
  if (v > max) v -= step;
  for (int tries = 0; v % 2 && tries < 2; ++tries) v = (v + step <= max) ? v + step : v - std::min(v, step);
  return v;
}

struct Interval {
  std::uint32_t numerator = 0;  // seconds per frame = numerator / denominator; 0: the driver did not say
  std::uint32_t denominator = 0;
  [[nodiscard]] double fps() const { return numerator ? static_cast<double>(denominator) / numerator : 0.0; }
};

// One way the camera could be run, scored against what was asked for.
struct Candidate {
  std::uint32_t fourcc = 0;
  CaptureFormat format = CaptureFormat::yuyv;
  int width = 0;
  int height = 0;
  Interval interval;
  double max_fps = 0;  // 0: unknown
};

class V4l2Source final : public Source {
 public:
  V4l2Source(const V4l2Options& o, std::shared_ptr<V4l2Device> dev) : o_(o), dev_(std::move(dev)) {
    o_.width = std::max(2, o_.width & ~1);
    o_.height = std::max(2, o_.height & ~1);
    o_.fps = std::max(1, o_.fps);
    o_.frame_timeout = std::max(o_.frame_timeout, std::chrono::milliseconds(1));
    if (o_.width != o.width || o_.height != o.height) {
      log::notice("v4l2.size_rounded", {{"device", o_.device}, {"width", o_.width}, {"height", o_.height}});
    }
    width_ = o_.width;
    height_ = o_.height;
    fps_ = o_.fps;
    if (auto err = open_device()) {
      // The pipeline is built from what this source reports: whatever is plugged in later must match it.
      log::warn("v4l2.unavailable", {{"device", o_.device}, {"error", *err}});
      fixed_ = true;
    }
  }
  ~V4l2Source() override { close_device(); }
  V4l2Source(const V4l2Source&) = delete;
  V4l2Source& operator=(const V4l2Source&) = delete;

  std::optional<std::string> next(Picture& out) override {
    if (fd_ < 0) {
      if (auto err = open_device()) return err;
    }
    if (controls_dirty_.exchange(false)) apply_controls();
    const auto deadline = std::chrono::steady_clock::now() + o_.frame_timeout;
    for (;;) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        // A stalled camera often needs its stream restarted; the next call reopens it.
        close_device();
        return "no frame from " + o_.device + " in " + std::to_string(o_.frame_timeout.count()) + " ms";
      }
      const int ready = dev_->poll(fd_, static_cast<int>(std::min<std::int64_t>(left.count(), 60000)));
      if (ready < 0) {
        if (errno == EINTR) continue;
        return lost(errno);
      }
      if (ready == 0) continue;
      v4l2_buffer b{};
      b.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
      b.memory = V4L2_MEMORY_MMAP;
      if (dev_->ioctl(fd_, VIDIOC_DQBUF, &b) < 0) {
        if (errno == EAGAIN && !(ready & POLLERR)) continue;
        // POLLERR with nothing to dequeue: the driver stopped streaming without an errno of its own.
        return lost(errno == EAGAIN ? EIO : errno);
      }
      return deliver(b, out);
    }
  }

  int width() const override { return width_; }
  int height() const override { return height_; }
  int fps() const override { return fps_; }
  PixelFormat format() const override { return output_; }

  // The camera's own controls, set by the capture thread before its next frame (and again after a reopen).
  bool set_image_controls(const ImageControls& c) override {
    {
      std::lock_guard lock(controls_mutex_);
      controls_ = c;
    }
    controls_dirty_ = true;
    return true;
  }

 private:
  struct Buffer {
    void* address = nullptr;
    std::size_t length = 0;
  };

  std::string fail(const std::string& what, int e) {
    return "camera " + o_.device + ": " + what + " failed: " + std::strerror(e);
  }

  std::string lost(int e) {
    close_device();
    if (device_gone(e)) return "camera " + o_.device + " disappeared: " + std::strerror(e);
    return fail("capture", e);
  }

  std::optional<std::string> open_device() {
    fd_ = dev_->open(o_.device);
    if (fd_ < 0) return "cannot open camera " + o_.device + ": " + std::strerror(errno);
    auto err = start();
    if (err) close_device();
    controls_dirty_ = !err;
    return err;
  }

  std::optional<std::string> start() {
    v4l2_capability cap{};
    if (dev_->ioctl(fd_, VIDIOC_QUERYCAP, &cap) < 0) {
      return o_.device + " is not a V4L2 device (VIDIOC_QUERYCAP: " + std::strerror(errno) + ")";
    }
    const std::uint32_t caps = (cap.capabilities & V4L2_CAP_DEVICE_CAPS) ? cap.device_caps : cap.capabilities;
    const std::string card(reinterpret_cast<const char*>(cap.card),
                           strnlen(reinterpret_cast<const char*>(cap.card), sizeof cap.card));
    if (!(caps & V4L2_CAP_VIDEO_CAPTURE)) {
      return "camera " + o_.device + " (" + card + ") is not a single-planar video capture device" +
             ((caps & V4L2_CAP_VIDEO_CAPTURE_MPLANE) ? " (multi-planar capture is not supported)" : "");
    }
    if (!(caps & V4L2_CAP_STREAMING)) {
      return "camera " + o_.device + " (" + card + ") does not support streaming I/O, which capture needs";
    }
    if (auto err = negotiate(card)) return err;
    return stream_on();
  }

  // Reads the driver's lists of formats, sizes and frame intervals and picks the best candidate: the size nearest
  // the wanted one first (the pipeline and viewers are set up for it), then a frame rate that reaches the wanted
  // one, then the cheapest format.
  std::optional<std::string> negotiate(const std::string& card) {
    std::vector<Candidate> all;
    for (std::uint32_t i = 0; i < kMaxEnumerated; ++i) {
      v4l2_fmtdesc d{};
      d.index = i;
      d.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
      if (dev_->ioctl(fd_, VIDIOC_ENUM_FMT, &d) < 0) break;
      const auto f = capture_format(d.pixelformat);
      if (!f) continue;
      const bool passthrough = *f == CaptureFormat::h264;
      if (passthrough && !o_.allow_h264) continue;
      if (fixed_ && passthrough != (output_ == PixelFormat::h264)) continue;
      add_sizes(d.pixelformat, *f, all);
    }
    if (fixed_) {
      std::erase_if(all, [&](const Candidate& c) { return c.width != width_ || c.height != height_; });
    }
    if (all.empty()) {
      return "camera " + o_.device + " (" + card + ") offers no usable format" +
             (fixed_ ? " at " + std::to_string(width_) + "x" + std::to_string(height_) + " " + to_string(output_)
                     : std::string(" (H.264, NV12, YUYV or MJPEG)"));
    }
    auto key = [&](const Candidate& c) {
      const int distance = std::abs(c.width - width_) + std::abs(c.height - height_);
      const double shortfall = c.max_fps > 0 ? std::max(0.0, o_.fps - c.max_fps) : 0.0;
      return std::tuple(distance, shortfall, preference(c.format), -c.width * c.height);
    };
    const Candidate best = *std::min_element(all.begin(), all.end(),
                                             [&](const Candidate& a, const Candidate& b) { return key(a) < key(b); });
    return apply(best);
  }

  void add_sizes(std::uint32_t fourcc, CaptureFormat f, std::vector<Candidate>& out) {
    const auto add = [&](std::uint32_t w, std::uint32_t h) {
      if (w == 0 || h == 0 || w % 2 || h % 2 || w > 16384 || h > 16384) return;  // I420 needs even sizes
      Candidate c{fourcc, f, static_cast<int>(w), static_cast<int>(h), {}, 0};
      pick_interval(c);
      out.push_back(c);
    };
    for (std::uint32_t i = 0; i < kMaxEnumerated; ++i) {
      v4l2_frmsizeenum s{};
      s.index = i;
      s.pixel_format = fourcc;
      if (dev_->ioctl(fd_, VIDIOC_ENUM_FRAMESIZES, &s) < 0) {
        // A driver without the list: ask for the wanted size and let S_FMT adjust it.
        if (i == 0) add(static_cast<std::uint32_t>(width_), static_cast<std::uint32_t>(height_));
        return;
      }
      if (s.type == V4L2_FRMSIZE_TYPE_DISCRETE) {
        add(s.discrete.width, s.discrete.height);
        continue;
      }
      const auto& r = s.stepwise;  // stepwise or continuous: one range, the only entry
      add(stepped(static_cast<std::uint32_t>(width_), r.min_width, r.max_width, r.step_width),
          stepped(static_cast<std::uint32_t>(height_), r.min_height, r.max_height, r.step_height));
      return;
    }
  }

  // The slowest frame rate at or above the wanted one, else the fastest there is.
  void pick_interval(Candidate& c) {
    const double want = o_.fps;
    for (std::uint32_t i = 0; i < kMaxEnumerated; ++i) {
      v4l2_frmivalenum v{};
      v.index = i;
      v.pixel_format = c.fourcc;
      v.width = static_cast<std::uint32_t>(c.width);
      v.height = static_cast<std::uint32_t>(c.height);
      if (dev_->ioctl(fd_, VIDIOC_ENUM_FRAMEINTERVALS, &v) < 0) return;
      if (v.type != V4L2_FRMIVAL_TYPE_DISCRETE) {
        const Interval fastest{v.stepwise.min.numerator, v.stepwise.min.denominator};
        const Interval slowest{v.stepwise.max.numerator, v.stepwise.max.denominator};
        c.max_fps = fastest.fps();
        c.interval = want >= fastest.fps()   ? fastest
                     : want <= slowest.fps() ? slowest
                                             : Interval{1, static_cast<std::uint32_t>(o_.fps)};
        return;
      }
      const Interval iv{v.discrete.numerator, v.discrete.denominator};
      const double f = iv.fps();
      if (f <= 0) continue;
      c.max_fps = std::max(c.max_fps, f);
      const double current = c.interval.fps();
      const bool better =
          current == 0 || (f >= want && (current < want || f < current)) || (f < want && current < want && f > current);
      if (better) c.interval = iv;
    }
  }

  std::optional<std::string> apply(const Candidate& c) {
    v4l2_format fmt{};
    fmt.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    fmt.fmt.pix.width = static_cast<std::uint32_t>(c.width);
    fmt.fmt.pix.height = static_cast<std::uint32_t>(c.height);
    fmt.fmt.pix.pixelformat = c.fourcc;
    fmt.fmt.pix.field = V4L2_FIELD_NONE;
    if (dev_->ioctl(fd_, VIDIOC_S_FMT, &fmt) < 0) return fail("VIDIOC_S_FMT " + fourcc_text(c.fourcc), errno);
    const auto& pix = fmt.fmt.pix;
    const auto w = static_cast<int>(pix.width), h = static_cast<int>(pix.height);
    if (pix.pixelformat != c.fourcc) {
      return "camera " + o_.device + " switched " + fourcc_text(c.fourcc) + " to " + fourcc_text(pix.pixelformat);
    }
    if (w <= 0 || h <= 0 || w % 2 || h % 2 || w > 16384 || h > 16384) {
      return "camera " + o_.device + " set an unusable size " + std::to_string(w) + "x" + std::to_string(h);
    }
    if (fixed_ && (w != width_ || h != height_)) {
      return "camera " + o_.device + " came back at " + std::to_string(w) + "x" + std::to_string(h) + ", not " +
             std::to_string(width_) + "x" + std::to_string(height_);
    }
    const bool raw = c.format == CaptureFormat::nv12 || c.format == CaptureFormat::yuyv;
    layout_ = FrameLayout{c.format, w, h, raw ? static_cast<int>(pix.bytesperline) : 0};
    const int fps = set_rate(c.interval);
    if (!fixed_) {
      width_ = w;
      height_ = h;
      fps_ = fps;
      output_ = c.format == CaptureFormat::h264 ? PixelFormat::h264 : PixelFormat::i420;
      fixed_ = true;
    }
    log::info("v4l2.negotiated",
              {{"device", o_.device},
               {"format", to_string(c.format)},
               {"width", w},
               {"height", h},
               {"fps", fps},
               {"output", to_string(output_)},
               {"wanted", std::to_string(o_.width) + "x" + std::to_string(o_.height) + "@" + std::to_string(o_.fps)}});
    return std::nullopt;
  }

  // Frame rate the driver agreed to (S_PARM); the wanted one if the driver has no rate control.
  int set_rate(const Interval& iv) {
    v4l2_streamparm p{};
    p.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    p.parm.capture.timeperframe =
        iv.numerator ? v4l2_fract{iv.numerator, iv.denominator} : v4l2_fract{1, static_cast<std::uint32_t>(o_.fps)};
    if (dev_->ioctl(fd_, VIDIOC_S_PARM, &p) < 0 || !(p.parm.capture.capability & V4L2_CAP_TIMEPERFRAME)) {
      return iv.numerator ? std::max(1, static_cast<int>(std::lround(iv.fps()))) : o_.fps;
    }
    const Interval got{p.parm.capture.timeperframe.numerator, p.parm.capture.timeperframe.denominator};
    return got.numerator && got.denominator ? std::max(1, static_cast<int>(std::lround(got.fps()))) : o_.fps;
  }

  std::optional<std::string> stream_on() {
    v4l2_requestbuffers req{};
    req.count = kWantedBuffers;
    req.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    req.memory = V4L2_MEMORY_MMAP;
    if (dev_->ioctl(fd_, VIDIOC_REQBUFS, &req) < 0) return fail("VIDIOC_REQBUFS", errno);
    if (req.count < 2 || req.count > kMaxBuffers) {
      return "camera " + o_.device + " granted " + std::to_string(req.count) + " buffers (2 to " +
             std::to_string(kMaxBuffers) + " needed)";
    }
    for (std::uint32_t i = 0; i < req.count; ++i) {
      v4l2_buffer b{};
      b.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
      b.memory = V4L2_MEMORY_MMAP;
      b.index = i;
      if (dev_->ioctl(fd_, VIDIOC_QUERYBUF, &b) < 0) return fail("VIDIOC_QUERYBUF", errno);
      if (b.length == 0) return "camera " + o_.device + " offered an empty buffer";
      void* p = dev_->mmap(fd_, b.length, b.m.offset);
      if (!p) return fail("mmap", errno);
      buffers_.push_back(Buffer{p, b.length});
    }
    for (std::uint32_t i = 0; i < req.count; ++i) {
      v4l2_buffer b{};
      b.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
      b.memory = V4L2_MEMORY_MMAP;
      b.index = i;
      if (dev_->ioctl(fd_, VIDIOC_QBUF, &b) < 0) return fail("VIDIOC_QBUF", errno);
    }
    int type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    if (dev_->ioctl(fd_, VIDIOC_STREAMON, &type) < 0) return fail("VIDIOC_STREAMON", errno);
    streaming_ = true;
    return std::nullopt;
  }

  void close_device() {
    if (fd_ < 0) return;
    if (streaming_) {
      int type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
      (void)dev_->ioctl(fd_, VIDIOC_STREAMOFF, &type);
      streaming_ = false;
    }
    for (const Buffer& b : buffers_) dev_->munmap(b.address, b.length);
    buffers_.clear();
    dev_->close(fd_);
    fd_ = -1;
  }

  void apply_controls() {
    std::optional<ImageControls> c;
    {
      std::lock_guard lock(controls_mutex_);
      c = controls_;
    }
    if (!c || fd_ < 0) return;
    const std::string missing = apply_image_controls(*dev_, fd_, *c);
    if (missing != controls_missing_) {
      // Once per camera, not per change: a webcam without sharpness stays without it.
      if (!missing.empty()) log::notice("v4l2.controls_missing", {{"device", o_.device}, {"controls", missing}});
      controls_missing_ = missing;
    }
  }

  std::optional<std::string> deliver(v4l2_buffer& b, Picture& out) {
    const auto dequeued = std::chrono::steady_clock::now();
    if (b.index >= buffers_.size()) {
      const std::string err = "camera " + o_.device + " returned buffer " + std::to_string(b.index) + " of " +
                              std::to_string(buffers_.size());
      close_device();
      return err;
    }
    const Buffer& buf = buffers_[b.index];
    std::optional<std::string> err;
    if (b.flags & V4L2_BUF_FLAG_ERROR) {
      err = "the driver marked the frame as damaged";
    } else if (b.bytesused > buf.length) {
      err = "frame of " + std::to_string(b.bytesused) + " bytes in a buffer of " + std::to_string(buf.length);
    } else {
      err = converter_.convert(layout_, {static_cast<const std::uint8_t*>(buf.address), b.bytesused}, out);
    }
    if (!err) {
      // The driver's timestamp is the better capture time when it uses our clock (CLOCK_MONOTONIC).
      const std::int64_t now = now_us(dequeued);
      const std::int64_t stamp = std::int64_t{b.timestamp.tv_sec} * 1000000 + b.timestamp.tv_usec;
      const bool monotonic = (b.flags & V4L2_BUF_FLAG_TIMESTAMP_MASK) == V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC;
      out.capture_us = monotonic && stamp > 0 && stamp <= now ? stamp : now;
      out.wallclock_us =
          std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
              .count() -
          (now - out.capture_us);
      out.index = index_++;
    }
    b.bytesused = 0;
    if (dev_->ioctl(fd_, VIDIOC_QBUF, &b) < 0) {
      // The picture in hand is still good; the next call sees the device closed and reopens it.
      const int e = errno;
      close_device();
      if (err) return "camera " + o_.device + ": " + *err + "; requeue failed: " + std::strerror(e);
    }
    if (err) return "camera " + o_.device + ": " + *err;
    return std::nullopt;
  }

  V4l2Options o_;
  std::shared_ptr<V4l2Device> dev_;
  int fd_ = -1;
  bool streaming_ = false;
  std::vector<Buffer> buffers_;
  FrameLayout layout_;
  FrameConverter converter_;
  // What this source reports: the wanted values until the first negotiation fixes them (or, if that fails, they
  // stay fixed as wanted), since the pipeline behind the source is built for them.
  bool fixed_ = false;
  int width_ = 0;
  int height_ = 0;
  int fps_ = 0;
  PixelFormat output_ = PixelFormat::i420;
  std::uint64_t index_ = 0;
  std::mutex controls_mutex_;
  std::optional<ImageControls> controls_;  // nullopt: never set, the camera's own settings stay
  std::atomic<bool> controls_dirty_{false};
  std::string controls_missing_;
};

}  // namespace

std::unique_ptr<Source> make_v4l2_source(const V4l2Options& options, std::shared_ptr<V4l2Device> device) {
  return std::make_unique<V4l2Source>(options, device ? std::move(device) : real_v4l2_device());
}

}  // namespace freehold::hal
