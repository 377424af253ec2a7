// SPDX-License-Identifier: GPL-3.0-or-later
// Brightness, contrast and saturation applied in software to raw I420 pictures, for sources that have no controls
// of their own (the synthetic pattern; V4L2 cameras use their hardware controls instead). One 256-entry table for
// luma and one for chroma, rebuilt only when the settings change; a picture at the neutral settings (all 50) is
// not touched at all. Sharpness has no software implementation: it only reaches cameras that have the control.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "hal/source.hpp"

namespace freehold::media {

// The two tables for a set of controls. Luma: contrast scales the distance from mid-grey (128) by contrast/50
// (0 flat grey, 100 double), then brightness adds (brightness - 50) * 2 levels. Chroma: the distance from 128
// scaled by saturation/50 (0 grey, 100 double). Results are clamped to 0..255.
struct ImageLuts {
  std::array<std::uint8_t, 256> y{};
  std::array<std::uint8_t, 256> uv{};
};
[[nodiscard]] ImageLuts make_luts(const hal::ImageControls& controls);
[[nodiscard]] bool is_neutral(const hal::ImageControls& controls);  // brightness, contrast, saturation all 50

// One table lookup per byte of the planes (a plain loop over contiguous bytes; no allocation).
void apply_luts(const ImageLuts& luts, hal::Picture& picture);

// The settings as the capture thread sees them: set() from any thread (lock-free), apply() on the capture thread.
class ImageAdjuster final {
 public:
  void set(const hal::ImageControls& controls);
  // Adjusts a raw picture in place; nothing at the neutral settings.
  void apply(hal::Picture& picture);

 private:
  static std::uint32_t pack(const hal::ImageControls& c);
  std::atomic<std::uint32_t> wanted_{pack({})};
  std::uint32_t built_ = pack({});  // capture thread only
  ImageLuts luts_ = make_luts({});
};

}  // namespace freehold::media
