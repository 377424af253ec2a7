// SPDX-License-Identifier: GPL-3.0-or-later
// Digital PTZ: the crop window for a position, moves over (fake) time, continuous moves that end by themselves,
// the picture the feeds get when zoomed in, and the presets list as the ptz.presets setting stores it.
#include <gtest/gtest.h>

#include <chrono>

#include "core/ptz_presets.hpp"
#include "core/settings.hpp"
#include "media/capture.hpp"
#include "media/ptz.hpp"

namespace freehold::media {
namespace {

using namespace std::chrono_literals;

TEST(CropWindow, ZoomZeroIsTheWholePictureAndZoomOneAQuarterOfTheWidth) {
  EXPECT_EQ(crop_window({0, 0, 0}, 1280, 720), (CropWindow{0, 0, 1280, 720}));
  EXPECT_EQ(crop_window({1, -1, 0}, 1280, 720), (CropWindow{0, 0, 1280, 720}));  // no room to pan at zoom 0
  EXPECT_EQ(crop_window({0, 0, 1}, 1280, 720), (CropWindow{480, 270, 320, 180}));
  EXPECT_EQ(crop_window({1, 1, 1}, 1280, 720), (CropWindow{960, 0, 320, 180}));          // right, top
  EXPECT_EQ(crop_window({-1, -1, 1}, 1280, 720), (CropWindow{0, 540, 320, 180}));        // left, bottom
  EXPECT_EQ(crop_window({0, 0, 1.0 / 3}, 1280, 720), (CropWindow{320, 180, 640, 360}));  // 2x
}

TEST(CropWindow, AlwaysEvenAndInsideWhateverThePosition) {
  for (double z : {0.0, 0.1, 0.37, 0.5, 0.99, 1.0, 7.0, -3.0}) {
    for (double pt : {-5.0, -1.0, -0.33, 0.0, 0.71, 1.0, 9.0}) {
      for (auto [w, h] : {std::pair{1280, 720}, {642, 362}, {320, 240}, {2, 2}}) {
        const auto c = crop_window({pt, -pt, z}, w, h);
        EXPECT_EQ(c.x % 2 + c.y % 2 + c.width % 2 + c.height % 2, 0);
        EXPECT_GE(c.x, 0);
        EXPECT_GE(c.y, 0);
        EXPECT_GE(c.width, 2);
        EXPECT_LE(c.x + c.width, w);
        EXPECT_LE(c.y + c.height, h);
      }
    }
  }
}

struct FakeClock {
  DigitalPtz::Clock::time_point t{std::chrono::hours(1)};
  std::function<DigitalPtz::Clock::time_point()> fn() {
    return [this] { return t; };
  }
};

TEST(DigitalPtz, AbsoluteMoveTakesTimeAtItsSpeedThenIsIdle) {
  FakeClock clock;
  DigitalPtz ptz(clock.fn());
  EXPECT_EQ(ptz.status().pan_tilt, MoveStatus::idle);
  ptz.move_to({0.5, std::nullopt, 1.0}, {1, 1});  // pan 0.5 at 1 unit/s, zoom 1 at 0.5 unit/s
  auto s = ptz.status();
  EXPECT_EQ(s.pan_tilt, MoveStatus::moving);
  EXPECT_EQ(s.zoom, MoveStatus::moving);
  clock.t += 250ms;
  s = ptz.status();
  EXPECT_NEAR(s.position.pan, 0.25, 1e-6);
  EXPECT_NEAR(s.position.zoom, 0.125, 1e-6);
  clock.t += 300ms;
  s = ptz.status();
  EXPECT_DOUBLE_EQ(s.position.pan, 0.5);
  EXPECT_EQ(s.pan_tilt, MoveStatus::idle);
  EXPECT_EQ(s.zoom, MoveStatus::moving);
  clock.t += 2s;
  s = ptz.status();
  EXPECT_DOUBLE_EQ(s.position.zoom, 1.0);
  EXPECT_EQ(s.zoom, MoveStatus::idle);
  EXPECT_EQ(ptz.window(1280, 720), crop_window({0.5, 0, 1}, 1280, 720));
}

TEST(DigitalPtz, ContinuousMoveStopsAtItsTimeoutOrTheEdgeOrOnStop) {
  FakeClock clock;
  DigitalPtz ptz(clock.fn());
  ptz.move_continuous({0.5, 0, 0}, 1s);  // 0.5 unit/s for one second
  clock.t += 500ms;
  EXPECT_NEAR(ptz.status().position.pan, 0.25, 1e-6);
  EXPECT_EQ(ptz.status().pan_tilt, MoveStatus::moving);
  clock.t += 5s;
  EXPECT_NEAR(ptz.status().position.pan, 0.5, 1e-6);
  EXPECT_EQ(ptz.status().pan_tilt, MoveStatus::idle);

  ptz.move_continuous({0, -1, 1}, 10min);  // no timeout that matters: the edges end it
  clock.t += 10s;
  auto s = ptz.status();
  EXPECT_DOUBLE_EQ(s.position.tilt, -1);
  EXPECT_DOUBLE_EQ(s.position.zoom, 1);
  EXPECT_EQ(s.pan_tilt, MoveStatus::idle);
  EXPECT_EQ(s.zoom, MoveStatus::idle);

  ptz.move_continuous({0, 0, -0.2}, 10min);  // slow enough to run into the 60 s bound... were it not stopped
  clock.t += 1s;
  ptz.stop(false, true);
  const double stopped = ptz.status().position.zoom;
  EXPECT_NEAR(stopped, 0.9, 1e-6);
  clock.t += 5s;
  EXPECT_DOUBLE_EQ(ptz.status().position.zoom, stopped);
  EXPECT_EQ(ptz.status().zoom, MoveStatus::idle);
}

TEST(DigitalPtz, ContinuousMoveWithoutAnEndIsBoundedBySixtySeconds) {
  FakeClock clock;
  DigitalPtz ptz(clock.fn());
  ptz.move_continuous({0, 0, 0.01}, 24h);  // would take 200 s to the edge
  clock.t += 59s;
  EXPECT_EQ(ptz.status().zoom, MoveStatus::moving);
  clock.t += 2s;
  EXPECT_EQ(ptz.status().zoom, MoveStatus::idle);
  EXPECT_NEAR(ptz.status().position.zoom, 0.3, 1e-6);
}

TEST(DigitalPtz, RelativeMovesAddUpAndFovTranslationCentresThePoint) {
  FakeClock clock;
  DigitalPtz ptz(clock.fn());
  ptz.move_by({0.2, 0.1, std::nullopt}, {});
  clock.t += 5s;
  ptz.move_by({0.2, std::nullopt, std::nullopt}, {});
  clock.t += 5s;
  EXPECT_NEAR(ptz.status().position.pan, 0.4, 1e-6);
  EXPECT_NEAR(ptz.status().position.tilt, 0.1, 1e-6);
  ptz.move_by({5.0, std::nullopt, std::nullopt}, {});  // clamped to the range
  clock.t += 5s;
  EXPECT_DOUBLE_EQ(ptz.status().position.pan, 1.0);

  // At zoom 1 the view is a quarter of the width: its right edge (x = 1) becomes the centre after the move.
  ptz.move_to({0.0, 0.0, 1.0}, {});
  clock.t += 5s;
  const auto before = ptz.window(1280, 720);
  ptz.move_by_fov(1, 0.5, {});
  clock.t += 5s;
  const auto after = ptz.window(1280, 720);
  EXPECT_EQ(after.x - before.x, before.width / 2);
  EXPECT_NEAR(before.y - after.y, before.height / 4, 2);  // y = +0.5: a quarter of the view up (even rows)
  ptz.move_to({0.0, 0.0, 0.0}, {});
  clock.t += 5s;
  ptz.move_by_fov(1, 1, {});  // nothing to move at zoom 0
  clock.t += 5s;
  EXPECT_DOUBLE_EQ(ptz.status().position.pan, 0);
}

// A source whose left half is black and right half white.
class HalvesSource final : public hal::Source {
 public:
  std::optional<std::string> next(hal::Picture& out) override {
    std::this_thread::sleep_for(5ms);
    out.allocate(320, 240);
    for (int y = 0; y < 240; ++y) {
      for (int x = 0; x < 320; ++x) out.y()[y * 320 + x] = x < 160 ? 16 : 235;
    }
    std::fill(out.u(), out.u() + 2 * 160 * 120, 128);
    out.index = index_++;
    return std::nullopt;
  }
  int width() const override { return 320; }
  int height() const override { return 240; }
  int fps() const override { return 100; }

