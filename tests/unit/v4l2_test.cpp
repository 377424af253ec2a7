// SPDX-License-Identifier: GPL-3.0-or-later
// The V4L2 camera source against an emulated UVC camera: what gets negotiated, the pixels that come out, and
// what a user sees when the camera misbehaves (unplugged, stalled, damaged frames).
#include <gtest/gtest.h>
#include <turbojpeg.h>

#include <chrono>
#include <cstdlib>

#include "fake_v4l2.hpp"
#include "hal/source.hpp"
#include "hal/v4l2_convert.hpp"

namespace freehold::hal {
namespace {

using test::FakeCamera;
using test::FakeCameraConfig;
using test::FakeFormat;

std::shared_ptr<FakeCamera> camera(std::vector<FakeFormat> formats) {
  FakeCameraConfig c;
  c.formats = std::move(formats);
  return std::make_shared<FakeCamera>(c);
}

V4l2Options wanted(int w, int h, int fps) {
  V4l2Options o;
  o.width = w;
  o.height = h;
  o.fps = fps;
  o.frame_timeout = std::chrono::milliseconds(300);
  return o;
}

// A typical UVC webcam: YUYV and MJPEG at two sizes, H.264 at 720p.
std::vector<FakeFormat> webcam() {
  return {{V4L2_PIX_FMT_YUYV, {{640, 480}, {1280, 720}}, {30, 15}, {}},
          {V4L2_PIX_FMT_MJPEG, {{640, 480}, {1280, 720}}, {30, 15}, {}},
          {V4L2_PIX_FMT_H264, {{1280, 720}}, {30}, {}}};
}

TEST(V4l2Negotiation, PrefersH264PassthroughWhenAllowed) {
  auto cam = camera(webcam());
  auto src = make_v4l2_source(wanted(1280, 720, 25), cam);
  EXPECT_EQ(src->format(), PixelFormat::h264);
  EXPECT_EQ(cam->current().pixelformat, V4L2_PIX_FMT_H264);
  EXPECT_EQ(src->width(), 1280);
  EXPECT_EQ(src->height(), 720);
  EXPECT_EQ(src->fps(), 30);  // the slowest offered rate that reaches 25
}

TEST(V4l2Negotiation, RawFormatsInOrderNv12YuyvMjpeg) {
  auto o = wanted(1280, 720, 25);
  o.allow_h264 = false;
  {
    auto cam = camera(webcam());
    auto src = make_v4l2_source(o, cam);
    EXPECT_EQ(src->format(), PixelFormat::i420);
    EXPECT_EQ(cam->current().pixelformat, V4L2_PIX_FMT_YUYV);
  }
  {
    auto formats = webcam();
    formats.push_back({V4L2_PIX_FMT_NV12, {{1280, 720}}, {30}, {}});
    auto cam = camera(formats);
    auto src = make_v4l2_source(o, cam);
    EXPECT_EQ(cam->current().pixelformat, V4L2_PIX_FMT_NV12);
  }
  {
    auto cam = camera({{V4L2_PIX_FMT_MJPEG, {{1280, 720}}, {30}, {}}, {V4L2_PIX_FMT_H264, {{1280, 720}}, {30}, {}}});
    auto src = make_v4l2_source(o, cam);
    EXPECT_EQ(src->format(), PixelFormat::i420);
    EXPECT_EQ(cam->current().pixelformat, V4L2_PIX_FMT_MJPEG);
  }
}

TEST(V4l2Negotiation, SizeComesBeforeFormatPreference) {
  // H.264 only at 1080p, YUYV at the wanted 720p: the wanted size wins over passthrough.
  auto cam = camera({{V4L2_PIX_FMT_H264, {{1920, 1080}}, {30}, {}}, {V4L2_PIX_FMT_YUYV, {{1280, 720}}, {30}, {}}});
  auto src = make_v4l2_source(wanted(1280, 720, 25), cam);
  EXPECT_EQ(src->format(), PixelFormat::i420);
  EXPECT_EQ(src->width(), 1280);
}

TEST(V4l2Negotiation, FrameRateBreaksTiesBetweenFormats) {
  // The classic UVC case: uncompressed 720p only at 10 fps, MJPEG at 30.
  auto cam = camera({{V4L2_PIX_FMT_YUYV, {{1280, 720}}, {10, 5}, {}}, {V4L2_PIX_FMT_MJPEG, {{1280, 720}}, {30}, {}}});
  auto src = make_v4l2_source(wanted(1280, 720, 25), cam);
  EXPECT_EQ(cam->current().pixelformat, V4L2_PIX_FMT_MJPEG);
  EXPECT_EQ(src->fps(), 30);
}

TEST(V4l2Negotiation, NearestSizeAndRate) {
  auto cam = camera({{V4L2_PIX_FMT_YUYV, {{320, 240}, {800, 600}, {1920, 1080}}, {60, 15, 30}, {}}});
  auto src = make_v4l2_source(wanted(1024, 576, 25), cam);
  EXPECT_EQ(src->width(), 800);
  EXPECT_EQ(src->height(), 600);
  EXPECT_EQ(src->fps(), 30);
  EXPECT_EQ(cam->current_fps(), 30);

  auto fast = make_v4l2_source(wanted(1920, 1080, 100), camera({{V4L2_PIX_FMT_YUYV, {{1920, 1080}}, {60, 30}, {}}}));
  EXPECT_EQ(fast->fps(), 60);  // nothing reaches 100: the fastest there is
}

TEST(V4l2Negotiation, StepwiseSizesAndOddRequestsBecomeEven) {
  FakeFormat f{V4L2_PIX_FMT_YUYV, {}, {30}, v4l2_frmsize_stepwise{160, 1920, 16, 120, 1080, 1}};
  auto cam = camera({f});
  auto src = make_v4l2_source(wanted(1001, 701, 30), cam);
  EXPECT_EQ(src->width() % 2, 0);
  EXPECT_EQ(src->height() % 2, 0);
  EXPECT_EQ(src->width(), 1008);  // 1000 on the camera's 16-pixel grid
  EXPECT_EQ(src->height(), 700);
  Picture p;
  ASSERT_EQ(src->next(p), std::nullopt);
  EXPECT_EQ(p.width, 1008);
}

TEST(V4l2Negotiation, OddDiscreteSizesAreSkipped) {
  auto cam = camera({{V4L2_PIX_FMT_YUYV, {{641, 481}, {320, 240}}, {30}, {}}});
  auto src = make_v4l2_source(wanted(640, 480, 30), cam);
  EXPECT_EQ(src->width(), 320);
  EXPECT_EQ(src->height(), 240);
}

TEST(V4l2Capture, DeviceWithoutStreamingIsAClearError) {
  FakeCameraConfig c;
  c.formats = webcam();
  c.capabilities = V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_READWRITE;
  auto cam = std::make_shared<FakeCamera>(c);
  auto src = make_v4l2_source(wanted(640, 480, 30), cam);
  Picture p;
  const auto err = src->next(p);
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("/dev/video0"), std::string::npos) << *err;
  EXPECT_NE(err->find("does not support streaming"), std::string::npos) << *err;
  EXPECT_EQ(cam->open_descriptors(), 0u);  // not left open between attempts
}

TEST(V4l2Capture, NotACaptureDevice) {
  FakeCameraConfig c;
  c.formats = webcam();
  c.capabilities = V4L2_CAP_VIDEO_CAPTURE_MPLANE | V4L2_CAP_STREAMING;
  auto src = make_v4l2_source(wanted(640, 480, 30), std::make_shared<FakeCamera>(c));
  Picture p;
  const auto err = src->next(p);
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("multi-planar"), std::string::npos) << *err;
}

