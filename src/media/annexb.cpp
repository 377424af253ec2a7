// SPDX-License-Identifier: GPL-3.0-or-later
#include "media/annexb.hpp"

namespace freehold::media {

std::vector<std::span<const std::uint8_t>> split_annexb(std::span<const std::uint8_t> s) {
  std::vector<std::span<const std::uint8_t>> out;
  std::size_t i = 0, start = SIZE_MAX;
  auto finish = [&](std::size_t end) {
    if (start == SIZE_MAX) return;
    while (end > start && s[end - 1] == 0) --end;  // trailing_zero_8bits and the 4-byte start code's extra zero
    if (end > start) out.push_back(s.subspan(start, end - start));
  };
  while (i + 2 < s.size()) {
    if (s[i] == 0 && s[i + 1] == 0 && s[i + 2] == 1) {
      finish(i);
      i += 3;
      start = i;
    } else {
      ++i;
    }
  }
  finish(s.size());
  return out;
}

}  // namespace freehold::media
