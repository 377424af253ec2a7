// SPDX-License-Identifier: GPL-3.0-or-later
#include "fake_v4l2.hpp"

#include <poll.h>
#include <turbojpeg.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace freehold::test {

std::uint8_t pattern_y(int x, int y, std::uint32_t sequence) {
  if (x == 0 && y == 0) return static_cast<std::uint8_t>(sequence);
  return static_cast<std::uint8_t>(16 + x + 2 * y);
}
std::uint8_t pattern_yuyv_u(int pair, int y) {
  return static_cast<std::uint8_t>(40 + pair % 50 + (y % 2) * 20);
}
std::uint8_t pattern_yuyv_v(int pair, int y) {
  return static_cast<std::uint8_t>(200 - pair % 50 - (y % 2) * 20);
}
std::uint8_t pattern_nv12_u(int cx, int cy) {
  return static_cast<std::uint8_t>(50 + cx % 50 + cy % 7);
}
std::uint8_t pattern_nv12_v(int cx, int cy) {
  return static_cast<std::uint8_t>(190 - cx % 50 - cy % 7);
}

Yuv pattern_quadrant(int quadrant) {
  static constexpr Yuv kQuadrants[4] = {{50, 90, 150}, {100, 160, 80}, {150, 110, 130}, {200, 140, 100}};
  return kQuadrants[quadrant & 3];
}

std::vector<std::uint8_t> make_quadrant_jpeg(int width, int height, int subsampling) {
  std::vector<std::uint8_t> planes[3];
  int widths[3] = {}, heights[3] = {};
  for (int c = 0; c < (subsampling == TJSAMP_GRAY ? 1 : 3); ++c) {
    widths[c] = tjPlaneWidth(c, width, subsampling);
    heights[c] = tjPlaneHeight(c, height, subsampling);
    planes[c].resize(static_cast<std::size_t>(widths[c]) * heights[c]);
    for (int y = 0; y < heights[c]; ++y) {
      for (int x = 0; x < widths[c]; ++x) {
        const int q = (x * 2 >= widths[c] ? 1 : 0) + (y * 2 >= heights[c] ? 2 : 0);
        const Yuv p = pattern_quadrant(q);
        planes[c][static_cast<std::size_t>(y) * widths[c] + x] = c == 0 ? p.y : c == 1 ? p.u : p.v;
      }
    }
  }
  tjhandle tj = tjInitCompress();
  const unsigned char* src[3] = {planes[0].data(), planes[1].data(), planes[2].data()};
  unsigned char* jpeg = nullptr;
  unsigned long size = 0;
  const int r = tjCompressFromYUVPlanes(tj, src, width, widths, height, subsampling, &jpeg, &size, 95, 0);
  std::vector<std::uint8_t> out;
  if (r == 0) out.assign(jpeg, jpeg + size);
  tjFree(jpeg);
  tjDestroy(tj);
  if (out.empty()) throw std::runtime_error("test JPEG could not be made");
  return out;
}

FakeCamera::FakeCamera(FakeCameraConfig config) {
  reconfigure(std::move(config));
}

FakeCamera::~FakeCamera() = default;

void FakeCamera::unplug() {
  present_ = false;
  streaming_ = false;
  fd_ = -1;  // the descriptor stays open in the application, but dead
  release_buffers();
}

void FakeCamera::replug() {
  present_ = true;
}

void FakeCamera::reconfigure(FakeCameraConfig config) {
  config_ = std::move(config);
  control_values_.clear();  // another camera: its controls at their defaults
  pix_ = {};
  fps_ = 0;
  if (!config_.formats.empty()) {
    pix_.pixelformat = config_.formats.front().fourcc;
    set_format(pix_);
  }
}

void FakeCamera::stall(bool stalled) {
  stalled_ = stalled;
}

void FakeCamera::inject(std::vector<std::uint8_t> payload, std::optional<std::uint32_t> bytesused,
                        std::uint32_t flags) {
  injected_.push_back(Injected{std::move(payload), bytesused, flags});
}

