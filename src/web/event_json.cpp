// SPDX-License-Identifier: GPL-3.0-or-later
#include "web/event_json.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace freehold::web {

using nlohmann::json;
using namespace std::chrono;

namespace {

constexpr std::array<std::string_view, 4> kTypes = {event_type::motion_start, event_type::motion_end,
                                                    event_type::person, event_type::tamper};

// The latest time accepted (2261-12-31T23:59:59Z): system_clock's 64-bit nanoseconds end in April 2262.
constexpr int kLatestYear = 2261;
constexpr seconds kLatest{9214646399};

// Quoted for an error message: cut short (never echo a huge parameter) and printable ASCII only (the message goes
// into JSON, which must be valid UTF-8).
std::string shown(std::string_view s) {
  constexpr size_t kShown = 40;
  std::string out = "'";
  for (char c : s.substr(0, kShown)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out + (s.size() > kShown ? "...'" : "'");
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Exactly `width` digits at `pos`.
std::optional<int> digits(std::string_view s, size_t pos, size_t width) {
  if (pos + width > s.size() || !all_digits(s.substr(pos, width))) return std::nullopt;
  int v = 0;
  std::from_chars(s.data() + pos, s.data() + pos + width, v);
  return v;
}

}  // namespace

std::string format_utc_ms(system_clock::time_point t) {
  const auto ms = floor<milliseconds>(t);
  const auto day = floor<days>(ms);
  const year_month_day ymd{day};
  const hh_mm_ss hms{ms - day};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()), static_cast<int>(hms.subseconds().count()));
  return buf;
}

std::optional<system_clock::time_point> parse_time(std::string_view text, std::string* error) {
  const std::string bad = shown(text) +
                          " is not a UTC time: use ISO-8601 like 2026-11-24T10:00:00Z (a fraction "
                          "of a second is optional) or Unix milliseconds like 1795514400000";
  if (all_digits(text)) {
    std::int64_t v = 0;
    if (text.size() > 15 || std::from_chars(text.data(), text.data() + text.size(), v).ec != std::errc() ||
        v >= (kLatest.count() + 1) * 1000) {
      *error = shown(text) + " is out of range: Unix milliseconds up to the year " + std::to_string(kLatestYear);
      return std::nullopt;
    }
    return system_clock::time_point(milliseconds(v));
  }
  // YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z
  auto y = digits(text, 0, 4), mo = digits(text, 5, 2), d = digits(text, 8, 2), h = digits(text, 11, 2),
       mi = digits(text, 14, 2), s = digits(text, 17, 2);
  if (text.size() < 20 || !y || !mo || !d || !h || !mi || !s || text[4] != '-' || text[7] != '-' || text[10] != 'T' ||
      text[13] != ':' || text[16] != ':' || text.back() != 'Z') {
    *error = bad;
    return std::nullopt;
  }
  std::string_view frac = text.substr(19, text.size() - 20);
  nanoseconds sub{0};
  if (!frac.empty()) {
    frac.remove_prefix(1);
    if (text[19] != '.' || frac.empty() || frac.size() > 9 || !all_digits(frac)) {
      *error = bad;
      return std::nullopt;
    }
    std::int64_t n = 0;
    std::from_chars(frac.data(), frac.data() + frac.size(), n);
    for (size_t i = frac.size(); i < 9; ++i) n *= 10;
    sub = nanoseconds(n);
  }
  const year_month_day ymd{year{*y}, month{static_cast<unsigned>(*mo)}, day{static_cast<unsigned>(*d)}};
  if (!ymd.ok() || *h > 23 || *mi > 59 || *s > 59) {
    *error = shown(text) + " is not a valid date and time";
    return std::nullopt;
  }
  // In seconds first: the clock counts nanoseconds in 64 bits, which end in 2262.
  const sys_seconds t = sys_days{ymd} + hours(*h) + minutes(*mi) + seconds(*s);
  if (t.time_since_epoch() < seconds(0) || t.time_since_epoch() > kLatest) {
    *error = shown(text) + " is out of range: from 1970 to " + std::to_string(kLatestYear);
    return std::nullopt;
  }
  return system_clock::time_point(duration_cast<system_clock::duration>(t.time_since_epoch() + sub));
}

json event_json(const Event& e, bool has_snapshot) {
  // Four decimals (a tenth of a pixel at 4K): a float printed as a double would read 0.10000000149011612.
  auto fraction = [](float v) { return std::round(static_cast<double>(v) * 1e4) / 1e4; };
  json objects = json::array();
  for (const auto& o : e.objects) {
    objects.push_back(
        {{"label", o.label},
         {"confidence", fraction(o.confidence)},
         {"box",
          {{"x", fraction(o.box.x)}, {"y", fraction(o.box.y)}, {"w", fraction(o.box.w)}, {"h", fraction(o.box.h)}}}});
  }
  json j{{"id", e.id},         {"type", e.type},   {"time", format_utc_ms(e.time)},
         {"source", e.source}, {"zones", e.zones}, {"objects", std::move(objects)}};
  if (e.related != 0) j["related"] = e.related;
  if (e.duration_ms != 0) j["duration_ms"] = e.duration_ms;
  if (!e.detail.empty()) j["detail"] = e.detail;
  j["snapshot"] = has_snapshot ? json("/api/v1/events/" + std::to_string(e.id) + "/snapshot") : json(nullptr);
  return j;
}

std::optional<std::int64_t> parse_event_id(std::string_view text) {
  std::int64_t v = 0;
  if (!all_digits(text) || text.size() > 18) return std::nullopt;
  std::from_chars(text.data(), text.data() + text.size(), v);
  if (v <= 0) return std::nullopt;
  return v;
}

std::optional<EventStore::Query> parse_history_query(const Request& req, std::string* error) {
  EventStore::Query q;
  if (auto since = req.query_param("since")) {
    std::string why;
    q.since = parse_time(*since, &why);
    if (!q.since) {
      *error = "since: " + why;
      return std::nullopt;
    }
  }
  if (auto types = req.query_param("type")) {
    std::string_view rest = *types;
    for (;;) {
      const auto comma = rest.find(',');
      const std::string_view t = rest.substr(0, comma);
      if (std::find(kTypes.begin(), kTypes.end(), t) == kTypes.end()) {
        *error = "type: unknown event type " + shown(t) + "; known: motion_start, motion_end, person, tamper";
        return std::nullopt;
      }
      if (std::find(q.types.begin(), q.types.end(), t) == q.types.end()) q.types.emplace_back(t);
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  if (auto limit = req.query_param("limit")) {
    int v = 0;
    if (all_digits(*limit) && limit->size() <= 3) std::from_chars(limit->data(), limit->data() + limit->size(), v);
    if (v < 1 || v > kMaxHistoryPage) {
      *error = "limit: " + shown(*limit) + " is not a whole number from 1 to " + std::to_string(kMaxHistoryPage);
      return std::nullopt;
    }
    q.limit = v;
  }
  if (auto before = req.query_param("before")) {
    auto id = parse_event_id(*before);
    if (!id) {
      *error = "before: " + shown(*before) + " is not an event id (a positive whole number)";
      return std::nullopt;
    }
    q.before_id = *id;
  }
  return q;
}

}  // namespace freehold::web
