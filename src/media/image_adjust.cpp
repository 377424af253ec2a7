// SPDX-License-Identifier: GPL-3.0-or-later
#include "media/image_adjust.hpp"

#include <algorithm>
#include <cmath>

namespace freehold::media {
namespace {

std::uint8_t clamp_byte(double v) {
  return static_cast<std::uint8_t>(std::clamp(std::lround(v), 0L, 255L));
}

void lookup(const std::array<std::uint8_t, 256>& lut, std::uint8_t* p, std::size_t n) {
  // Unrolled by hand: the loads of eight independent lookups overlap (GCC does not unroll gathers on its own).
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const std::uint8_t a = lut[p[i]], b = lut[p[i + 1]], c = lut[p[i + 2]], d = lut[p[i + 3]];
    const std::uint8_t e = lut[p[i + 4]], f = lut[p[i + 5]], g = lut[p[i + 6]], h = lut[p[i + 7]];
    p[i] = a, p[i + 1] = b, p[i + 2] = c, p[i + 3] = d, p[i + 4] = e, p[i + 5] = f, p[i + 6] = g, p[i + 7] = h;
  }
  for (; i < n; ++i) p[i] = lut[p[i]];
}

}  // namespace

bool is_neutral(const hal::ImageControls& c) {
  return c.brightness == 50 && c.contrast == 50 && c.saturation == 50;
}

ImageLuts make_luts(const hal::ImageControls& c) {
  ImageLuts l;
  const double gain = std::clamp(c.contrast, 0, 100) / 50.0;
  const double offset = (std::clamp(c.brightness, 0, 100) - 50) * 2.0;
  const double sat = std::clamp(c.saturation, 0, 100) / 50.0;
  for (int v = 0; v < 256; ++v) {
    l.y[static_cast<std::size_t>(v)] = clamp_byte((v - 128) * gain + 128 + offset);
    l.uv[static_cast<std::size_t>(v)] = clamp_byte((v - 128) * sat + 128);
  }
  return l;
}

void apply_luts(const ImageLuts& luts, hal::Picture& p) {
  if (p.format != hal::PixelFormat::i420 || p.width <= 0 || p.height <= 0) return;
  const auto luma = static_cast<std::size_t>(p.width) * static_cast<std::size_t>(p.height);
  const auto chroma = static_cast<std::size_t>(p.width / 2) * static_cast<std::size_t>(p.height / 2);
  if (p.data.size() < luma + 2 * chroma) return;
  lookup(luts.y, p.y(), luma);
  lookup(luts.uv, p.u(), 2 * chroma);  // U and V are contiguous
}

std::uint32_t ImageAdjuster::pack(const hal::ImageControls& c) {
  const auto b = [](int v) { return static_cast<std::uint32_t>(std::clamp(v, 0, 100)); };
  return b(c.brightness) | b(c.contrast) << 8 | b(c.saturation) << 16;
}

void ImageAdjuster::set(const hal::ImageControls& c) {
  wanted_.store(pack(c), std::memory_order_relaxed);
}

void ImageAdjuster::apply(hal::Picture& picture) {
  const std::uint32_t want = wanted_.load(std::memory_order_relaxed);
  if (want == pack({})) return;
  if (want != built_) {
    const hal::ImageControls c{static_cast<int>(want & 0xff), static_cast<int>(want >> 8 & 0xff),
                               static_cast<int>(want >> 16 & 0xff), 50};
    luts_ = make_luts(c);
    built_ = want;
  }
  apply_luts(luts_, picture);
}

}  // namespace freehold::media
