// SPDX-License-Identifier: GPL-3.0-or-later
// The settings schema: every configurable value of the device, its type, default, range and who may change it.
// This table is the one place those rules live; the config parser, the device model and every protocol adapter
// (REST, ONVIF, MQTT, web UI) validate against it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/role.hpp"

namespace freehold {

using Value = std::variant<bool, std::int64_t, std::string>;

enum class Kind { boolean, integer, string, choice };

struct SettingSpec {
  std::string key;  // dotted path, e.g. "stream.main.fps"; the TOML table is everything before the last dot
  Kind kind = Kind::string;
  Value default_value;
  std::int64_t min = 0;  // integer range, or string length range
  std::int64_t max = 0;
  std::vector<std::string> choices;  // Kind::choice
  std::string unit;
  std::string help;
  Role write_role = Role::admin;  // least role allowed to change it over the network
  bool restart_required = false;  // takes effect on the next start (listening sockets, ...)
  bool secret = false;            // a credential: never shown, logged or audited (see shown_value)
  // Extra rule beyond type and range; returns the problem, phrased to follow "<key>: ".
  std::function<std::optional<std::string>(const Value&)> check;
};

[[nodiscard]] const std::vector<SettingSpec>& settings_schema();
[[nodiscard]] const SettingSpec* find_setting(std::string_view key);

// Checks type, range and extra rule; returns a message of the form "<key>: <problem>".
[[nodiscard]] std::optional<std::string> validate_setting(const SettingSpec& spec, const Value& value);

// The closest known key to a misspelt one, if any is close enough to be a plausible typo.
[[nodiscard]] std::optional<std::string> suggest_setting(std::string_view unknown);

[[nodiscard]] std::string_view kind_name(Kind kind);
[[nodiscard]] std::string value_to_string(const Value& v);

// What a secret setting shows instead of its value. Writing the mask back means "unchanged".
inline constexpr std::string_view kSecretMask = "********";
// The value as it may be shown (API, event stream, logs, audit): the mask for a secret that is set.
[[nodiscard]] Value shown_value(const SettingSpec& spec, const Value& v);
[[nodiscard]] std::string display_value(const SettingSpec& spec, const Value& v);

}  // namespace freehold
