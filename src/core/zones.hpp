// SPDX-License-Identifier: GPL-3.0-or-later
// Motion zones: polygons over the picture where motion counts (include) or never counts (exclude), as the
// motion.zones setting holds them. Coordinates are fractions of the picture (0..1, x to the right, y down, to 4
// decimals), so a zone stays put when the stream size changes. Text form, zones separated by ";":
//   include door: 0.10,0.20 0.45,0.20 0.45,0.95 0.10,0.95; exclude clock: 0,0 0.4,0 0.4,0.1 0,0.1
// With an include zone, motion counts only inside include zones; exclude zones always win.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace freehold {

struct ZonePoint {
  double x = 0, y = 0;
  friend bool operator==(const ZonePoint&, const ZonePoint&) = default;
};

struct Zone {
  std::string name;  // [a-z0-9_-], 1..32 characters, unique
  bool exclude = false;
  std::vector<ZonePoint> polygon;  // kMinZonePoints..kMaxZonePoints corners, simple (no edge crosses another)
  friend bool operator==(const Zone&, const Zone&) = default;
};

inline constexpr std::size_t kMaxZones = 16;
inline constexpr std::size_t kMinZonePoints = 3;
inline constexpr std::size_t kMaxZonePoints = 32;

// The zones in `text` (empty text: none), or nullopt with `error` naming the zone and what is wrong with it.
[[nodiscard]] std::optional<std::vector<Zone>> parse_zones(std::string_view text, std::string* error);
// The text form of `zones`, which parse_zones reads back to the same zones (coordinates to 4 decimals).
[[nodiscard]] std::string format_zones(const std::vector<Zone>& zones);

// Whether (x, y) lies inside the polygon (even-odd rule; points on an edge may go either way).
[[nodiscard]] bool zone_contains(const Zone& zone, double x, double y);

}  // namespace freehold
