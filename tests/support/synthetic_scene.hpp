// SPDX-License-Identifier: GPL-3.0-or-later
// A fixed camera's view for analytics tests and benchmarks, with known ground truth: blocks of different grey
// (edges everywhere, like a real scene), sensor noise in every picture, light changes, and boxes that move where
// and when the caller says.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace freehold::test {

struct Rect {
  int x, y, w, h;
};

class Scene {
 public:
  Scene(int w, int h, std::uint32_t seed = 1)
      : w_(w), h_(h), texture_(static_cast<std::size_t>(w) * h), frame_(texture_.size()) {
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        std::uint32_t v = static_cast<std::uint32_t>((x / 12) * 73856093u ^ (y / 12) * 19349663u ^ seed * 83492791u);
        v ^= v >> 13;
        v *= 0x5bd1e995u;
        v ^= v >> 15;
        texture_[static_cast<std::size_t>(y) * w + x] = static_cast<std::uint8_t>(60 + v % 80);
      }
    }
  }
  // One picture: the scene lit by `gain` percent plus `light` levels, noise of ±noise, and the given boxes painted
  // at `box_luma` (or, with `tint`, `box_luma` levels brighter than what they cover: a faint shadow or reflection).
  const std::uint8_t* render(int light, int noise, const std::vector<Rect>& boxes, int box_luma = 230,
                             bool tint = false, int gain = 100) {
    for (std::size_t i = 0; i < frame_.size(); ++i) {
      rng_ = rng_ * 1664525u + 1013904223u;
      const int n = noise ? static_cast<int>((rng_ >> 16) % static_cast<std::uint32_t>(2 * noise + 1)) - noise : 0;
      frame_[i] = static_cast<std::uint8_t>(std::clamp(texture_[i] * gain / 100 + light + n, 0, 255));
    }
    for (const Rect& r : boxes) {
      for (int y = std::max(0, r.y); y < std::min(h_, r.y + r.h); ++y) {
        for (int x = std::max(0, r.x); x < std::min(w_, r.x + r.w); ++x) {
          auto& p = frame_[static_cast<std::size_t>(y) * w_ + x];
          p = static_cast<std::uint8_t>(tint ? std::min(255, p + box_luma) : box_luma);
        }
      }
    }
    return frame_.data();
  }
  const std::uint8_t* flat(int luma, int noise) {
    for (auto& p : frame_) {
      rng_ = rng_ * 1664525u + 1013904223u;
      p = static_cast<std::uint8_t>(std::clamp(
          luma + static_cast<int>((rng_ >> 16) % static_cast<std::uint32_t>(2 * noise + 1)) - noise, 0, 255));
    }
    return frame_.data();
  }
  int w() const { return w_; }
  int h() const { return h_; }

 private:
  int w_, h_;
  std::vector<std::uint8_t> texture_, frame_;
  std::uint32_t rng_ = 12345;
};

}  // namespace freehold::test