int FakeCamera::open(const std::string&) {
  if (!present_) {
    errno = ENOENT;
    return -1;
  }
  if (fd_ >= 0) {
    errno = EBUSY;  // UVC allows several openers, but capture code must not leak descriptors
    return -1;
  }
  ++opens_;
  fd_ = next_fd_++;
  descriptors_.insert(fd_);
  return fd_;
}

int FakeCamera::close(int fd) {
  if (descriptors_.erase(fd) == 0) {
    errno = EBADF;
    return -1;
  }
  if (fd == fd_) {
    fd_ = -1;
    streaming_ = false;
    release_buffers();
  }
  return 0;
}

const FakeFormat* FakeCamera::find(std::uint32_t fourcc) const {
  for (const FakeFormat& f : config_.formats) {
    if (f.fourcc == fourcc) return &f;
  }
  return nullptr;
}

bool FakeCamera::offers(const FakeFormat& f, int w, int h) const {
  if (f.stepwise) {
    const auto& s = *f.stepwise;
    const auto uw = static_cast<std::uint32_t>(w), uh = static_cast<std::uint32_t>(h);
    return uw >= s.min_width && uw <= s.max_width && (uw - s.min_width) % std::max(1u, s.step_width) == 0 &&
           uh >= s.min_height && uh <= s.max_height && (uh - s.min_height) % std::max(1u, s.step_height) == 0;
  }
  return std::find(f.sizes.begin(), f.sizes.end(), std::pair<int, int>{w, h}) != f.sizes.end();
}

// Like a driver: an unknown format becomes the first one, a size not offered becomes the nearest offered.
void FakeCamera::set_format(v4l2_pix_format& pix) {
  const FakeFormat* f = find(pix.pixelformat);
  if (!f) f = &config_.formats.front();
  pix.pixelformat = f->fourcc;
  if (!f->sizes.empty() && !offers(*f, static_cast<int>(pix.width), static_cast<int>(pix.height))) {
    auto best = f->sizes.front();
    for (const auto& s : f->sizes) {
      if (std::abs(s.first - static_cast<int>(pix.width)) + std::abs(s.second - static_cast<int>(pix.height)) <
          std::abs(best.first - static_cast<int>(pix.width)) + std::abs(best.second - static_cast<int>(pix.height))) {
        best = s;
      }
    }
    pix.width = static_cast<std::uint32_t>(best.first);
    pix.height = static_cast<std::uint32_t>(best.second);
  }
  const std::uint32_t w = pix.width, h = pix.height;
  pix.field = V4L2_FIELD_NONE;
  switch (pix.pixelformat) {
    case V4L2_PIX_FMT_YUYV:
      pix.bytesperline = w * 2 + static_cast<std::uint32_t>(config_.stride_padding);
      pix.sizeimage = pix.bytesperline * h;
      break;
    case V4L2_PIX_FMT_NV12:
      pix.bytesperline = w + static_cast<std::uint32_t>(config_.stride_padding);
      pix.sizeimage = pix.bytesperline * h * 3 / 2;
      break;
    default:  // compressed: UVC reports no line length and a generous buffer
      pix.bytesperline = 0;
      pix.sizeimage = w * h * 2;
  }
  pix_ = pix;
  if (fps_ == 0 && !f->fps.empty()) fps_ = f->fps.front();
}

void FakeCamera::release_buffers() {
  buffers_.clear();
  bytesused_.clear();
  flags_.clear();
  queued_.clear();
  done_.clear();
}

int FakeCamera::ioctl(int fd, unsigned long request, void* arg) {
  if (fd < 0 || fd != fd_) {
    errno = descriptors_.count(fd) ? ENODEV : EBADF;  // a descriptor from before an unplug stays dead
    return -1;
  }
  const int e = handle(request, arg);
  if (e == 0) return 0;
  errno = e;
  return -1;
}

