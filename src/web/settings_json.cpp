// SPDX-License-Identifier: GPL-3.0-or-later
#include "web/settings_json.hpp"

#include <cstdint>

namespace freehold::web {
namespace {

using json = nlohmann::json;

void flatten(const json& j, const std::string& prefix, std::vector<std::pair<std::string, Value>>& out,
             std::vector<FieldError>& errors, int depth) {
  for (const auto& [k, v] : j.items()) {
    const std::string key = prefix.empty() ? k : prefix + "." + k;
    if (v.is_object() && depth < 4) {
      flatten(v, key, out, errors, depth + 1);
    } else if (v.is_boolean()) {
      out.emplace_back(key, v.get<bool>());
    } else if (v.is_number_integer() && !(v.is_number_unsigned() && v.get<std::uint64_t>() > INT64_MAX)) {
      out.emplace_back(key, v.get<std::int64_t>());
    } else if (v.is_string()) {
      out.emplace_back(key, v.get<std::string>());
    } else {
      errors.push_back({key, key + ": expected a boolean, an integer or a string"});
    }
  }
}

}  // namespace

json value_json(const Value& v) {
  return std::visit([](const auto& x) { return json(x); }, v);
}

json settings_json(const Config& config) {
  json values = json::object();
  for (const auto& spec : settings_schema()) values[spec.key] = value_json(shown_value(spec, config.get(spec.key)));
  return values;
}

void flatten_settings(const json& j, std::vector<std::pair<std::string, Value>>& out, std::vector<FieldError>& errors) {
  flatten(j, "", out, errors, 0);
}

}  // namespace freehold::web
