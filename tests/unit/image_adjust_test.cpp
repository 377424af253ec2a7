// SPDX-License-Identifier: GPL-3.0-or-later
// Image adjustments: the tables' arithmetic, the pictures the capture hands out after a settings change, and the
// V4L2 mapping onto a camera's own controls (an emulated camera).
#include <gtest/gtest.h>

#include <chrono>
#include <numeric>

#include "fake_v4l2.hpp"
#include "hal/source.hpp"
#include "hal/v4l2_controls.hpp"
#include "media/capture.hpp"
#include "media/image_adjust.hpp"

namespace freehold::media {
namespace {

hal::Picture flat(int w, int h, std::uint8_t y, std::uint8_t u, std::uint8_t v) {
  hal::Picture p;
  p.allocate(w, h);
  std::fill(p.y(), p.y() + w * h, y);
  std::fill(p.u(), p.u() + (w / 2) * (h / 2), u);
  std::fill(p.v(), p.v() + (w / 2) * (h / 2), v);
  return p;
}

TEST(ImageLuts, NeutralIsTheIdentity) {
  const auto l = make_luts({});
  for (int i = 0; i < 256; ++i) {
    EXPECT_EQ(l.y[i], i);
    EXPECT_EQ(l.uv[i], i);
  }
  EXPECT_TRUE(is_neutral({}));
  EXPECT_TRUE(is_neutral({50, 50, 50, 0}));  // sharpness has no software effect
  EXPECT_FALSE(is_neutral({51, 50, 50, 50}));
}

TEST(ImageLuts, BrightnessShiftsContrastScalesSaturationScalesChroma) {
  const auto bright = make_luts({100, 50, 50, 50});
  EXPECT_EQ(bright.y[100], 200);
  EXPECT_EQ(bright.y[200], 255);  // clamped, never wraps
  const auto dark = make_luts({0, 50, 50, 50});
  EXPECT_EQ(dark.y[100], 0);
  EXPECT_EQ(dark.y[228], 128);
  const auto flat_contrast = make_luts({50, 0, 50, 50});
  EXPECT_EQ(flat_contrast.y[0], 128);
  EXPECT_EQ(flat_contrast.y[255], 128);
  const auto strong = make_luts({50, 100, 50, 50});
  EXPECT_EQ(strong.y[128], 128);
  EXPECT_EQ(strong.y[148], 168);
  EXPECT_EQ(strong.y[108], 88);
  const auto grey = make_luts({50, 50, 0, 50});
  EXPECT_EQ(grey.uv[16], 128);
  EXPECT_EQ(grey.uv[240], 128);
  const auto vivid = make_luts({50, 50, 100, 50});
  EXPECT_EQ(vivid.uv[138], 148);
  EXPECT_EQ(vivid.y[77], 77);  // saturation leaves luma alone
  // Monotonic: an adjustment never inverts the order of two grey levels.
  for (const auto& l : {bright, dark, strong, make_luts({30, 80, 20, 50})}) {
    for (int i = 1; i < 256; ++i) EXPECT_GE(l.y[i], l.y[i - 1]);
  }
}

TEST(ImageAdjuster, TouchesNothingAtNeutralAndFollowsLiveChanges) {
  ImageAdjuster a;
  auto p = flat(64, 32, 100, 90, 160);
  a.apply(p);
  EXPECT_EQ(p.y()[0], 100);
  a.set({100, 50, 0, 50});
  a.apply(p);
  EXPECT_EQ(p.y()[5], 200);
  EXPECT_EQ(p.u()[0], 128);
  EXPECT_EQ(p.v()[7], 128);
  EXPECT_EQ(p.y()[64 * 32 - 1], 200);  // the last byte too (the unrolled loop's tail)
  a.set({});
  auto q = flat(6, 2, 100, 90, 160);  // sizes that are not multiples of 8
  a.apply(q);
  EXPECT_EQ(q.y()[11], 100);
  a.set({0, 50, 50, 50});
  a.apply(q);
  EXPECT_EQ(q.y()[11], 0);
  EXPECT_EQ(q.u()[0], 90);
}

// The software path end to end: what a feed hands the encoder after a settings change.
TEST(CaptureImageControls, BrightnessReachesEveryFeedLive) {
  Capture capture(hal::make_synthetic_source({320, 240, 100, false, false}));
  auto feed = capture.subscribe({160, 120, 0, false});
  capture.start();
  const auto mean_luma = [&] {
    PicturePtr p;
    for (int i = 0; i < 5; ++i) p = feed->wait(std::chrono::seconds(2));  // past the pictures already queued
    EXPECT_TRUE(p);
    if (!p) return 0.0;
    const auto n = static_cast<std::size_t>(p->width) * p->height;
    return std::accumulate(p->y(), p->y() + n, 0.0) / static_cast<double>(n);
  };
  const double before = mean_luma();
  capture.set_image_controls({100, 50, 50, 50});
  const double brighter = mean_luma();
  capture.set_image_controls({50, 0, 50, 50});
  const double flat_grey = mean_luma();
  capture.stop();
  EXPECT_GT(brighter, before + 40);
  EXPECT_NEAR(flat_grey, 128, 2);
}

TEST(CaptureImageControls, AdjustingA720pPictureTakesLittleOfAFrame) {
  ImageAdjuster a;
  a.set({70, 60, 40, 50});
  auto p = flat(1280, 720, 100, 90, 160);
  const auto t0 = std::chrono::steady_clock::now();
  constexpr int kRounds = 50;
  for (int i = 0; i < kRounds; ++i) a.apply(p);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / kRounds;
  std::printf("[ measure  ] brightness/contrast/saturation on 1280x720: %.3f ms per picture\n", ms);
  EXPECT_LT(ms, 10.0);  // a 25 fps frame is 40 ms; generous for sanitizer builds
}

v4l2_queryctrl control(std::uint32_t id, std::int32_t min, std::int32_t max, std::int32_t step, std::int32_t def) {
  v4l2_queryctrl q{};
  q.id = id;
  q.type = V4L2_CTRL_TYPE_INTEGER;
  q.minimum = min;
  q.maximum = max;
  q.step = step;
  q.default_value = def;
  return q;
}

TEST(V4l2Controls, PercentMapsToTheControlsRangeWithFiftyAtItsDefault) {
  const auto q = control(V4L2_CID_BRIGHTNESS, -64, 64, 1, 0);
  EXPECT_EQ(hal::control_value(q, 0), -64);
  EXPECT_EQ(hal::control_value(q, 50), 0);
  EXPECT_EQ(hal::control_value(q, 100), 64);
  EXPECT_EQ(hal::control_value(q, 75), 32);
  const auto odd = control(V4L2_CID_CONTRAST, 0, 255, 5, 32);  // default off the middle, a coarse step
  EXPECT_EQ(hal::control_value(odd, 50), 30);                  // on the step grid nearest the default
  EXPECT_EQ(hal::control_value(odd, 100), 255);
  EXPECT_EQ(hal::control_value(odd, 25), 15);
  EXPECT_EQ(hal::control_value(odd, 500), 255);  // out-of-range percent is clamped
}

TEST(V4l2Controls, ACameraWithControlsGetsThemAndNoSoftwareAdjustment) {
  test::FakeCameraConfig cfg;
  cfg.formats = {{V4L2_PIX_FMT_YUYV, {{320, 240}}, {30}, {}}};
  cfg.controls = {control(V4L2_CID_BRIGHTNESS, 0, 255, 1, 128), control(V4L2_CID_SATURATION, 0, 100, 1, 60)};
  auto cam = std::make_shared<test::FakeCamera>(cfg);
  hal::V4l2Options o;
  o.width = 320;
  o.height = 240;
  o.frame_timeout = std::chrono::milliseconds(300);
  auto src = hal::make_v4l2_source(o, cam);
  EXPECT_TRUE(src->set_image_controls({100, 50, 0, 50}));  // handled by the camera
  hal::Picture p;
  ASSERT_FALSE(src->next(p));  // applied by the capture thread before its next frame
  EXPECT_EQ(cam->control(V4L2_CID_BRIGHTNESS), 255);
  EXPECT_EQ(cam->control(V4L2_CID_SATURATION), 0);
  EXPECT_FALSE(cam->control(V4L2_CID_SHARPNESS));  // absent on this camera: skipped, capture goes on
  const int writes = cam->control_writes();
  ASSERT_FALSE(src->next(p));
  EXPECT_EQ(cam->control_writes(), writes);  // written once per change, not per frame
  // After an unplug the camera comes back with its defaults; the source sets the controls again.
  cam->unplug();
  EXPECT_TRUE(src->next(p));
  cam->replug();
  test::FakeCameraConfig fresh = cfg;
  cam->reconfigure(fresh);
  for (int i = 0; i < 3 && src->next(p); ++i) {
  }
  EXPECT_EQ(cam->control(V4L2_CID_BRIGHTNESS), 255);
}

}  // namespace
}  // namespace freehold::media
