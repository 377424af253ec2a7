// SPDX-License-Identifier: GPL-3.0-or-later
// Person detection cost per call on one core, on a real 768x576 frame (vtest.avi from Debian's opencv-doc, frame
// 86: five people walking): our HOG detector on the whole picture and on the moving region the motion detector
// hands it, beside OpenCV's HOG people detector called the usual way (detectMultiScale with its default
// parameters on the whole picture) in the same run.
// Usage: person_bench [--calls N]
#include <opencv2/core.hpp>
#include <opencv2/objdetect.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

#include "analytics/person.hpp"
#include "hal/source.hpp"

namespace {

constexpr const char* kVtest = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";

double median_ms(int calls, const std::function<std::size_t()>& f, std::size_t* found) {
  std::vector<double> ms;
  f();  // warm-up
  for (int i = 0; i < calls; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    *found = f();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int calls = 20;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--calls") == 0 && i + 1 < argc) {
      calls = std::max(3, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: %s [--calls N]\n", argv[0]);
      return 2;
    }
  }
  cv::setNumThreads(1);
  std::string error;
  auto source = freehold::hal::make_file_source({kVtest, false, false, false}, &error);
  if (!source) {
    std::fprintf(stderr, "error: %s (install opencv-doc)\n", error.c_str());
    return 1;
  }
  freehold::hal::Picture frame;
  for (int i = 0; i <= 86; ++i) {
    if (auto e = source->next(frame)) {
      std::fprintf(stderr, "error: %s\n", e->c_str());
      return 1;
    }
  }
  auto hog = freehold::analytics::make_person_detector({}, &error);
  const freehold::Box region{360.f / 768, 150.f / 576, 250.f / 768, 130.f / 576};

  cv::HOGDescriptor peer;
  peer.setSVMDetector(cv::HOGDescriptor::getDefaultPeopleDetector());
  const cv::Mat luma(frame.height, frame.width, CV_8UC1, frame.y());

  std::size_t n_whole = 0, n_region = 0, n_peer = 0;
  const double whole = median_ms(
      calls, [&] { return hog->detect(frame, {}).size(); }, &n_whole);
  const double in_region = median_ms(
      calls, [&] { return hog->detect(frame, {region}).size(); }, &n_region);
  const double reference = median_ms(
      calls,
      [&] {
        std::vector<cv::Rect> found;
        peer.detectMultiScale(luma, found);
        return found.size();
      },
      &n_peer);
  std::printf("person detection, ms per call on one core (median of %d), 768x576 frame, people found in brackets\n",
              calls);
  std::printf("%-46s %10s %24s %8s\n", "freehold", "ms", "OpenCV HOG, defaults, whole", "ratio");
  std::printf("%-46s %6.1f (%zu) %19.1f (%zu) %7.1fx\n", "HOG, whole picture", whole, n_whole, reference, n_peer,
              reference / whole);
  std::printf("%-46s %6.1f (%zu) %19.1f (%zu) %7.1fx\n", "HOG, the moving region (250x130 px, as in use)", in_region,
              n_region, reference, n_peer, reference / in_region);
  std::printf("ratio: the peer's time divided by ours (above 1: ours is faster)\n");
  return n_region == 0 ? 1 : 0;
}