TEST(V4l2Capture, NoUsableFormatNamesTheDevice) {
  auto src = make_v4l2_source(wanted(640, 480, 30), camera({{V4L2_PIX_FMT_RGB24, {{640, 480}}, {30}, {}}}));
  Picture p;
  const auto err = src->next(p);
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("no usable format"), std::string::npos) << *err;
}

TEST(V4l2Capture, YuyvBecomesI420) {
  FakeCameraConfig c;
  c.formats = {{V4L2_PIX_FMT_YUYV, {{64, 48}}, {30}, {}}};
  c.stride_padding = 32;  // a driver with padded lines
  auto cam = std::make_shared<FakeCamera>(c);
  auto src = make_v4l2_source(wanted(64, 48, 30), cam);
  Picture p;
  for (std::uint32_t frame = 0; frame < 3; ++frame) {
    ASSERT_EQ(src->next(p), std::nullopt);
    EXPECT_EQ(p.index, frame);
    EXPECT_EQ(p.y()[0], frame);  // the fake stamps its sequence number there
  }
  ASSERT_EQ(p.format, PixelFormat::i420);
  ASSERT_EQ(p.data.size(), 64u * 48 * 3 / 2);
  EXPECT_EQ(p.y()[5 + 3 * 64], test::pattern_y(5, 3, 0));
  EXPECT_EQ(p.y()[63 + 47 * 64], test::pattern_y(63, 47, 0));
  // Chroma of lines 4 and 5 averaged: 40 + 7 and 60 + 7 -> 57; 200 - 7 and 180 - 7 -> 183.
  EXPECT_EQ(p.u()[7 + 2 * 32], 57);
  EXPECT_EQ(p.v()[7 + 2 * 32], 183);
  EXPECT_GT(p.capture_us, 0);
}