int FakeCamera::handle(unsigned long request, void* arg) {
  switch (request) {
    case VIDIOC_QUERYCAP: {
      auto* c = static_cast<v4l2_capability*>(arg);
      *c = {};
      std::strncpy(reinterpret_cast<char*>(c->driver), "fakeuvc", sizeof c->driver - 1);
      std::strncpy(reinterpret_cast<char*>(c->card), "Fake UVC Camera", sizeof c->card - 1);
      c->capabilities = config_.capabilities | V4L2_CAP_DEVICE_CAPS;
      c->device_caps = config_.capabilities;
      return 0;
    }
    case VIDIOC_ENUM_FMT: {
      auto* d = static_cast<v4l2_fmtdesc*>(arg);
      if (d->type != V4L2_BUF_TYPE_VIDEO_CAPTURE || d->index >= config_.formats.size()) return EINVAL;
      d->pixelformat = config_.formats[d->index].fourcc;
      d->flags =
          d->pixelformat == V4L2_PIX_FMT_YUYV || d->pixelformat == V4L2_PIX_FMT_NV12 ? 0 : V4L2_FMT_FLAG_COMPRESSED;
      return 0;
    }
    case VIDIOC_ENUM_FRAMESIZES: {
      auto* s = static_cast<v4l2_frmsizeenum*>(arg);
      const FakeFormat* f = find(s->pixel_format);
      if (!f) return EINVAL;
      if (f->stepwise) {
        if (s->index != 0) return EINVAL;
        s->type = V4L2_FRMSIZE_TYPE_STEPWISE;
        s->stepwise = *f->stepwise;
        return 0;
      }
      if (s->index >= f->sizes.size()) return EINVAL;
      s->type = V4L2_FRMSIZE_TYPE_DISCRETE;
      s->discrete.width = static_cast<std::uint32_t>(f->sizes[s->index].first);
      s->discrete.height = static_cast<std::uint32_t>(f->sizes[s->index].second);
      return 0;
    }
    case VIDIOC_ENUM_FRAMEINTERVALS: {
      auto* v = static_cast<v4l2_frmivalenum*>(arg);
      const FakeFormat* f = find(v->pixel_format);
      if (!f || !offers(*f, static_cast<int>(v->width), static_cast<int>(v->height))) return EINVAL;
      if (v->index >= f->fps.size()) return EINVAL;
      v->type = V4L2_FRMIVAL_TYPE_DISCRETE;
      v->discrete = {1, static_cast<std::uint32_t>(f->fps[v->index])};
      return 0;
    }
    case VIDIOC_G_FMT:
    case VIDIOC_S_FMT: {
      auto* fmt = static_cast<v4l2_format*>(arg);
      if (fmt->type != V4L2_BUF_TYPE_VIDEO_CAPTURE) return EINVAL;
      if (request == VIDIOC_S_FMT) {
        if (!buffers_.empty()) return EBUSY;
        set_format(fmt->fmt.pix);
      }
      fmt->fmt.pix = pix_;
      return 0;
    }
    case VIDIOC_S_PARM: {
      auto* p = static_cast<v4l2_streamparm*>(arg);
      const FakeFormat* f = find(pix_.pixelformat);
      const auto& tpf = p->parm.capture.timeperframe;
      const int want = tpf.numerator ? static_cast<int>(tpf.denominator / tpf.numerator) : 30;
      int best = f->fps.front();
      for (int fps : f->fps) {
        if (std::abs(fps - want) < std::abs(best - want)) best = fps;
      }
      fps_ = best;
      p->parm.capture = {};
      p->parm.capture.capability = V4L2_CAP_TIMEPERFRAME;
      p->parm.capture.timeperframe = {1, static_cast<std::uint32_t>(best)};
      return 0;
    }
    case VIDIOC_REQBUFS: {
      auto* r = static_cast<v4l2_requestbuffers*>(arg);
      if (r->memory != V4L2_MEMORY_MMAP || streaming_) return EINVAL;
      release_buffers();
      r->count = std::min<std::uint32_t>(r->count, 8);
      for (std::uint32_t i = 0; i < r->count; ++i) {
        buffers_.push_back(std::make_shared<std::vector<std::uint8_t>>(pix_.sizeimage));
        bytesused_.push_back(0);
        flags_.push_back(0);
      }
      return 0;
    }
    case VIDIOC_QUERYBUF: {
      auto* b = static_cast<v4l2_buffer*>(arg);
      if (b->index >= buffers_.size()) return EINVAL;
      b->length = static_cast<std::uint32_t>(buffers_[b->index]->size());
      b->m.offset = b->index * 0x100000u;
      return 0;
    }
    case VIDIOC_QBUF: {
      auto* b = static_cast<v4l2_buffer*>(arg);
      if (b->index >= buffers_.size()) return EINVAL;
      if (std::find(queued_.begin(), queued_.end(), b->index) != queued_.end()) return EINVAL;
      if (std::find(done_.begin(), done_.end(), b->index) != done_.end()) return EINVAL;
      queued_.push_back(b->index);
      return 0;
    }
    case VIDIOC_DQBUF: {
      auto* b = static_cast<v4l2_buffer*>(arg);
      if (!streaming_) return EINVAL;
      if (done_.empty()) return EAGAIN;
      const std::uint32_t i = done_.front();
      done_.pop_front();
      b->index = i;
      b->bytesused = bytesused_[i];
      b->length = static_cast<std::uint32_t>(buffers_[i]->size());
      b->flags = flags_[i] | V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC;
      b->sequence = sequence_ - 1;
      const auto us =
          std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
              .count();
      b->timestamp.tv_sec = us / 1000000;
      b->timestamp.tv_usec = us % 1000000;
      return 0;
    }
    case VIDIOC_STREAMON:
      if (buffers_.empty()) return EINVAL;
      streaming_ = true;
      return 0;
    case VIDIOC_STREAMOFF:
      streaming_ = false;
      queued_.clear();
      done_.clear();
      return 0;
    case VIDIOC_QUERYCTRL: {
      auto* q = static_cast<v4l2_queryctrl*>(arg);
      for (const auto& c : config_.controls) {
        if (c.id == q->id) {
          *q = c;
          return 0;
        }
      }
      return EINVAL;
    }
    case VIDIOC_G_CTRL:
    case VIDIOC_S_CTRL: {
      auto* c = static_cast<v4l2_control*>(arg);
      auto it = std::find_if(config_.controls.begin(), config_.controls.end(),
                             [&](const v4l2_queryctrl& q) { return q.id == c->id; });
      if (it == config_.controls.end()) return EINVAL;
      if (!control_values_.count(c->id)) control_values_[c->id] = it->default_value;
      if (request == VIDIOC_G_CTRL) {
        c->value = control_values_[c->id];
        return 0;
      }
      if (c->value < it->minimum || c->value > it->maximum) return ERANGE;
      control_values_[c->id] = c->value;
      ++control_writes_;
      return 0;
    }
    default:
      return ENOTTY;
  }
}

