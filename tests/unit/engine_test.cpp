// SPDX-License-Identifier: GPL-3.0-or-later
// The analytics engine on a live synthetic camera (its box moves 4 s, rests 4 s): events with snapshots and boxes
// drawn, sensor states, and settings applied live.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "analytics/engine.hpp"
#include "support/decode_jpeg.hpp"

namespace freehold::analytics {
namespace {

using namespace std::chrono_literals;

struct Collected {
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<Event> events;
  std::vector<std::pair<std::string, bool>> states;

  AnalyticsSink sink() {
    return {[this](Event e) {
              std::lock_guard lock(mutex);
              events.push_back(std::move(e));
              cv.notify_all();
            },
            [this](std::string_view entity, bool on) {
              std::lock_guard lock(mutex);
              states.emplace_back(std::string(entity), on);
              cv.notify_all();
            }};
  }
  // Waits for an event of `type` after the first `skip` events; its index, or -1.
  int wait_for(std::string_view type, std::size_t skip, std::chrono::seconds timeout) {
    std::unique_lock lock(mutex);
    int found = -1;
    cv.wait_for(lock, timeout, [&] {
      for (std::size_t i = skip; i < events.size(); ++i) {
        if (events[i].type == type) {
          found = static_cast<int>(i);
          return true;
        }
      }
      return false;
    });
    return found;
  }
};

AnalyticsSettings quick() {
  AnalyticsSettings s;
  s.fps = 10;
  s.person = false;
  s.motion.cooldown = 1000ms;
  return s;
}

TEST(AnalyticsEngine, TheMovingBoxStartsAndEndsMotionWithASnapshotShowingItsBox) {
  media::Capture capture(hal::make_synthetic_source({320, 180, 25, true, true}));
  Collected got;
  Engine engine(capture, quick(), got.sink());
  engine.start();
  capture.start();
  const int start = got.wait_for(event_type::motion_start, 0, 12s);
  ASSERT_GE(start, 0) << "no motion_start within 12 s";
  const int end = got.wait_for(event_type::motion_end, static_cast<std::size_t>(start), 10s);
  engine.stop();
  capture.stop();
  ASSERT_GT(end, start);
  std::lock_guard lock(got.mutex);
  const Event& s = got.events[static_cast<std::size_t>(start)];
  const Event& e = got.events[static_cast<std::size_t>(end)];
  ASSERT_FALSE(s.objects.empty());
  const Box b = s.objects[0].box;
  EXPECT_EQ(s.objects[0].label, "motion");
  // The synthetic box is vertically centred, a quarter of the height tall.
  EXPECT_LT(b.y, 0.45f);
  EXPECT_GT(b.y + b.h, 0.55f);
  EXPECT_GT(e.duration_ms, 500);
  EXPECT_LT(std::chrono::abs(s.time - std::chrono::system_clock::now()), 15s);
  // The snapshot is the analysed picture with the moving region outlined (luma 210 on the frame's edge).
  ASSERT_TRUE(s.snapshot);
  const auto jpeg = test::decode(*s.snapshot);
  ASSERT_EQ(jpeg.width, 320);
  ASSERT_EQ(jpeg.height, 180);
  const int x = std::clamp(static_cast<int>(b.x * 320) & ~1, 0, 318), y = static_cast<int>((b.y + b.h / 2) * 180);
  EXPECT_NEAR(jpeg.y[static_cast<std::size_t>(y) * 320 + x], 210, 25) << "the box's left edge is drawn";
  EXPECT_FALSE(e.snapshot) << "an end has nothing new to show";
  const std::vector<std::pair<std::string, bool>> want{{"motion", true}, {"motion", false}};
  EXPECT_EQ(std::vector(got.states.begin(), got.states.begin() + 2), want);
}

TEST(AnalyticsEngine, SwitchedOffDuringMotionEndsItAndLooksNoMore) {
  media::Capture capture(hal::make_synthetic_source({320, 180, 25, true, true}));
  Collected got;
  Engine engine(capture, quick(), got.sink());
  engine.start();
  capture.start();
  const int start = got.wait_for(event_type::motion_start, 0, 12s);
  ASSERT_GE(start, 0);
  auto off = quick();
  off.enabled = false;
  engine.configure(off);
  {
    std::unique_lock lock(got.mutex);
    ASSERT_TRUE(
        got.cv.wait_for(lock, 3s, [&] { return got.states.back() == std::pair<std::string, bool>("motion", false); }));
  }
  EXPECT_GT(got.wait_for(event_type::motion_end, static_cast<std::size_t>(start), 3s), start)
      << "the motion in progress ends with a motion_end";
  const auto analysed = engine.stats().pictures;
  std::this_thread::sleep_for(1s);
  EXPECT_LE(engine.stats().pictures, analysed + 1) << "nothing is analysed while switched off";
  engine.stop();
  capture.stop();
}

// The synthetic camera with a lens cap: once `covered`, its pictures are black.
class CoverableSource final : public hal::Source {
 public:
  explicit CoverableSource(const hal::SyntheticOptions& o) : inner_(hal::make_synthetic_source(o)) {}
  std::optional<std::string> next(hal::Picture& out) override {
    auto why = inner_->next(out);
    if (!why && covered) {
      const auto luma = static_cast<std::ptrdiff_t>(out.width) * out.height;
      std::fill(out.data.begin(), out.data.begin() + luma, std::uint8_t{16});
      std::fill(out.data.begin() + luma, out.data.end(), std::uint8_t{128});
    }
    return why;
  }
  int width() const override { return inner_->width(); }
  int height() const override { return inner_->height(); }
  int fps() const override { return inner_->fps(); }
  hal::Overlay overlay() const override { return inner_->overlay(); }
  std::atomic<bool> covered{false};

 private:
  std::unique_ptr<hal::Source> inner_;
};

TEST(AnalyticsEngine, ACoveredLensIsTamperingUntilTamperDetectionIsSwitchedOff) {
  auto source = std::make_unique<CoverableSource>(hal::SyntheticOptions{320, 180, 25, true, true});
  auto* lens = source.get();
  media::Capture capture(std::move(source));
  Collected got;
  Engine engine(capture, quick(), got.sink());
  engine.start();
  capture.start();
  std::this_thread::sleep_for(3s);  // the usual view is learnt
  lens->covered = true;
  const int tamper = got.wait_for(event_type::tamper, 0, 15s);
  ASSERT_GE(tamper, 0) << "no tamper event within 15 s of covering the lens";
  // Whether the sensor's latest state is `on` (within 3 s).
  auto sensor_is = [&](const std::string& entity, bool on) {
    std::unique_lock lock(got.mutex);
    return got.cv.wait_for(lock, 3s, [&] {
      for (auto it = got.states.rbegin(); it != got.states.rend(); ++it)
        if (it->first == entity) return it->second == on;
      return false;
    });
  };
  {
    std::lock_guard lock(got.mutex);
    EXPECT_EQ(got.events[static_cast<std::size_t>(tamper)].detail, "covered");
  }
  EXPECT_TRUE(sensor_is("tamper", true));
  auto off = quick();
  off.tamper = false;
  engine.configure(off);
  EXPECT_TRUE(sensor_is("tamper", false)) << "switched off while covered, the tamper sensor goes back to off";
  engine.stop();
  capture.stop();
}

}  // namespace
}  // namespace freehold::analytics
