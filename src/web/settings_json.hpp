// SPDX-License-Identifier: GPL-3.0-or-later
// Settings as JSON, the one form the REST API and MQTT's config RPCs share: values out (secrets masked), and
// nested or dotted JSON objects in, flattened to the dotted keys the device model takes.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "core/config.hpp"
#include "core/device_model.hpp"

namespace freehold::web {

[[nodiscard]] nlohmann::json value_json(const Value& v);

// Every setting of `config` by dotted key, as it may be shown (secrets masked).
[[nodiscard]] nlohmann::json settings_json(const Config& config);

// {"stream": {"main": {"fps": 10}}} and {"stream.main.fps": 10} alike; values of other JSON types are errors.
void flatten_settings(const nlohmann::json& j, std::vector<std::pair<std::string, Value>>& out,
                      std::vector<FieldError>& errors);

}  // namespace freehold::web
