// SPDX-License-Identifier: GPL-3.0-or-later
// The motion and tamper detectors on synthetic sequences whose ground truth is known: a textured static scene
// with sensor noise, boxes that move where and when the test says, light changes, a covered lens.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "analytics/motion.hpp"
#include "analytics/tamper.hpp"
#include "core/zones.hpp"
#include "support/synthetic_scene.hpp"

namespace freehold::analytics {
namespace {

using test::Rect;
using test::Scene;

constexpr int kFps = 5;
constexpr std::int64_t kStepUs = 1000000 / kFps;

struct Log {
  std::vector<std::int64_t> starts, ends, start_times;  // picture times; start_times: MotionResult::start_us
  std::vector<std::vector<std::string>> start_zones;
  std::vector<std::string> tampers;
  std::vector<std::int64_t> tamper_times, tamper_ends;
};

// Runs `seconds` of pictures through both detectors; `picture(t_us)` renders the picture at that time.
Log run(MotionDetector& motion, TamperDetector& tamper, Scene& scene, double seconds,
        const std::function<const std::uint8_t*(std::int64_t)>& picture,
        const std::function<void(std::int64_t, const MotionResult&)>& each = nullptr) {
  Log log;
  for (std::int64_t t = 0; t <= static_cast<std::int64_t>(seconds * 1e6); t += kStepUs) {
    const auto& m = motion.process(picture(t), scene.w(), scene.h(), scene.w(), t);
    const auto& tr = tamper.process(motion.work(), t);
    if (m.started) {
      log.starts.push_back(t);
      log.start_times.push_back(m.start_us);
      log.start_zones.push_back(m.zones);
    }
    if (m.ended) log.ends.push_back(t);
    if (tr.started) {
      log.tampers.push_back(tr.reason);
      log.tamper_times.push_back(t);
    }
    if (tr.ended) log.tamper_ends.push_back(t);
    if (each) each(t, m);
  }
  return log;
}

double iou(const Box& a, const Box& b) {
  const float x0 = std::max(a.x, b.x), y0 = std::max(a.y, b.y);
  const float x1 = std::min(a.x + a.w, b.x + b.w), y1 = std::min(a.y + a.h, b.y + b.h);
  const float inter = std::max(0.f, x1 - x0) * std::max(0.f, y1 - y0);
  return inter / (a.w * a.h + b.w * b.h - inter);
}

// The box of the test's moving object: enters from the left at t0, leaves on the right at t1.
std::optional<Rect> crossing(const Scene& s, std::int64_t t, double t0, double t1, int y, int bw = 48, int bh = 96) {
  const double sec = static_cast<double>(t) / 1e6;
  if (sec < t0 || sec > t1) return std::nullopt;
  const int x = static_cast<int>(-bw + (s.w() + bw) * (sec - t0) / (t1 - t0));
  return Rect{x, y, bw, bh};
}

TEST(MotionDetector, AStaticNoisySceneWithSlowLightChangeGivesNoMotion) {
  Scene scene(640, 360);
  MotionDetector motion;
  TamperDetector tamper;
  // Two minutes: noise of ±6 grey levels in every picture, and the light rising by 50 levels.
  const auto log = run(motion, tamper, scene, 120,
                       [&](std::int64_t t) { return scene.render(static_cast<int>(50 * t / 120000000), 6, {}); });
  EXPECT_TRUE(log.starts.empty()) << "first false start at " << (log.starts.empty() ? 0 : log.starts[0]) << " us";
  EXPECT_TRUE(log.tampers.empty());
}

TEST(MotionDetector, ABoxEnteringAndLeavingStartsThenEndsMotionWithItsBox) {
  Scene scene(640, 360);
  MotionSettings settings;  // min_duration 300 ms, cooldown 2 s
  MotionDetector motion(settings);
  TamperDetector tamper;
  int overlapping = 0, inside = 0;
  const auto log = run(
      motion, tamper, scene, 14,
      [&](std::int64_t t) {
        auto box = crossing(scene, t, 2, 8, 120);
        return scene.render(0, 4, box ? std::vector<Rect>{*box} : std::vector<Rect>{});
      },
      [&](std::int64_t t, const MotionResult& m) {
        auto box = crossing(scene, t, 2, 8, 120);
        if (!box || box->x < 0 || box->x + box->w > scene.w() || !m.active) return;
        ++inside;
        const Box truth{box->x / 640.f, box->y / 360.f, box->w / 640.f, box->h / 360.f};
        if (!m.boxes.empty() && iou(m.boxes[0], truth) >= 0.5) ++overlapping;
      });
  ASSERT_EQ(log.starts.size(), 1u);
  ASSERT_EQ(log.ends.size(), 1u);
  // It enters at 2 s: started once the 300 ms have passed, dated from the first picture with it.
  EXPECT_GE(log.starts[0], 2300000);
  EXPECT_LE(log.starts[0], 3000000);
  EXPECT_GE(log.start_times[0], 2000000);
  EXPECT_LE(log.start_times[0], 2600000);
  // It is gone at 8 s: ended after the 2 s cool-down.
  EXPECT_GE(log.ends[0], 9800000);
  EXPECT_LE(log.ends[0], 11000000);
  EXPECT_GT(inside, 15);
  EXPECT_GE(overlapping, inside * 8 / 10) << overlapping << " of " << inside << " pictures";
  EXPECT_TRUE(log.tampers.empty());
}

TEST(MotionDetector, AThingThatStopsBecomesBackgroundAndMotionEnds) {
  Scene scene(640, 360);
  MotionDetector motion;  // adapt 1 s, cooldown 2 s
  TamperDetector tamper;
  // Drives in from the left for 3 s and parks at x = 300 for good.
  auto where = [](std::int64_t t) { return std::min(300, -64 + static_cast<int>(t * 364 / 3000000)); };
  const auto log = run(motion, tamper, scene, 20, [&](std::int64_t t) {
    return scene.render(0, 4, {{where(t), 150, 64, 100}});
  });
  ASSERT_EQ(log.starts.size(), 1u);
  ASSERT_EQ(log.ends.size(), 1u);
  EXPECT_GE(log.ends[0], 5000000);  // parked at 3 s: still for 1 s, then the 2 s cool-down
  EXPECT_LE(log.ends[0], 6500000);
}

TEST(MotionDetector, MotionOnlyInsideAnExcludedZoneGivesNoEvent) {
  Scene scene(640, 360);
  // A box that moves back and forth in the right half only.
  auto picture = [&](std::int64_t t) {
    const int x = 360 + static_cast<int>((t / kStepUs) % 10) * 20;
    return scene.render(0, 4, {{x, 100, 40, 80}});
  };
  {
    MotionDetector motion;
    TamperDetector tamper;
    EXPECT_EQ(run(motion, tamper, scene, 10, picture).starts.size(), 1u) << "the box must be found without a zone";
  }
  std::string error;
  auto zones = parse_zones("exclude street: 0.5,0.1 1,0.1 1,0.9 0.5,0.9", &error);
  ASSERT_TRUE(zones) << error;
  MotionSettings settings;
  settings.zones = *zones;
  MotionDetector motion(settings);
  TamperDetector tamper;
  const auto log = run(motion, tamper, scene, 10, picture);
  EXPECT_TRUE(log.starts.empty());
}

TEST(MotionDetector, AnIncludeZoneLimitsMotionToItAndNamesIt) {
  Scene scene(640, 360);
  std::string error;
  auto zones = parse_zones("include door: 0,0 0.45,0 0.45,1 0,1; include yard: 0.55,0 1,0 1,0.3 0.55,0.3", &error);
  ASSERT_TRUE(zones) << error;
  MotionSettings settings;
  settings.zones = *zones;
  auto back_and_forth = [&](int x0, int y) {
    return [&scene, x0, y](std::int64_t t) {
      return scene.render(0, 4, {{x0 + static_cast<int>((t / kStepUs) % 8) * 15, y, 40, 80}});
    };
  };
  {
    MotionDetector motion(settings);
    TamperDetector tamper;
    const auto log = run(motion, tamper, scene, 6, back_and_forth(40, 150));  // inside "door"
    ASSERT_EQ(log.starts.size(), 1u);
    EXPECT_EQ(log.start_zones[0], std::vector<std::string>{"door"});
  }
  {
    MotionDetector motion(settings);
    TamperDetector tamper;
    const auto log = run(motion, tamper, scene, 6, back_and_forth(380, 200));  // in the middle and lower right
    EXPECT_TRUE(log.starts.empty());
  }
}

TEST(MotionDetector, SensitivityDecidesWhetherAFaintChangeIsMotion) {
  auto faint = [](int sensitivity) {
    Scene scene(640, 360);
    MotionSettings settings;
    settings.sensitivity = sensitivity;
    MotionDetector motion(settings);
    TamperDetector tamper;
    // A shadow-like change: 20 levels brighter than what it covers.
    return run(motion, tamper, scene, 8,
               [&](std::int64_t t) {
                 auto box = crossing(scene, t, 1, 7, 100, 64, 128);
                 return scene.render(0, 2, box ? std::vector<Rect>{*box} : std::vector<Rect>{}, 20, true);
               })
        .starts.size();
  };
  EXPECT_EQ(faint(95), 1u);
  EXPECT_EQ(faint(5), 0u);
}

TEST(MotionDetector, ARegionSmallerThanTheMinimumAreaIsNotMotion) {
  Scene scene(640, 360);
  MotionSettings settings;
  settings.min_area = 0.02;  // 2 % of the picture; the box is 0.7 %
  MotionDetector motion(settings);
  TamperDetector tamper;
  const auto log = run(motion, tamper, scene, 8, [&](std::int64_t t) {
    auto box = crossing(scene, t, 1, 7, 100, 32, 48);
    return scene.render(0, 4, box ? std::vector<Rect>{*box} : std::vector<Rect>{});
  });
  EXPECT_TRUE(log.starts.empty());
}

TEST(MotionDetector, TheLightSwitchedOnIsNeitherMotionNorTampering) {
  Scene scene(640, 360);
  MotionDetector motion;
  TamperDetector tamper;
  // Brighter by 70 % from 5 s on, and 40 % darker from 10 s on.
  const auto log = run(motion, tamper, scene, 16, [&](std::int64_t t) {
    return scene.render(0, 4, {}, 0, false, t >= 10000000 ? 60 : t >= 5000000 ? 170 : 100);
  });
  EXPECT_TRUE(log.starts.empty());
  EXPECT_TRUE(log.tampers.empty());
}

TEST(TamperDetector, ACoveredLensIsReportedAndItsEndToo) {
  Scene scene(640, 360);
  MotionDetector motion;
  TamperDetector tamper;
  // Normal for 10 s, covered (dark and flat) from 10 s to 20 s, normal again.
  const auto log = run(motion, tamper, scene, 26, [&](std::int64_t t) {
    return t >= 10000000 && t < 20000000 ? scene.flat(18, 2) : scene.render(0, 4, {});
  });
  ASSERT_EQ(log.tampers.size(), 1u);
  EXPECT_EQ(log.tampers[0], "covered");
  EXPECT_GE(log.tamper_times[0], 12000000);  // after the 2 s hold
  EXPECT_LE(log.tamper_times[0], 13000000);
  ASSERT_EQ(log.tamper_ends.size(), 1u);
  EXPECT_GE(log.tamper_ends[0], 22000000);
  EXPECT_LE(log.tamper_ends[0], 23000000);
  EXPECT_TRUE(log.starts.empty()) << "covering the lens is not motion";
}

TEST(TamperDetector, ACameraTurnedAwayIsReportedOnce) {
  Scene scene(640, 360, 1), other(640, 360, 99);
  MotionDetector motion;
  TamperDetector tamper;
  const auto log = run(motion, tamper, scene, 16,
                       [&](std::int64_t t) { return t >= 6000000 ? other.render(0, 4, {}) : scene.render(0, 4, {}); });
  ASSERT_EQ(log.tampers.size(), 1u);
  EXPECT_EQ(log.tampers[0], "scene_changed");
  EXPECT_GE(log.tamper_times[0], 8000000);
  EXPECT_LE(log.tamper_times[0], 9000000);
}

TEST(MotionDetector, PicturesTooSmallOrWithABadStrideAreIgnored) {
  MotionDetector motion;
  std::vector<std::uint8_t> tiny(8 * 8, 100);
  EXPECT_FALSE(motion.process(tiny.data(), 8, 8, 8, 0).active);
  EXPECT_FALSE(motion.process(tiny.data(), 8, 8, 4, 1000).active);
  // A size change starts over without reading past the new picture.
  Scene a(320, 180), b(160, 120);
  motion.process(a.render(0, 2, {}), 320, 180, 320, 0);
  EXPECT_FALSE(motion.process(b.render(0, 2, {}), 160, 120, 160, 200000).active);
  EXPECT_EQ(motion.work().width, 160);
}

TEST(Zones, TheTextFormReadsBackToTheSameZones) {
  std::string error;
  auto zones =
      parse_zones(" include door: 0.1,0.2 0.45,0.2 0.45,0.95 0.1,0.95 ;exclude clock:0,0 0.4,0 0.4,0.1 ", &error);
  ASSERT_TRUE(zones) << error;
  ASSERT_EQ(zones->size(), 2u);
  EXPECT_EQ((*zones)[0].name, "door");
  EXPECT_FALSE((*zones)[0].exclude);
  EXPECT_TRUE((*zones)[1].exclude);
  EXPECT_EQ((*zones)[1].polygon.size(), 3u);
  auto again = parse_zones(format_zones(*zones), &error);
  ASSERT_TRUE(again) << error;
  EXPECT_EQ(*again, *zones);
  EXPECT_TRUE(zone_contains((*zones)[0], 0.3, 0.5));
  EXPECT_FALSE(zone_contains((*zones)[0], 0.6, 0.5));
  EXPECT_TRUE(parse_zones("", &error)->empty());
}

TEST(Zones, BadZonesAreRefusedWithTheReason) {
  auto refused = [](std::string_view text) {
    std::string error;
    EXPECT_FALSE(parse_zones(text, &error)) << text;
    return error;
  };
  EXPECT_NE(refused("include bow: 0,0 1,1 1,0 0,1").find("crosses itself"), std::string::npos);
  EXPECT_NE(refused("include big: 0,0 1.5,0 1,1").find("outside the picture"), std::string::npos);
  EXPECT_NE(refused("include neg: -0.1,0 1,0 1,1").find("outside the picture"), std::string::npos);
  EXPECT_NE(refused("include two: 0,0 1,1").find("at least 3"), std::string::npos);
  EXPECT_NE(refused("include line: 0,0 0.5,0.5 1,1").find("no area"), std::string::npos);
  EXPECT_NE(refused("include a: 0,0 1,0 1,1; exclude a: 0,0 1,0 0,1").find("used twice"), std::string::npos);
  EXPECT_NE(refused("around a: 0,0 1,0 1,1").find("neither include nor exclude"), std::string::npos);
  EXPECT_NE(refused("include Door: 0,0 1,0 1,1").find("a-z"), std::string::npos);
  EXPECT_NE(refused("include a: 0,0 1,x 1,1").find("not a corner"), std::string::npos);
  EXPECT_NE(refused("include a 0,0 1,0 1,1").find("is not of the form"), std::string::npos);
  EXPECT_NE(refused("include a: nan,0 1,0 1,1").find("not a corner"), std::string::npos);
  std::string many;
  for (int i = 0; i < 17; ++i) many += "include z" + std::to_string(i) + ": 0,0 1,0 1,1;";
  EXPECT_NE(refused(many).find("more than 16 zones"), std::string::npos);
}

}  // namespace
}  // namespace freehold::analytics