 private:
  std::uint64_t index_ = 0;
};

TEST(DigitalPtz, TheFeedsShowTheWindowScaledToTheirSize) {
  Capture capture(std::make_unique<HalvesSource>());
  auto ptz = std::make_shared<DigitalPtz>();
  capture.set_ptz(ptz);
  auto main = capture.subscribe({});  // the source's size
  auto sub = capture.subscribe({160, 120, 0, false});
  capture.start();
  const auto luma_at = [](const PicturePtr& p, int x, int y) { return p ? p->y()[y * p->width + x] : -1; };
  const auto newest = [](Feed& f) {
    PicturePtr p;
    for (int i = 0; i < 5; ++i) p = f.wait(2s);
    return p;
  };
  auto m = newest(*main);
  ASSERT_TRUE(m);
  EXPECT_EQ(luma_at(m, 10, 120), 16);
  EXPECT_EQ(luma_at(m, 310, 120), 235);
  ptz->move_to({1.0, 0.0, 1.0}, {1, 1});  // far right, zoomed: all white
  std::this_thread::sleep_for(2100ms);
  m = newest(*main);
  auto s = newest(*sub);
  ASSERT_TRUE(m && s);
  EXPECT_EQ(m->width, 320);
  EXPECT_EQ(s->width, 160);
  EXPECT_EQ(luma_at(m, 0, 0), 235);
  EXPECT_EQ(luma_at(s, 0, 119), 235);
  const auto snap = capture.latest();
  EXPECT_EQ(snap->width, 320);
  EXPECT_EQ(luma_at(snap, 5, 5), 235);  // snapshots show the window too
  ptz->move_to({-1.0, 0.0, 1.0}, {1, 1});
  std::this_thread::sleep_for(2100ms);
  s = newest(*sub);
  EXPECT_EQ(luma_at(s, 159, 60), 16);
  capture.stop();
}

TEST(PtzPresets, RoundTripWithAwkwardNames) {
  std::vector<PtzPreset> in = {
      {"Preset_1", "Door", {0.25, -0.5, 1}}, {"Preset_2", "a,b;c%d", {-1, 1, 0}}, {"x", "", {0.12345, 0, 0.5}}};
  const std::string text = format_presets(in);
  EXPECT_EQ(text.find(";c"), std::string::npos);  // escaped
  std::string error;
  auto out = parse_presets(text, &error);
  ASSERT_TRUE(out) << error;
  ASSERT_EQ(out->size(), 3U);
  EXPECT_EQ((*out)[1].name, "a,b;c%d");
  EXPECT_EQ((*out)[0].position, (PtzPosition{0.25, -0.5, 1}));
  EXPECT_NEAR((*out)[2].position.pan, 0.1235, 1e-9);  // four decimals are kept
  EXPECT_EQ(new_preset_token(*out), "Preset_3");
  EXPECT_TRUE(parse_presets("", &error)->empty());
}

TEST(PtzPresets, TheSettingRefusesBadListsWithAReason) {
  const SettingSpec* spec = find_setting("ptz.presets");
  ASSERT_TRUE(spec);
  EXPECT_FALSE(validate_setting(*spec, Value{std::string("Preset_1,0,0,0.5,Gate")}));
  const auto problem = [&](std::string text) { return validate_setting(*spec, Value{text}).value_or(""); };
  EXPECT_NE(problem("Preset_1,2,0,0,Gate").find("pan and tilt"), std::string::npos);
  EXPECT_NE(problem("Preset_1,0,0,-0.1,Gate").find("zoom"), std::string::npos);
  EXPECT_NE(problem("bad token,0,0,0,x").find("token"), std::string::npos);
  EXPECT_NE(problem("P,0,0").find("expected"), std::string::npos);
  EXPECT_NE(problem("P,0,0,0,a;P,0,0,0,b").find("twice"), std::string::npos);
  EXPECT_NE(problem("P,0,0,0,%41").find("escape"), std::string::npos);
  EXPECT_NE(problem("P,nan,0,0,a").find("pan"), std::string::npos);
  std::vector<PtzPreset> many;
  for (size_t i = 0; i <= kMaxPresets; ++i) many.push_back({"P" + std::to_string(i), "", {}});
  EXPECT_NE(problem(format_presets(many)).find("at most"), std::string::npos);
  many.pop_back();
  for (auto& p : many) p.name = std::string(kMaxPresetName, ';');  // the longest list still fits the setting
  EXPECT_EQ(problem(format_presets(many)), "");
  EXPECT_NE(problem("P,0,0,0," + std::string(kMaxPresetName + 1, 'n')).find("at most"), std::string::npos);
}

}  // namespace
}  // namespace freehold::media