TEST(V4l2Capture, Nv12BecomesI420) {
  FakeCameraConfig c;
  c.formats = {{V4L2_PIX_FMT_NV12, {{64, 48}}, {30}, {}}};
  c.stride_padding = 16;
  auto src = make_v4l2_source(wanted(64, 48, 30), std::make_shared<FakeCamera>(c));
  Picture p;
  ASSERT_EQ(src->next(p), std::nullopt);
  EXPECT_EQ(p.y()[10 + 20 * 64], test::pattern_y(10, 20, 0));
  for (auto [cx, cy] : {std::pair{0, 0}, {9, 5}, {31, 23}}) {
    EXPECT_EQ(p.u()[cx + cy * 32], test::pattern_nv12_u(cx, cy));
    EXPECT_EQ(p.v()[cx + cy * 32], test::pattern_nv12_v(cx, cy));
  }
}

void expect_quadrants(const Picture& p, bool gray = false) {
  const int w = p.width, h = p.height, cw = w / 2;
  for (int q = 0; q < 4; ++q) {
    const int x = (q & 1) ? w * 3 / 4 : w / 4, y = (q & 2) ? h * 3 / 4 : h / 4;
    const test::Yuv want = test::pattern_quadrant(q);
    EXPECT_NEAR(p.y()[y * w + x], want.y, 3) << "quadrant " << q;
    EXPECT_NEAR(p.u()[y / 2 * cw + x / 2], gray ? 128 : want.u, 3) << "quadrant " << q;
    EXPECT_NEAR(p.v()[y / 2 * cw + x / 2], gray ? 128 : want.v, 3) << "quadrant " << q;
  }
}

class V4l2Mjpeg : public ::testing::TestWithParam<int> {};

TEST_P(V4l2Mjpeg, DecodesToI420) {
  FakeCameraConfig c;
  c.formats = {{V4L2_PIX_FMT_MJPEG, {{160, 120}}, {30}, {}}};
  c.jpeg_subsampling = GetParam();
  auto src = make_v4l2_source(wanted(160, 120, 30), std::make_shared<FakeCamera>(c));
  EXPECT_EQ(src->format(), PixelFormat::i420);
  Picture p;
  ASSERT_EQ(src->next(p), std::nullopt);
  ASSERT_EQ(p.format, PixelFormat::i420);
  ASSERT_EQ(p.width, 160);
  expect_quadrants(p, GetParam() == TJSAMP_GRAY);
}

std::string subsampling_name(const ::testing::TestParamInfo<int>& info) {
  static const char* const kNames[] = {"s444", "s422", "s420", "gray", "s440", "s411"};  // TJSAMP_* order
  return kNames[info.param];
}

INSTANTIATE_TEST_SUITE_P(Subsampling, V4l2Mjpeg,
                         ::testing::Values(TJSAMP_422, TJSAMP_420, TJSAMP_444, TJSAMP_440, TJSAMP_411, TJSAMP_GRAY),
                         subsampling_name);

TEST(V4l2Capture, H264IsPassedThroughWithKeyframes) {
  FakeCameraConfig c;
  c.formats = {{V4L2_PIX_FMT_H264, {{1280, 720}}, {30}, {}}};
  c.h264_gop = 5;
  auto src = make_v4l2_source(wanted(1280, 720, 30), std::make_shared<FakeCamera>(c));
  Picture p;
  for (int i = 0; i < 11; ++i) {
    ASSERT_EQ(src->next(p), std::nullopt);
    EXPECT_EQ(p.format, PixelFormat::h264);
    EXPECT_EQ(p.keyframe, i % 5 == 0) << "frame " << i;
    ASSERT_GE(p.data.size(), 5u);
    EXPECT_EQ(p.data[0], 0);
    EXPECT_EQ(p.data[3], 1);
    EXPECT_EQ(p.data[4], i % 5 == 0 ? 0x67 : 0x41);  // bytes as the camera sent them
  }
}