std::optional<std::int32_t> FakeCamera::control(std::uint32_t id) const {
  if (auto it = control_values_.find(id); it != control_values_.end()) return it->second;
  for (const auto& c : config_.controls) {
    if (c.id == id) return c.default_value;
  }
  return std::nullopt;
}

void* FakeCamera::mmap(int fd, std::size_t length, std::int64_t offset) {
  const auto index = static_cast<std::size_t>(offset / 0x100000);
  if (fd != fd_ || offset % 0x100000 || index >= buffers_.size() || length != buffers_[index]->size()) {
    errno = EINVAL;
    return nullptr;
  }
  void* p = buffers_[index]->data();
  maps_[p] = buffers_[index];
  return p;
}

int FakeCamera::munmap(void* address, std::size_t length) {
  auto it = maps_.find(address);
  if (it == maps_.end() || it->second->size() != length) {
    errno = EINVAL;
    return -1;
  }
  maps_.erase(it);
  return 0;
}

int FakeCamera::poll(int fd, int timeout_ms) {
  if (fd != fd_) return POLLERR | POLLHUP;
  if (!streaming_) return POLLERR;
  if (done_.empty() && (stalled_ || queued_.empty())) {
    std::this_thread::sleep_for(std::chrono::milliseconds(timeout_ms));
    return 0;
  }
  if (done_.empty()) {
    const std::uint32_t i = queued_.front();
    queued_.pop_front();
    produce(i);
    done_.push_back(i);
  }
  return POLLIN | POLLRDNORM;
}

