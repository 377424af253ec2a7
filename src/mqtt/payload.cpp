// SPDX-License-Identifier: GPL-3.0-or-later
#include "mqtt/payload.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

namespace freehold::mqtt {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// A double that is a whole number within int64's range (casting anything else is undefined behaviour).
std::optional<std::int64_t> whole(double d) {
  if (!(d >= -9.0e18 && d <= 9.0e18) || std::floor(d) != d) return std::nullopt;
  return static_cast<std::int64_t>(d);
}

Command refuse(std::string why) { return Command{std::nullopt, false, std::move(why)}; }

// A JSON scalar as the text form the plain payloads use.
std::optional<std::string> scalar_text(const nlohmann::json& j, std::string* error) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_boolean()) return std::string(j.get<bool>() ? "ON" : "OFF");
  if (j.is_number_integer()) return j.dump();
  if (j.is_number_float()) {
    auto n = whole(j.get<double>());
    if (!n) {
      *error = "expected a whole number, got " + j.dump();
      return std::nullopt;
    }
    return std::to_string(*n);
  }
  *error = "expected a value (text, number or true/false), got JSON " + std::string(j.type_name());
  return std::nullopt;
}

}  // namespace

std::string_view platform(Component c) {
  return c == Component::stream ? "switch" : component_name(c);
}

std::string state_text(const Value& v) {
  if (const bool* b = std::get_if<bool>(&v)) return *b ? "ON" : "OFF";
  if (const auto* i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
  return std::get<std::string>(v);
}

Command parse_command(const Entity& entity, const SettingSpec* spec, std::string_view payload) {
  if (payload.size() > kMaxCommandBytes) {
    return refuse("payload of " + std::to_string(payload.size()) + " bytes; a command is at most " +
                  std::to_string(kMaxCommandBytes));
  }
  std::string text(trim(payload));
  if (!text.empty() && (text.front() == '{' || text.front() == '[' || text.front() == '"')) {
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded()) return refuse("malformed JSON");
    if (j.is_object()) {
      if (j.size() != 1 || !j.contains("value")) return refuse("a JSON object command has exactly one key, \"value\"");
      j = j["value"];
    }
    std::string error;
    auto s = scalar_text(j, &error);
    if (!s) return refuse(error);
    text = *s;
  }
  if (entity.component == Component::button) {
    if (iequals(text, "PRESS")) return Command{std::nullopt, true, ""};
    return refuse("a button takes PRESS");
  }
  if (!spec) return refuse("'" + entity.object_id + "' is read-only");
  switch (spec->kind) {
    case Kind::boolean:
      if (iequals(text, "ON") || iequals(text, "true") || text == "1") return Command{Value{true}, false, ""};
      if (iequals(text, "OFF") || iequals(text, "false") || text == "0") return Command{Value{false}, false, ""};
      return refuse("expected ON or OFF");
    case Kind::integer: {
      std::int64_t n = 0;
      const char* end = text.data() + text.size();
      auto [p, ec] = std::from_chars(text.data(), end, n);
      if (ec == std::errc::result_out_of_range) return refuse("'" + text + "' is out of range");
      if (text.empty() || ec != std::errc() || p != end) {
        // A float that is a whole number ("50.0", from sliders) is that number.
        double d = 0;
        auto [q, ec2] = std::from_chars(text.data(), end, d);
        if (!text.empty() && ec2 == std::errc() && q == end) {
          if (auto w = whole(d)) return Command{Value{*w}, false, ""};
        }
        return refuse("expected a whole number, got '" + text.substr(0, 64) + "'");
      }
      return Command{Value{n}, false, ""};
    }
    case Kind::choice:
    case Kind::string:
      return Command{Value{text}, false, ""};
  }
  return refuse("unsupported setting type");
}

}  // namespace freehold::mqtt