TEST(V4l2Capture, UnplugThenReplugRecovers) {
  auto cam = camera({{V4L2_PIX_FMT_YUYV, {{64, 48}}, {30}, {}}});
  auto src = make_v4l2_source(wanted(64, 48, 30), cam);
  Picture p;
  ASSERT_EQ(src->next(p), std::nullopt);
  cam->unplug();
  auto err = src->next(p);
  ASSERT_TRUE(err);
  EXPECT_EQ(*err, "camera /dev/video0 disappeared: No such device");
  EXPECT_EQ(cam->mapped(), 0u);
  EXPECT_EQ(cam->open_descriptors(), 0u);
  err = src->next(p);  // still gone: a reopen is tried and fails
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("cannot open camera /dev/video0"), std::string::npos) << *err;
  cam->replug();
  ASSERT_EQ(src->next(p), std::nullopt);
  ASSERT_EQ(src->next(p), std::nullopt);
  EXPECT_EQ(p.width, 64);
  EXPECT_EQ(cam->opens(), 2);
}

TEST(V4l2Capture, MissingAtStartWaitsForTheWantedFormat) {
  auto cam = camera({{V4L2_PIX_FMT_H264, {{640, 480}}, {30}, {}}, {V4L2_PIX_FMT_YUYV, {{640, 480}}, {30}, {}}});
  cam->unplug();
  auto src = make_v4l2_source(wanted(640, 480, 30), cam);
  // The pipeline is built before the camera shows up, from what the source reports: the wanted size, raw.
  EXPECT_EQ(src->width(), 640);
  EXPECT_EQ(src->format(), PixelFormat::i420);
  Picture p;
  ASSERT_TRUE(src->next(p));
  cam->replug();
  ASSERT_EQ(src->next(p), std::nullopt);
  EXPECT_EQ(p.format, PixelFormat::i420);  // not the camera's H.264, which the pipeline would not expect
  EXPECT_EQ(cam->current().pixelformat, V4L2_PIX_FMT_YUYV);
}

TEST(V4l2Capture, ReplugOfACameraThatCannotMatchKeepsFailing) {
  auto cam = camera({{V4L2_PIX_FMT_YUYV, {{640, 480}}, {30}, {}}});
  auto src = make_v4l2_source(wanted(640, 480, 30), cam);
  cam->unplug();
  FakeCameraConfig other;
  other.formats = {{V4L2_PIX_FMT_YUYV, {{320, 240}}, {30}, {}}};
  cam->reconfigure(other);  // another camera on the same port
  cam->replug();
  Picture p;
  EXPECT_EQ(src->next(p), "camera /dev/video0 disappeared: No such device");
  // The encoder behind this source was built for 640x480: a 320x240 picture would break it.
  for (int i = 0; i < 2; ++i) {
    const auto err = src->next(p);
    ASSERT_TRUE(err);
    EXPECT_NE(err->find("offers no usable format at 640x480 i420"), std::string::npos) << *err;
  }
  EXPECT_EQ(src->width(), 640);
}

TEST(V4l2Capture, StallTimesOutWithinTheDeadlineThenRecovers) {
  auto cam = camera({{V4L2_PIX_FMT_YUYV, {{64, 48}}, {30}, {}}});
  auto o = wanted(64, 48, 30);
  o.frame_timeout = std::chrono::milliseconds(150);
  auto src = make_v4l2_source(o, cam);
  Picture p;
  ASSERT_EQ(src->next(p), std::nullopt);
  cam->stall(true);
  const auto t0 = std::chrono::steady_clock::now();
  const auto err = src->next(p);
  const auto waited = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(err);
  EXPECT_EQ(*err, "no frame from /dev/video0 in 150 ms");
  EXPECT_GE(waited, std::chrono::milliseconds(150));
  EXPECT_LT(waited, std::chrono::milliseconds(1000));
  cam->stall(false);
  ASSERT_EQ(src->next(p), std::nullopt);
}