void FakeCamera::produce(std::uint32_t index) {
  std::vector<std::uint8_t>& buffer = *buffers_[index];
  flags_[index] = 0;
  if (!injected_.empty()) {
    Injected in = std::move(injected_.front());
    injected_.pop_front();
    std::copy_n(in.payload.begin(), std::min(in.payload.size(), buffer.size()), buffer.begin());
    bytesused_[index] = in.bytesused.value_or(static_cast<std::uint32_t>(in.payload.size()));
    flags_[index] = in.flags;
  } else {
    bytesused_[index] = static_cast<std::uint32_t>(render(buffer));
  }
  ++sequence_;
}

std::size_t FakeCamera::render(std::vector<std::uint8_t>& buffer) {
  const int w = static_cast<int>(pix_.width), h = static_cast<int>(pix_.height);
  const std::size_t stride = pix_.bytesperline;
  switch (pix_.pixelformat) {
    case V4L2_PIX_FMT_YUYV:
      for (int y = 0; y < h; ++y) {
        std::uint8_t* row = buffer.data() + y * stride;
        for (int i = 0; i < w / 2; ++i) {
          row[4 * i] = pattern_y(2 * i, y, sequence_);
          row[4 * i + 1] = pattern_yuyv_u(i, y);
          row[4 * i + 2] = pattern_y(2 * i + 1, y, sequence_);
          row[4 * i + 3] = pattern_yuyv_v(i, y);
        }
      }
      return pix_.sizeimage;
    case V4L2_PIX_FMT_NV12: {
      for (int y = 0; y < h; ++y) {
        for (int x = 0; x < w; ++x) buffer[y * stride + x] = pattern_y(x, y, sequence_);
      }
      std::uint8_t* uv = buffer.data() + stride * h;
      for (int cy = 0; cy < h / 2; ++cy) {
        for (int cx = 0; cx < w / 2; ++cx) {
          uv[cy * stride + 2 * cx] = pattern_nv12_u(cx, cy);
          uv[cy * stride + 2 * cx + 1] = pattern_nv12_v(cx, cy);
        }
      }
      return pix_.sizeimage;
    }
    case V4L2_PIX_FMT_MJPEG:
    case V4L2_PIX_FMT_JPEG: {
      const auto jpeg = make_quadrant_jpeg(w, h, config_.jpeg_subsampling);
      const std::size_t n = std::min(jpeg.size(), buffer.size());
      std::copy_n(jpeg.begin(), n, buffer.begin());
      return n;
    }
    case V4L2_PIX_FMT_H264: {
      // Canned access units: SPS, PPS and an IDR slice every GOP, else one non-IDR slice. The byte after each
      // slice header holds the frame's sequence number.
      const bool idr = sequence_ % static_cast<std::uint32_t>(std::max(1, config_.h264_gop)) == 0;
      std::vector<std::uint8_t> au;
      if (idr) {
        au = {0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0xda, 0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80, 0, 0, 1, 0x65, 0x88};
      } else {
        au = {0, 0, 0, 1, 0x41, 0x9a};
      }
      au.push_back(static_cast<std::uint8_t>(sequence_));
      for (int i = 0; i < 64; ++i) au.push_back(static_cast<std::uint8_t>(0x10 + i));
      std::copy(au.begin(), au.end(), buffer.begin());
      return au.size();
    }
    default:
      return 0;
  }
}

}  // namespace freehold::test
