// SPDX-License-Identifier: GPL-3.0-or-later
#include "core/zones.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <set>

namespace freehold {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

bool valid_name(std::string_view n) {
  if (n.empty() || n.size() > 32) return false;
  for (char c : n) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  }
  return true;
}

std::optional<double> parse_coordinate(std::string_view s) {
  if (s.empty() || s.size() > 16) return std::nullopt;
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  // Rounded to 1/10000 (finer than any sensor's pixel), so that the text form is exact and reads back the same.
  return std::round(v * 10000) / 10000;
}

// Orientation of the turn a→b→c: >0 counter-clockwise, <0 clockwise, 0 collinear.
double cross(const ZonePoint& a, const ZonePoint& b, const ZonePoint& c) {
  return (b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x);
}

bool on_segment(const ZonePoint& a, const ZonePoint& b, const ZonePoint& p) {
  return std::min(a.x, b.x) <= p.x && p.x <= std::max(a.x, b.x) && std::min(a.y, b.y) <= p.y &&
         p.y <= std::max(a.y, b.y);
}

bool segments_touch(const ZonePoint& a, const ZonePoint& b, const ZonePoint& c, const ZonePoint& d) {
  const double d1 = cross(c, d, a), d2 = cross(c, d, b), d3 = cross(a, b, c), d4 = cross(a, b, d);
  if (((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0))) return true;
  return (d1 == 0 && on_segment(c, d, a)) || (d2 == 0 && on_segment(c, d, b)) || (d3 == 0 && on_segment(a, b, c)) ||
         (d4 == 0 && on_segment(a, b, d));
}

// Why the polygon is unusable, or nullopt: edges that cross or touch (other than neighbours at their shared
// corner), or no area.
std::optional<std::string> polygon_problem(const std::vector<ZonePoint>& p) {
  const std::size_t n = p.size();
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = i + 2; j < n; ++j) {
      if (i == 0 && j == n - 1) continue;  // neighbours: they share corner 1
      if (segments_touch(p[i], p[(i + 1) % n], p[j], p[(j + 1) % n])) {
        return "crosses itself (edge " + std::to_string(i + 1) + " meets edge " + std::to_string(j + 1) + ")";
      }
    }
  }
  double area2 = 0;
  for (std::size_t i = 0; i < n; ++i) area2 += p[i].x * p[(i + 1) % n].y - p[(i + 1) % n].x * p[i].y;
  if (std::fabs(area2) < 1e-6) return "has no area (its corners lie on one line or on top of each other)";
  // Neighbouring edges share one corner; they must not fold back onto each other there.
  for (std::size_t k = 0; k < n; ++k) {
    const ZonePoint& a = p[(k + n - 1) % n];
    const ZonePoint& b = p[k];
    const ZonePoint& c = p[(k + 1) % n];
    if (cross(a, b, c) == 0 && ((c.x - b.x) * (a.x - b.x) + (c.y - b.y) * (a.y - b.y)) >= 0) {
      return "folds back on itself at corner " + std::to_string(k + 1);
    }
  }
  return std::nullopt;
}

std::optional<Zone> parse_zone(std::string_view text, std::string* error) {
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) {
    *error = "\"" + std::string(text.substr(0, 40)) + "\" is not of the form \"include|exclude <name>: x,y x,y x,y\"";
    return std::nullopt;
  }
  std::string_view head = trim(text.substr(0, colon));
  std::string_view body = trim(text.substr(colon + 1));
  Zone z;
  const auto space = head.find_first_of(" \t");
  const std::string_view kind = head.substr(0, space);
  const std::string_view name = space == std::string_view::npos ? std::string_view{} : trim(head.substr(space));
  if (kind == "include") {
    z.exclude = false;
  } else if (kind == "exclude") {
    z.exclude = true;
  } else {
    *error = "zone kind \"" + std::string(kind.substr(0, 20)) + "\" is neither include nor exclude";
    return std::nullopt;
  }
  if (!valid_name(name)) {
    *error = "zone name \"" + std::string(name.substr(0, 40)) + "\" must be 1-32 of a-z 0-9 _ -";
    return std::nullopt;
  }
  z.name = std::string(name);
  const std::string where = "zone " + z.name + ": ";
  while (!body.empty()) {
    const auto end = body.find_first_of(" \t");
    const std::string_view pair = body.substr(0, end);
    body = end == std::string_view::npos ? std::string_view{} : trim(body.substr(end));
    if (z.polygon.size() == kMaxZonePoints) {
      *error = where + "more than " + std::to_string(kMaxZonePoints) + " corners";
      return std::nullopt;
    }
    const auto comma = pair.find(',');
    auto x = comma == std::string_view::npos ? std::nullopt : parse_coordinate(pair.substr(0, comma));
    auto y = comma == std::string_view::npos ? std::nullopt : parse_coordinate(pair.substr(comma + 1));
    if (!x || !y) {
      *error = where + "\"" + std::string(pair.substr(0, 40)) + "\" is not a corner \"x,y\"";
      return std::nullopt;
    }
    if (*x < 0 || *x > 1 || *y < 0 || *y > 1) {
      *error = where + "corner " + std::string(pair) + " is outside the picture (coordinates are fractions, 0 to 1)";
      return std::nullopt;
    }
    z.polygon.push_back({*x, *y});
  }
  if (z.polygon.size() < kMinZonePoints) {
    *error = where + "needs at least " + std::to_string(kMinZonePoints) + " corners";
    return std::nullopt;
  }
  if (auto problem = polygon_problem(z.polygon)) {
    *error = where + *problem;
    return std::nullopt;
  }
  return z;
}

}  // namespace

std::optional<std::vector<Zone>> parse_zones(std::string_view text, std::string* error) {
  std::vector<Zone> zones;
  std::set<std::string, std::less<>> names;
  while (!trim(text).empty()) {
    const auto semi = text.find(';');
    const std::string_view one = trim(text.substr(0, semi));
    text = semi == std::string_view::npos ? std::string_view{} : text.substr(semi + 1);
    if (one.empty()) continue;
    if (zones.size() == kMaxZones) {
      *error = "more than " + std::to_string(kMaxZones) + " zones";
      return std::nullopt;
    }
    auto z = parse_zone(one, error);
    if (!z) return std::nullopt;
    if (!names.insert(z->name).second) {
      *error = "zone name " + z->name + " is used twice";
      return std::nullopt;
    }
    zones.push_back(std::move(*z));
  }
  return zones;
}

std::string format_zones(const std::vector<Zone>& zones) {
  std::string out;
  for (const Zone& z : zones) {
    if (!out.empty()) out += "; ";
    out += z.exclude ? "exclude " : "include ";
    out += z.name;
    out += ':';
    for (const ZonePoint& p : z.polygon) {
      char buf[48];
      std::snprintf(buf, sizeof buf, " %.4f,%.4f", p.x, p.y);
      out += buf;
    }
  }
  return out;
}

bool zone_contains(const Zone& zone, double x, double y) {
  bool inside = false;
  const auto& p = zone.polygon;
  for (std::size_t i = 0, j = p.size() - 1; i < p.size(); j = i++) {
    if ((p[i].y > y) != (p[j].y > y) && x < (p[j].x - p[i].x) * (y - p[i].y) / (p[j].y - p[i].y) + p[i].x) {
      inside = !inside;
    }
  }
  return inside;
}

}  // namespace freehold
