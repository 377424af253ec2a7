// SPDX-License-Identifier: GPL-3.0-or-later
// Camera sources behind one interface: the only part of freeholdd that touches capture hardware. A source hands
// out pictures at its own pace, either raw (I420) for an encoder or already encoded (H.264 from a UVC camera or a
// file, JPEG) for passthrough; the pipeline decides what to do with them. Synthetic, V4L2 and file sources
// implement it, so the whole daemon runs on any Linux host.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace freehold::hal {

enum class PixelFormat {
  i420,  // planar YUV 4:2:0: Y plane width*height, then U and V planes of (width/2)*(height/2)
  h264,  // one access unit, Annex-B (start codes), SPS/PPS in front of every IDR
  jpeg,  // one baseline JFIF/JPEG picture
};

[[nodiscard]] const char* to_string(PixelFormat f);

// One picture: raw I420 (the plane accessors apply), or one encoded access unit in `data`.
struct Picture {
  int width = 0;
  int height = 0;
  PixelFormat format = PixelFormat::i420;
  bool keyframe = false;  // encoded formats: decodable on its own (H.264 IDR; every JPEG)
  std::vector<std::uint8_t> data;
  std::int64_t capture_us = 0;    // monotonic capture time
  std::int64_t wallclock_us = 0;  // UTC, microseconds since the epoch (burned in by the synthetic source)
  std::uint64_t index = 0;        // frame counter since the source started

  [[nodiscard]] std::uint8_t* y() { return data.data(); }
  [[nodiscard]] std::uint8_t* u() { return data.data() + static_cast<std::size_t>(width) * height; }
  [[nodiscard]] std::uint8_t* v() { return u() + static_cast<std::size_t>(width / 2) * (height / 2); }
  [[nodiscard]] const std::uint8_t* y() const { return data.data(); }
  [[nodiscard]] const std::uint8_t* u() const { return data.data() + static_cast<std::size_t>(width) * height; }
  [[nodiscard]] const std::uint8_t* v() const { return u() + static_cast<std::size_t>(width / 2) * (height / 2); }
  void allocate(int w, int h) {
    width = w;
    height = h;
    format = PixelFormat::i420;
    keyframe = true;
    data.resize(static_cast<std::size_t>(w) * h * 3 / 2);
  }
};

// Picture controls in percent, 0..100; 50 leaves the picture as the camera gives it.
struct ImageControls {
  int brightness = 50;
  int contrast = 50;
  int saturation = 50;
  int sharpness = 50;
  friend bool operator==(const ImageControls&, const ImageControls&) = default;
};

// The part of the picture a source draws over the scene itself (a clock, a frame counter), as fractions of the
// picture; w = 0: none. Analytics ignore it, as a camera's analytics ignore its on-screen display.
struct Overlay {
  double x = 0, y = 0, w = 0, h = 0;
};

class Source {
 public:
  virtual ~Source() = default;
  // Fills `out` with the next picture, blocking until it is due. nullopt: a picture; otherwise why not (the caller
  // retries after a back-off: a camera unplugged, a file at its end without loop, ...).
  [[nodiscard]] virtual std::optional<std::string> next(Picture& out) = 0;
  [[nodiscard]] virtual int width() const = 0;
  [[nodiscard]] virtual int height() const = 0;
  [[nodiscard]] virtual int fps() const = 0;
  // What next() delivers. An encoded source is passed through, never decoded and re-encoded.
  [[nodiscard]] virtual PixelFormat format() const { return PixelFormat::i420; }
  // Hands the controls to a camera that applies them itself (V4L2: its brightness, contrast... controls). Any
  // thread; takes effect on a following picture. false: the source has no controls and the pipeline must adjust
  // the pictures in software.
  virtual bool set_image_controls(const ImageControls&) { return false; }
  [[nodiscard]] virtual Overlay overlay() const { return {}; }
};

struct SyntheticOptions {
  int width = 1280;
  int height = 720;
  int fps = 25;
  bool moving_box = false;  // a still scene that a box crosses, for motion analytics (else the whole pattern slides)
  bool realtime = true;     // pace to fps; false: as fast as asked (tests, benchmarks)
};

// A moving test pattern with the frame counter and UTC time burned in (top left), so a client that decodes the
// stream can check for gaps and measure latency.
[[nodiscard]] std::unique_ptr<Source> make_synthetic_source(const SyntheticOptions& options);

// The synthetic scene's script: the box crosses the picture for kSyntheticMoveSeconds, then rests as long, and
// again. Its ground truth: whether the box moves in picture `index`, and how far it has travelled (in frames of
// movement) by then. The daemon reports this as the motion sensor until a detector replaces it.
inline constexpr int kSyntheticMoveSeconds = 4;
[[nodiscard]] bool synthetic_box_moving(std::uint64_t index, int fps);
[[nodiscard]] std::uint64_t synthetic_box_travel(std::uint64_t index, int fps);

struct FileOptions {
  std::string path;      // any container and video codec libavformat/libavcodec read (MP4, MKV, AVI, .h264, ...)
  bool loop = true;      // start again at the end; otherwise next() reports the end
  bool realtime = true;  // pace to the file's frame rate; false: as fast as asked
  bool decode = false;   // decode H.264 and MJPEG too, instead of passing them through
};

// Plays a recorded file as if it were a camera. H.264 access units (Annex-B, SPS/PPS in front of every IDR) and
// JPEG pictures are passed through untouched, like a camera that encodes itself; any other codec (or any codec
// with `decode`) is decoded to I420, like a raw camera: then analytics, snapshots and the sub stream work. Index
// counts pictures from 0 across loops. nullptr with `error` set if the file cannot be opened, has no usable video
// stream or no decoder for it.
[[nodiscard]] std::unique_ptr<Source> make_file_source(const FileOptions& options, std::string* error);

// Reads the burned-in frame counter back from a decoded luma plane (tests and the latency benchmark).
[[nodiscard]] std::optional<std::uint64_t> read_burned_counter(const std::uint8_t* y, int width, int height);

class V4l2Device;  // hal/v4l2_device.hpp

struct V4l2Options {
  std::string device = "/dev/video0";
  int width = 1280;  // wanted; the nearest size the camera offers is taken (odd values are rounded down to even)
  int height = 720;
  int fps = 25;
  bool allow_h264 = true;                         // pass the camera's own H.264 through when it offers it
  std::chrono::milliseconds frame_timeout{2000};  // no frame for this long: next() fails and the camera is reopened
};

// A V4L2 camera (UVC webcams, CSI sensors) with mmap streaming. Prefers H.264 (passthrough), else NV12, YUYV or
// MJPEG converted to I420, at the size nearest the wanted one; width/height/fps/format report what was agreed.
// A camera that fails or is unplugged makes next() return an error; later calls reopen it with the same output
// format and size. If it cannot be opened at all at first, the wanted size and I420 are reported and required.
// `device` nullptr: the kernel (real_v4l2_device()); tests pass an emulated camera.
[[nodiscard]] std::unique_ptr<Source> make_v4l2_source(const V4l2Options& options,
                                                       std::shared_ptr<V4l2Device> device = nullptr);

}  // namespace freehold::hal
