// SPDX-License-Identifier: GPL-3.0-or-later
// Fuzzes the PTZ presets list (the ptz.presets setting, read from the config file). Oracle: never crash; a refusal
// says why; an accepted list stays within its bounds and formats to text that parses back to the same list.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/ptz_presets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  if (size > 16 * 1024) return -1;
  std::string error;
  auto list = freehold::parse_presets(std::string_view(reinterpret_cast<const char*>(data), size), &error);
  if (!list) {
    if (error.empty()) std::abort();
    return 0;
  }
  if (list->size() > freehold::kMaxPresets) std::abort();
  for (const auto& p : *list) {
    if (!freehold::valid_preset_token(p.token) || freehold::check_preset_name(p.name)) std::abort();
    if (!(freehold::clamp_position(p.position) == p.position)) std::abort();
  }
  const std::string text = freehold::format_presets(*list);
  auto again = freehold::parse_presets(text, &error);
  if (!again || again->size() != list->size()) std::abort();
  for (size_t i = 0; i < list->size(); ++i) {
    const auto &a = (*list)[i], &b = (*again)[i];
    // Positions are written with four decimals: equal after one more round.
    if (a.token != b.token || a.name != b.name) std::abort();
    if (freehold::format_presets({b}) != freehold::format_presets({a})) std::abort();
  }
  return 0;
}
