// SPDX-License-Identifier: GPL-3.0-or-later
// What travels in the state and command topics (docs/mqtt.md, "States and commands"): an entity's state as text,
// and the parser of command payloads, which come from the network (fuzzed by mqtt_command_fuzz). Ranges and
// choices are not checked here: the device model's validated setter is the one place that does.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/device_model.hpp"

namespace freehold::mqtt {

inline constexpr size_t kMaxCommandBytes = 4096;

// The Home Assistant platform an entity is published as (a stream is a switch).
[[nodiscard]] std::string_view platform(Component c);

// ON/OFF for booleans, decimal integers, text as it is.
[[nodiscard]] std::string state_text(const Value& v);

struct Command {
  std::optional<Value> value;  // set: the value to hand to the device model
  bool press = false;          // a button was pressed
  std::string error;           // neither: why the payload was refused
};

// Reads a command for `entity` (bound to `spec`'s setting, or a button): plain text (ON, OFF, 42, night, PRESS),
// a JSON value ("night", 42, true) or a JSON object {"value": ...}.
[[nodiscard]] Command parse_command(const Entity& entity, const SettingSpec* spec, std::string_view payload);

}  // namespace freehold::mqtt
