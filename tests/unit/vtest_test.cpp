// SPDX-License-Identifier: GPL-3.0-or-later
// Real footage nobody here made: Debian's opencv-doc ships vtest.avi (768x576, 10 fps, 795 frames, MS-MPEG4 v3),
// people walking across a plaza filmed by a fixed camera. It is played through freeholdd's file source (decoded,
// as a raw camera) into the motion, tamper and person detectors, and the results are held against labels made by
// looking at the frames (tests/fixtures/vtest_labels.json says how).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "analytics/motion.hpp"
#include "analytics/person.hpp"
#include "analytics/tamper.hpp"
#include "core/zones.hpp"
#include "hal/source.hpp"

namespace freehold::analytics {
namespace {

constexpr const char* kVtest = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";

nlohmann::json labels() {
  std::ifstream in(std::string(FREEHOLD_FIXTURES) + "/vtest_labels.json");
  return nlohmann::json::parse(in);
}

// Every picture of one pass, decoded by the file source.
const std::vector<hal::Picture>& frames() {
  static const std::vector<hal::Picture> all = [] {
    std::vector<hal::Picture> out;
    std::string error;
    auto source = hal::make_file_source({kVtest, false, false, false}, &error);
    if (!source) return out;
    for (;;) {
      hal::Picture p;
      if (source->next(p)) break;
      out.push_back(std::move(p));
    }
    return out;
  }();
  return all;
}

#define SKIP_WITHOUT_VTEST() \
  if (!std::filesystem::exists(kVtest)) GTEST_SKIP() << kVtest << " is missing (Debian package opencv-doc)"

struct Outcome {
  std::vector<std::uint64_t> starts, ends;  // frame numbers
  std::size_t analysed = 0, active = 0;     // after the first start
  std::size_t person_calls = 0, person_hits = 0;
  std::vector<std::pair<std::uint64_t, Detection>> people;
};

// Analyses every other frame (5 per second, the default rate), pictures timed by their frame number; people are
// looked for on the moving regions once a second while motion lasts, as the engine does.
Outcome analyse(const std::vector<const hal::Picture*>& pictures, MotionSettings settings, PersonDetector* person) {
  MotionDetector motion(std::move(settings));
  TamperDetector tamper;
  Outcome run;
  std::int64_t last_person = -1000000000;
  for (std::size_t i = 0; i < pictures.size(); i += 2) {
    const hal::Picture& p = *pictures[i];
    const std::int64_t t = static_cast<std::int64_t>(i) * 100000;
    const auto& m = motion.process(p.y(), p.width, p.height, p.width, t);
    EXPECT_FALSE(tamper.process(motion.work(), t).started) << "tampering reported at frame " << i;
    if (m.started) run.starts.push_back(i);
    if (m.ended) run.ends.push_back(i);
    if (!run.starts.empty()) {
      ++run.analysed;
      run.active += m.active ? 1 : 0;
    }
    if (person && m.active && t - last_person >= 1000000) {
      last_person = t;
      ++run.person_calls;
      auto found = person->detect(p, m.boxes);
      run.person_hits += found.empty() ? 0 : 1;
      for (auto& d : found) run.people.emplace_back(i, d);
    }
  }
  return run;
}

std::unique_ptr<PersonDetector> hog() {
  std::string error;
  auto d = make_person_detector({}, &error);
  EXPECT_TRUE(d) << error;
  return d;
}

std::vector<const hal::Picture*> all_frames() {
  std::vector<const hal::Picture*> out;
  for (const auto& p : frames()) out.push_back(&p);
  return out;
}

TEST(Vtest, TheFileSourceDecodesEveryFrame) {
  SKIP_WITHOUT_VTEST();
  const auto& all = frames();
  ASSERT_EQ(all.size(), labels()["frames"].get<std::size_t>());
  for (std::size_t i = 0; i < all.size(); i += 97) {
    EXPECT_EQ(all[i].width, 768);
    EXPECT_EQ(all[i].height, 576);
    EXPECT_EQ(all[i].format, hal::PixelFormat::i420);
    EXPECT_EQ(all[i].index, i);
  }
  // Real pictures: the luma spans a wide range.
  const auto [lo, hi] = std::minmax_element(all[0].y(), all[0].y() + 768 * 576);
  EXPECT_LT(*lo, 60);
  EXPECT_GT(*hi, 200);
}

TEST(Vtest, MotionCoversTheFramesWherePeopleWalk) {
  SKIP_WITHOUT_VTEST();
  auto person = hog();
  const Outcome run = analyse(all_frames(), {}, person.get());
  const auto moving = labels()["people_moving"][0];
  ASSERT_FALSE(run.starts.empty());
  EXPECT_LE(run.starts[0], moving[0].get<std::uint64_t>() + 10) << "motion starts within a second";
  // People walk in every frame: motion stays on (it may break briefly when everybody pauses).
  EXPECT_GE(run.active * 100, run.analysed * 95) << run.active << " of " << run.analysed << " analysed pictures";
  EXPECT_LE(run.starts.size(), 3u);
  std::printf("motion: %zu starts, active in %zu of %zu pictures; person: %zu of %zu calls found people\n",
              run.starts.size(), run.active, run.analysed, run.person_hits, run.person_calls);
  // Person events fire: people are found in most of the once-a-second looks.
  EXPECT_GE(run.person_hits * 2, run.person_calls) << run.person_hits << " of " << run.person_calls;
  for (const auto& [frame, d] : run.people) {
    EXPECT_EQ(d.label, "person");
    EXPECT_GE(d.confidence, 0.5f);
    // Nobody is in the sky above the buildings' ground line.
    EXPECT_GT(d.box.y + d.box.h, labels()["ground_line_y"].get<float>()) << "frame " << frame;
  }
}

TEST(Vtest, TheFirstFrameHeldStillGivesNoEvents) {
  SKIP_WITHOUT_VTEST();
  ASSERT_FALSE(frames().empty());
  // 30 seconds of the first frame: the scene with its people standing still.
  std::vector<const hal::Picture*> still(300, &frames()[0]);
  auto person = hog();
  const Outcome run = analyse(still, {}, person.get());
  EXPECT_TRUE(run.starts.empty());
  EXPECT_EQ(run.person_calls, 0u) << "people are looked for only where something moves";
}

TEST(Vtest, AZoneWhereNobodyWalksStaysQuiet) {
  SKIP_WITHOUT_VTEST();
  std::string error;
  auto zones = parse_zones(labels()["quiet_zone"].get<std::string>(), &error);
  ASSERT_TRUE(zones) << error;
  MotionSettings settings;
  settings.zones = *zones;
  const Outcome run = analyse(all_frames(), settings, nullptr);
  EXPECT_TRUE(run.starts.empty()) << "first motion at frame " << (run.starts.empty() ? 0 : run.starts[0]);
}

}  // namespace
}  // namespace freehold::analytics
