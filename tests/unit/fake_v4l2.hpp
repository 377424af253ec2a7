// SPDX-License-Identifier: GPL-3.0-or-later
// An emulated UVC camera behind hal::V4l2Device, for tests: configurable formats, sizes and frame rates, frames
// with known pixel values, and the failures real cameras have (unplug, stall, damaged frames).
#pragma once

#include <linux/videodev2.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "hal/v4l2_device.hpp"

namespace freehold::test {

struct FakeFormat {
  std::uint32_t fourcc = V4L2_PIX_FMT_YUYV;
  std::vector<std::pair<int, int>> sizes;         // discrete sizes
  std::vector<int> fps = {30, 15};                // discrete frame intervals 1/fps, for every size
  std::optional<v4l2_frmsize_stepwise> stepwise;  // instead of `sizes`
};

struct FakeCameraConfig {
  std::vector<FakeFormat> formats;
  std::uint32_t capabilities = V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_STREAMING;
  int jpeg_subsampling = 1;  // TJSAMP_422, what UVC cameras send; TJSAMP_420 is 2
  int h264_gop = 10;         // an IDR access unit every this many frames
  int stride_padding = 0;    // extra bytes at the end of each raw line
  // User controls (VIDIOC_QUERYCTRL, G_CTRL, S_CTRL), by id; the value starts at default_value.
  std::vector<v4l2_queryctrl> controls;
};

// The test pattern of raw frames. Luma: a ramp, except pixel (0,0) which holds the frame's sequence number.
[[nodiscard]] std::uint8_t pattern_y(int x, int y, std::uint32_t sequence);
// YUYV chroma of pixel pair `pair` on line `y` (alternate lines differ, so 4:2:0 must average them).
[[nodiscard]] std::uint8_t pattern_yuyv_u(int pair, int y);
[[nodiscard]] std::uint8_t pattern_yuyv_v(int pair, int y);
// NV12 chroma sample (cx, cy).
[[nodiscard]] std::uint8_t pattern_nv12_u(int cx, int cy);
[[nodiscard]] std::uint8_t pattern_nv12_v(int cx, int cy);
// MJPEG frames are four flat quadrants (0 top left, 1 top right, 2 bottom left, 3 bottom right).
struct Yuv {
  std::uint8_t y, u, v;
};
[[nodiscard]] Yuv pattern_quadrant(int quadrant);

// A JPEG of the quadrant pattern (libturbojpeg), `subsampling` a TJSAMP_* value.
[[nodiscard]] std::vector<std::uint8_t> make_quadrant_jpeg(int width, int height, int subsampling);

class FakeCamera final : public hal::V4l2Device {
 public:
  explicit FakeCamera(FakeCameraConfig config);
  ~FakeCamera() override;

  // Test controls.
  void unplug();  // the open descriptor dies (ENODEV, POLLERR); open() fails with ENOENT
  void replug();
  void reconfigure(FakeCameraConfig config);  // another camera model on the same port (best while unplugged)
  void stall(bool stalled);                   // no frames: poll() waits out its timeout
  // The next frame delivered carries `payload` instead of the pattern (copied up to the buffer length), with
  // bytesused as given (default: the payload size) and extra buffer flags (e.g. V4L2_BUF_FLAG_ERROR).
  void inject(std::vector<std::uint8_t> payload, std::optional<std::uint32_t> bytesused = {}, std::uint32_t flags = 0);

  [[nodiscard]] int opens() const { return opens_; }
  [[nodiscard]] std::size_t open_descriptors() const { return descriptors_.size(); }
  [[nodiscard]] std::size_t mapped() const { return maps_.size(); }
  [[nodiscard]] const v4l2_pix_format& current() const { return pix_; }
  [[nodiscard]] int current_fps() const { return fps_; }
  [[nodiscard]] std::uint32_t frames_sent() const { return sequence_; }
  // The value of a control, nullopt if the camera has no such control. S_CTRL calls so far.
  [[nodiscard]] std::optional<std::int32_t> control(std::uint32_t id) const;
  [[nodiscard]] int control_writes() const { return control_writes_; }

  // hal::V4l2Device
  int open(const std::string& path) override;
  int close(int fd) override;
  int ioctl(int fd, unsigned long request, void* arg) override;
  void* mmap(int fd, std::size_t length, std::int64_t offset) override;
  int munmap(void* address, std::size_t length) override;
  int poll(int fd, int timeout_ms) override;

 private:
  struct Injected {
    std::vector<std::uint8_t> payload;
    std::optional<std::uint32_t> bytesused;
    std::uint32_t flags;
  };
  using Storage = std::shared_ptr<std::vector<std::uint8_t>>;

  int handle(unsigned long request, void* arg);
  const FakeFormat* find(std::uint32_t fourcc) const;
  bool offers(const FakeFormat& f, int w, int h) const;
  void set_format(v4l2_pix_format& pix);
  void release_buffers();
  void produce(std::uint32_t index);
  std::size_t render(std::vector<std::uint8_t>& buffer);

  FakeCameraConfig config_;
  bool present_ = true;
  bool stalled_ = false;
  int fd_ = -1;  // the live descriptor
  int next_fd_ = 100;
  std::set<int> descriptors_;  // open in the application, live or dead
  int opens_ = 0;
  bool streaming_ = false;
  v4l2_pix_format pix_{};
  int fps_ = 0;
  std::vector<Storage> buffers_;
  std::vector<std::uint32_t> bytesused_, flags_;
  std::deque<std::uint32_t> queued_, done_;
  std::map<void*, Storage> maps_;  // mappings outlive REQBUFS(0) and close(), as in the kernel
  std::deque<Injected> injected_;
  std::uint32_t sequence_ = 0;
  std::map<std::uint32_t, std::int32_t> control_values_;
  int control_writes_ = 0;
};

}  // namespace freehold::test