TEST(V4l2Capture, DamagedFramesAreSkippedNotFatal) {
  auto cam = camera({{V4L2_PIX_FMT_MJPEG, {{160, 120}}, {30}, {}}});
  auto src = make_v4l2_source(wanted(160, 120, 30), cam);
  const auto good = test::make_quadrant_jpeg(160, 120, TJSAMP_422);
  std::size_t sos = 0;  // start of scan: the compressed picture follows
  while (sos + 1 < good.size() && !(good[sos] == 0xff && good[sos + 1] == 0xda)) ++sos;
  ASSERT_LT(sos + 20, good.size());
  const auto cut = [&](std::size_t n) {
    return std::vector<std::uint8_t>(good.begin(), good.begin() + static_cast<long>(n));
  };
  cam->inject(cut(sos + (good.size() - sos) / 2));  // truncated in the middle of the picture
  cam->inject(cut(sos));                            // truncated before it
  cam->inject({0xff, 0xd8, 0x12, 0x34, 0x56});
  cam->inject(good, cam->current().sizeimage + 100);  // bytesused beyond the buffer
  cam->inject(good, {}, V4L2_BUF_FLAG_ERROR);
  cam->inject(test::make_quadrant_jpeg(320, 240, TJSAMP_422));  // not the negotiated size
  Picture p;
  for (const char* want : {"corrupt JPEG", "unreadable JPEG header", "JPEG has no picture", "in a buffer of", "damaged",
                           "JPEG is 320x240"}) {
    const auto err = src->next(p);
    ASSERT_TRUE(err) << want;
    EXPECT_NE(err->find(want), std::string::npos) << *err;
    EXPECT_EQ(err->rfind("camera /dev/video0: ", 0), 0u) << *err;
  }
  ASSERT_EQ(src->next(p), std::nullopt);
  expect_quadrants(p);
  EXPECT_EQ(p.index, 0u);  // the first picture delivered
}

TEST(V4l2Capture, ShortYuyvFrameIsAnError) {
  auto cam = camera({{V4L2_PIX_FMT_YUYV, {{64, 48}}, {30}, {}}});
  auto src = make_v4l2_source(wanted(64, 48, 30), cam);
  cam->inject(std::vector<std::uint8_t>(1000, 0x80));
  Picture p;
  const auto err = src->next(p);
  ASSERT_TRUE(err);
  EXPECT_EQ(*err, "camera /dev/video0: YUYV frame has 1000 bytes, 6144 expected");
  ASSERT_EQ(src->next(p), std::nullopt);
}

TEST(V4l2Capture, ClosesEverythingWhenDestroyed) {
  auto cam = camera(webcam());
  {
    auto src = make_v4l2_source(wanted(640, 480, 30), cam);
    Picture p;
    ASSERT_EQ(src->next(p), std::nullopt);
    EXPECT_EQ(cam->mapped(), 4u);
  }
  EXPECT_EQ(cam->mapped(), 0u);
  EXPECT_EQ(cam->open_descriptors(), 0u);
}

TEST(V4l2Capture, RealDeviceErrorsNameTheDevice) {
  auto o = wanted(640, 480, 30);
  o.device = "/nonexistent/video9";
  auto missing = make_v4l2_source(o);  // the kernel
  Picture p;
  EXPECT_EQ(missing->next(p), "cannot open camera /nonexistent/video9: No such file or directory");
  o.device = "/dev/null";
  auto not_v4l2 = make_v4l2_source(o);
  const auto err = not_v4l2->next(p);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->rfind("/dev/null is not a V4L2 device", 0), 0u) << *err;
}

TEST(V4l2Convert, H264NeedsAStartCode) {
  FrameConverter conv;
  Picture p;
  const std::vector<std::uint8_t> junk = {0x65, 0x88, 0x00};
  EXPECT_EQ(conv.convert({CaptureFormat::h264, 64, 48, 0}, junk, p), "H.264 buffer has no Annex-B start code");
  const std::vector<std::uint8_t> idr = {0, 0, 1, 0x65, 0x88};
  EXPECT_EQ(conv.convert({CaptureFormat::h264, 64, 48, 0}, idr, p), std::nullopt);
  EXPECT_TRUE(p.keyframe);
}

TEST(V4l2Convert, NegativeOrHugeStrideIsRefused) {
  // Regression (v4l2_frame_fuzz): a negative line length wrapped around in the size check of NV12.
  FrameConverter conv;
  Picture p;
  const std::vector<std::uint8_t> buf(64, 0x80);
  EXPECT_EQ(conv.convert({CaptureFormat::nv12, 2, 2, -1}, buf, p), "unusable line length -1");
  EXPECT_EQ(conv.convert({CaptureFormat::yuyv, 2, 2, 1 << 30}, buf, p), "unusable line length 1073741824");
  EXPECT_EQ(conv.convert({CaptureFormat::nv12, 2, 2, 2}, buf, p), std::nullopt);
}

}  // namespace
}  // namespace freehold::hal
