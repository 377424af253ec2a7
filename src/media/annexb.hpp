// SPDX-License-Identifier: GPL-3.0-or-later
// H.264 Annex-B byte streams (ITU-T H.264 annex B): the form the encoders and the frame ring carry.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace freehold::media {

// The NAL units of an Annex-B byte stream (3- or 4-byte start codes), without start codes or trailing zeros.
[[nodiscard]] std::vector<std::span<const std::uint8_t>> split_annexb(std::span<const std::uint8_t> stream);

enum NalType : std::uint8_t { kNalIdr = 5, kNalSps = 7, kNalPps = 8, kNalAud = 9 };

[[nodiscard]] inline std::uint8_t nal_type(std::span<const std::uint8_t> nal) {
  return nal.empty() ? 0 : nal[0] & 0x1f;
}

}  // namespace freehold::media
