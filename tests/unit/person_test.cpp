// SPDX-License-Identifier: GPL-3.0-or-later
// The person detectors: OpenCV's HOG on real footage (vtest.avi from Debian's opencv-doc, people measured by
// hand), and the ONNX path on tiny models the test writes with python3-onnx (tests/fixtures/make_tiny_onnx.py),
// including files that are not usable models.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "analytics/person.hpp"
#include "hal/source.hpp"

namespace freehold::analytics {
namespace {

namespace fs = std::filesystem;
constexpr const char* kVtest = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";

double iou(const Box& a, const Box& b) {
  const float x0 = std::max(a.x, b.x), y0 = std::max(a.y, b.y);
  const float x1 = std::min(a.x + a.w, b.x + b.w), y1 = std::min(a.y + a.h, b.y + b.h);
  const float inter = std::max(0.f, x1 - x0) * std::max(0.f, y1 - y0);
  return inter / (a.w * a.h + b.w * b.h - inter);
}

Box px(double x, double y, double w, double h) {
  return {static_cast<float>(x / 768), static_cast<float>(y / 576), static_cast<float>(w / 768),
          static_cast<float>(h / 576)};
}

hal::Picture vtest_frame(std::uint64_t n) {
  std::string error;
  auto source = hal::make_file_source({kVtest, false, false, false}, &error);
  hal::Picture p;
  EXPECT_TRUE(source) << error;
  for (std::uint64_t i = 0; source && i <= n; ++i) EXPECT_EQ(source->next(p), std::nullopt);
  return p;
}

hal::Picture flat(int width, int height, std::uint8_t luma) {
  hal::Picture p;
  p.allocate(width, height);
  std::fill(p.data.begin(), p.data.begin() + width * height, luma);
  std::fill(p.data.begin() + width * height, p.data.end(), 128);
  return p;
}

std::unique_ptr<PersonDetector> make(const PersonOptions& o, std::string* error) {
  return make_person_detector(o, error);
}

// Frame 86: five people walking in the middle of the plaza, measured by hand on the frame (±5 px).
const std::vector<Box> kFrame86 = {px(374, 177, 34, 82), px(406, 182, 23, 80), px(452, 165, 28, 78),
                                   px(485, 167, 25, 75), px(565, 177, 30, 93)};

TEST(HogPersonDetector, FindsThePeopleOfARealFrameAndNothingElse) {
  if (!fs::exists(kVtest)) GTEST_SKIP() << kVtest << " is missing (Debian package opencv-doc)";
  const hal::Picture frame = vtest_frame(86);
  std::string error;
  auto hog = make({}, &error);
  ASSERT_TRUE(hog) << error;
  // Where motion would point: the walkers' part of the picture.
  const auto found = hog->detect(frame, {px(360, 150, 250, 130)});
  int matched = 0;
  for (const Box& truth : kFrame86) {
    bool hit = false;
    for (const auto& d : found) hit = hit || iou(d.box, truth) >= 0.3;
    matched += hit ? 1 : 0;
  }
  EXPECT_GE(matched, 3) << found.size() << " detections";
  for (const auto& d : found) {
    EXPECT_EQ(d.label, "person");
    EXPECT_GE(d.confidence, 0.5f);
    double best = 0;
    for (const Box& truth : kFrame86) best = std::max(best, iou(d.box, truth));
    EXPECT_GE(best, 0.2) << "a detection on nobody at " << d.box.x << "," << d.box.y;
  }
  // The lawn at the lower left, where nobody is, and a flat grey picture.
  EXPECT_TRUE(hog->detect(frame, {px(0, 420, 260, 150)}).empty());
  EXPECT_TRUE(hog->detect(flat(640, 480, 120), {}).empty());
}

class OnnxPersonDetector : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string pattern = (fs::temp_directory_path() / "freehold-onnx-XXXXXX").string();
    ASSERT_TRUE(mkdtemp(pattern.data()));
    dir_ = pattern;
    const std::string cmd =
        "/usr/bin/python3 " + std::string(FREEHOLD_FIXTURES) + "/make_tiny_onnx.py " + dir_.string();
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd << " (needs python3-onnx: scripts/deps.sh test)";
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static PersonOptions onnx(const std::string& file) {
    PersonOptions o;
    o.detector = "onnx";
    o.model_path = (dir_ / file).string();
    o.input_size = 64;
    return o;
  }
  static std::string write(const std::string& name, const std::string& bytes) {
    std::ofstream(dir_ / name, std::ios::binary) << bytes;
    return name;
  }
  static std::string read(const std::string& name) {
    std::ifstream in(dir_ / name, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }
  static inline fs::path dir_;
};

TEST_F(OnnxPersonDetector, SsdLayoutPeopleAboveTheThresholdOnly) {
  std::string error;
  auto d = make(onnx("ssd.onnx"), &error);
  ASSERT_TRUE(d) << error;
  const auto white = d->detect(flat(320, 240, 235), {});
  ASSERT_EQ(white.size(), 1u) << "the person row only, never the bicycle";
  EXPECT_EQ(white[0].label, "person");
  EXPECT_GT(white[0].confidence, 0.9f);
  EXPECT_NEAR(white[0].box.x, 0.25, 0.01);
  EXPECT_NEAR(white[0].box.y, 0.25, 0.01);
  EXPECT_NEAR(white[0].box.w, 0.5, 0.01);
  EXPECT_NEAR(white[0].box.h, 0.5, 0.01);
  EXPECT_TRUE(d->detect(flat(320, 240, 16), {}).empty()) << "a black picture scores the person near 0";
  // Only people where motion is.
  EXPECT_EQ(d->detect(flat(320, 240, 235), {{0.3f, 0.3f, 0.1f, 0.1f}}).size(), 1u);
  EXPECT_TRUE(d->detect(flat(320, 240, 235), {{0.85f, 0.85f, 0.1f, 0.1f}}).empty());
}

TEST_F(OnnxPersonDetector, YoloLayoutBoxesAreMappedFromInputPixels) {
  std::string error;
  auto d = make(onnx("yolo.onnx"), &error);
  ASSERT_TRUE(d) << error;
  const auto found = d->detect(flat(640, 480, 235), {});
  ASSERT_EQ(found.size(), 1u) << "the person, not the car";
  // Centre (32, 16), 16x24 in a 64-pixel input: x 0.375..0.625, y 0.0625..0.4375 of the picture.
  EXPECT_NEAR(found[0].box.x, 0.375, 0.01);
  EXPECT_NEAR(found[0].box.y, 0.0625, 0.01);
  EXPECT_NEAR(found[0].box.w, 0.25, 0.01);
  EXPECT_NEAR(found[0].box.h, 0.375, 0.01);
  EXPECT_TRUE(d->detect(flat(640, 480, 16), {}).empty());
}

TEST_F(OnnxPersonDetector, UnusableModelsAreRefusedWithTheReason) {
  auto refused = [](const PersonOptions& o) {
    std::string error;
    EXPECT_FALSE(make(o, &error)) << o.model_path;
    return error;
  };
  EXPECT_NE(refused(onnx("flat.onnx")).find("neither SSD"), std::string::npos);
  EXPECT_NE(refused(onnx("missing.onnx")).find("no such file"), std::string::npos);
  EXPECT_NE(refused(onnx(write("random.onnx", std::string(4096, '\x5a')))).find("not a usable ONNX model"),
            std::string::npos);
  const std::string ssd = read("ssd.onnx");
  EXPECT_NE(refused(onnx(write("cut.onnx", ssd.substr(0, ssd.size() / 2)))).find("not a usable ONNX model"),
            std::string::npos);
  EXPECT_NE(refused(onnx(write("empty.onnx", ""))).find("person.model"), std::string::npos);
  PersonOptions none = onnx("x");
  none.model_path.clear();
  EXPECT_NE(refused(none).find("names no file"), std::string::npos);
  PersonOptions other;
  other.detector = "yolo";
  EXPECT_NE(refused(other).find("unknown person detector"), std::string::npos);
}

}  // namespace
}  // namespace freehold::analytics
