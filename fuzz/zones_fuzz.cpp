// SPDX-License-Identifier: GPL-3.0-or-later
// Fuzzes the motion zones text (the motion.zones setting, from the config file or any adapter). Oracle: never
// crash; a refusal says why; accepted zones are within their bounds and their text form reads back the same.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/zones.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  if (size > 8 * 1024) return -1;
  std::string error;
  auto zones = freehold::parse_zones(std::string_view(reinterpret_cast<const char*>(data), size), &error);
  if (!zones) {
    if (error.empty()) std::abort();
    return 0;
  }
  if (zones->size() > freehold::kMaxZones) std::abort();
  for (const auto& z : *zones) {
    if (z.polygon.size() < freehold::kMinZonePoints || z.polygon.size() > freehold::kMaxZonePoints) std::abort();
    for (const auto& p : z.polygon) {
      if (!(p.x >= 0 && p.x <= 1 && p.y >= 0 && p.y <= 1)) std::abort();
    }
    (void)freehold::zone_contains(z, 0.5, 0.5);
  }
  auto again = freehold::parse_zones(freehold::format_zones(*zones), &error);
  if (!again || *again != *zones) std::abort();
  return 0;
}
