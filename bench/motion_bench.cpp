// SPDX-License-Identifier: GPL-3.0-or-later
// Motion detector cost per picture on one core, at 640x360, 1280x720 and 1920x1080 luma input (downscaling
// included), beside OpenCV's BackgroundSubtractorMOG2 on the very same pictures in the same run: on the full
// picture (how it is usually run) and on the same ~160-pixel-wide picture our detector works on (cv::resize
// INTER_AREA included). Pictures: a textured scene with sensor noise and a box crossing it (tests/support).
// Usage: motion_bench [--frames N]   (prints one table; docs/performance.md records it)
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/video/background_segm.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "analytics/motion.hpp"
#include "support/synthetic_scene.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

// Pictures rendered once up front, so only the detectors are timed.
std::vector<std::vector<std::uint8_t>> render(int w, int h, int frames) {
  freehold::test::Scene scene(w, h);
  std::vector<std::vector<std::uint8_t>> out;
  for (int i = 0; i < frames; ++i) {
    const int bw = w / 12, bh = h / 4;
    const int x = -bw + (w + bw) * (i % 60) / 60;
    const std::uint8_t* p = scene.render(0, 4, {{x, h / 3, bw, bh}});
    out.emplace_back(p, p + static_cast<std::size_t>(w) * h);
  }
  return out;
}

template <typename F>
std::vector<double> time_each(const std::vector<std::vector<std::uint8_t>>& pictures, F&& f) {
  std::vector<double> ms;
  ms.reserve(pictures.size());
  for (std::size_t i = 0; i < pictures.size(); ++i) {
    const auto t0 = Clock::now();
    f(pictures[i], static_cast<std::int64_t>(i) * 200000);
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  return ms;
}

}  // namespace

int main(int argc, char** argv) {
  int frames = 300;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--frames") == 0 && i + 1 < argc) {
      frames = std::max(30, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: %s [--frames N]\n", argv[0]);
      return 2;
    }
  }
  cv::setNumThreads(1);  // one core, like our detector's thread
  std::printf("motion detector, ms per picture on one core (median / p99 of %d pictures, first 10 not timed)\n",
              frames);
  std::printf("%-10s %16s %18s %8s %22s %8s\n", "input", "freehold", "MOG2 full picture", "ratio",
              "MOG2 at our work size", "ratio");
  struct Size {
    int w, h;
  };
  for (Size sz : {Size{640, 360}, Size{1280, 720}, Size{1920, 1080}}) {
    const auto pictures = render(sz.w, sz.h, frames + 10);
    const std::vector<std::vector<std::uint8_t>> timed(pictures.begin() + 10, pictures.end());
    const std::vector<std::vector<std::uint8_t>> warm(pictures.begin(), pictures.begin() + 10);

    freehold::analytics::MotionDetector ours;
    std::size_t boxes = 0;
    auto run_ours = [&](const std::vector<std::uint8_t>& p, std::int64_t t) {
      boxes += ours.process(p.data(), sz.w, sz.h, sz.w, t).boxes.size();
    };
    time_each(warm, run_ours);
    const auto ours_ms = time_each(timed, run_ours);

    auto full = cv::createBackgroundSubtractorMOG2(500, 16, false);
    cv::Mat mask;
    auto run_full = [&](const std::vector<std::uint8_t>& p, std::int64_t) {
      const cv::Mat in(sz.h, sz.w, CV_8UC1, const_cast<std::uint8_t*>(p.data()));
      full->apply(in, mask);
    };
    time_each(warm, run_full);
    const auto full_ms = time_each(timed, run_full);

    const int ww = ours.work().width, wh = ours.work().height;
    auto small = cv::createBackgroundSubtractorMOG2(500, 16, false);
    cv::Mat resized;
    auto run_small = [&](const std::vector<std::uint8_t>& p, std::int64_t) {
      const cv::Mat in(sz.h, sz.w, CV_8UC1, const_cast<std::uint8_t*>(p.data()));
      cv::resize(in, resized, cv::Size(ww, wh), 0, 0, cv::INTER_AREA);
      small->apply(resized, mask);
    };
    time_each(warm, run_small);
    const auto small_ms = time_each(timed, run_small);

    const double o = median(ours_ms), f = median(full_ms), s = median(small_ms);
    char label[32], a[40], b[40], c[40];
    std::snprintf(label, sizeof label, "%dx%d", sz.w, sz.h);
    std::snprintf(a, sizeof a, "%.3f / %.3f", o, percentile(ours_ms, 0.99));
    std::snprintf(b, sizeof b, "%.3f / %.3f", f, percentile(full_ms, 0.99));
    std::snprintf(c, sizeof c, "%.3f / %.3f", s, percentile(small_ms, 0.99));
    std::printf("%-10s %16s %18s %7.1fx %22s %7.1fx\n", label, a, b, f / o, c, s / o);
    if (boxes == 0) {
      std::fprintf(stderr, "error: the detector found no moving box at %s: the benchmark is not measuring work\n",
                   label);
      return 1;
    }
  }
  std::printf("ratio: the peer's time divided by ours (above 1: ours is faster)\n");
  return 0;
}
