// SPDX-License-Identifier: GPL-3.0-or-later
#include "core/ptz_presets.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace freehold {
namespace {

std::string escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '%') {
      out += "%25";
    } else if (c == ',') {
      out += "%2C";
    } else if (c == ';') {
      out += "%3B";
    } else {
      out += c;
    }
  }
  return out;
}

std::optional<std::string> unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    const auto code = s.substr(i, 3);
    if (code == "%25") {
      out += '%';
    } else if (code == "%2C") {
      out += ',';
    } else if (code == "%3B") {
      out += ';';
    } else {
      return std::nullopt;
    }
    i += 2;
  }
  return out;
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", v);
  std::string s(buf);
  while (s.size() > 1 && s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  if (s == "-0") s = "0";
  return s;
}

std::optional<double> parse_number(std::string_view s, double min, double max) {
  double v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v) || v < min || v > max) return std::nullopt;
  return v;
}

}  // namespace

PtzPosition clamp_position(PtzPosition p) {
  const auto c = [](double v, double lo, double hi) { return std::isnan(v) ? 0.0 : std::clamp(v, lo, hi); };
  return {c(p.pan, -1, 1), c(p.tilt, -1, 1), c(p.zoom, 0, 1)};
}

bool valid_preset_token(std::string_view t) {
  if (t.empty() || t.size() > 64) return false;
  return std::all_of(t.begin(), t.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

std::optional<std::string> check_preset_name(std::string_view name) {
  if (name.size() > kMaxPresetName) return "a preset name is at most " + std::to_string(kMaxPresetName) + " bytes";
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) return "a preset name must not contain control characters";
  }
  return std::nullopt;
}

std::string new_preset_token(const std::vector<PtzPreset>& presets) {
  for (size_t n = 1;; ++n) {
    std::string t = "Preset_" + std::to_string(n);
    if (std::none_of(presets.begin(), presets.end(), [&](const PtzPreset& p) { return p.token == t; })) return t;
  }
}

std::string format_presets(const std::vector<PtzPreset>& presets) {
  std::string out;
  for (const auto& p : presets) {
    if (!out.empty()) out += ';';
    out += p.token + ',' + number(p.position.pan) + ',' + number(p.position.tilt) + ',' + number(p.position.zoom) +
           ',' + escape(p.name);
  }
  return out;
}

std::optional<std::vector<PtzPreset>> parse_presets(std::string_view text, std::string* error) {
  std::vector<PtzPreset> out;
  const auto fail = [&](size_t n, const std::string& why) {
    *error = "preset " + std::to_string(n + 1) + ": " + why;
    return std::nullopt;
  };
  size_t i = 0;
  while (i < text.size()) {
    const size_t end = std::min(text.find(';', i), text.size());
    const std::string_view entry = text.substr(i, end - i);
    i = end + 1;
    const size_t n = out.size();
    if (n >= kMaxPresets) {
      *error = "at most " + std::to_string(kMaxPresets) + " presets";
      return std::nullopt;
    }
    std::string_view f[5];
    std::string_view rest = entry;
    for (int k = 0; k < 4; ++k) {
      const auto comma = rest.find(',');
      if (comma == std::string_view::npos) return fail(n, "expected token,pan,tilt,zoom,name");
      f[k] = rest.substr(0, comma);
      rest.remove_prefix(comma + 1);
    }
    f[4] = rest;
    PtzPreset p;
    if (!valid_preset_token(f[0])) return fail(n, "token must be 1 to 64 of A-Z a-z 0-9 _ -");
    p.token = std::string(f[0]);
    const auto pan = parse_number(f[1], -1, 1), tilt = parse_number(f[2], -1, 1), zoom = parse_number(f[3], 0, 1);
    if (!pan || !tilt) return fail(n, "pan and tilt must be numbers in -1..1");
    if (!zoom) return fail(n, "zoom must be a number in 0..1");
    p.position = {*pan, *tilt, *zoom};
    auto name = unescape(f[4]);
    if (!name) return fail(n, "bad %-escape in the name (only %25, %2C, %3B)");
    if (auto why = check_preset_name(*name)) return fail(n, *why);
    p.name = std::move(*name);
    if (std::any_of(out.begin(), out.end(), [&](const PtzPreset& q) { return q.token == p.token; })) {
      return fail(n, "token " + p.token + " is used twice");
    }
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace freehold
