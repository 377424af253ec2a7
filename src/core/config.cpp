// SPDX-License-Identifier: GPL-3.0-or-later
#include "core/config.hpp"

#include <algorithm>
#include <sstream>
#include <stdexcept>
#include <toml++/toml.h>

namespace freehold {
namespace {

bool is_table_prefix(std::string_view key) {
  for (const auto& s : settings_schema()) {
    if (s.key.size() > key.size() && s.key.starts_with(key) && s.key[key.size()] == '.') return true;
  }
  return false;
}

std::string_view toml_type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a number with a fraction";
    case toml::node_type::boolean: return "a boolean";
    default: return "a date or time";
  }
}

std::optional<Value> to_value(const toml::node& n) {
  if (auto v = n.value_exact<bool>()) return Value{*v};
  if (auto v = n.value_exact<std::int64_t>()) return Value{*v};
  if (auto v = n.value_exact<std::string>()) return Value{*v};
  return std::nullopt;
}

Diagnostic at(const toml::node& n, std::string message) {
  const auto& src = n.source();
  return Diagnostic{static_cast<int>(src.begin.line), static_cast<int>(src.begin.column), std::move(message)};
}

void walk(const toml::table& table, const std::string& prefix, ConfigParse& out) {
  for (const auto& [k, node] : table) {
    const std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    const SettingSpec* spec = find_setting(key);
    if (spec == nullptr) {
      if (is_table_prefix(key)) {
        if (const auto* sub = node.as_table()) {
          walk(*sub, key, out);
        } else {
          out.errors.push_back(at(node, "'" + key + "' is a table of settings, not " +
                                            std::string(toml_type_name(node)) + " (write [" + key + "])"));
        }
        continue;
      }
      if (const auto* sub = node.as_table()) {  // an unknown table: report each key in it, with suggestions
        walk(*sub, key, out);
        continue;
      }
      std::string msg = "unknown key '" + key + "'";
      if (auto s = suggest_setting(key)) msg += "; did you mean '" + *s + "'?";
      out.errors.push_back(at(node, std::move(msg)));
      continue;
    }
    auto value = to_value(node);
    const bool type_ok = value && (spec->kind == Kind::boolean ? node.is_boolean()
                                   : spec->kind == Kind::integer ? node.is_integer()
                                                                 : node.is_string());
    if (!type_ok) {
      out.errors.push_back(at(node, key + ": expected " + std::string(kind_name(spec->kind)) + ", got " +
                                        std::string(toml_type_name(node))));
      continue;
    }
    if (auto problem = validate_setting(*spec, *value)) {
      out.errors.push_back(at(node, *problem));
      continue;
    }
    out.config.set_validated(key, std::move(*value));
  }
}

}  // namespace

Config::Config() {
  for (const auto& s : settings_schema()) values_.emplace(s.key, s.default_value);
}

const Value& Config::get(std::string_view key) const {
  auto it = values_.find(key);
  if (it == values_.end()) throw std::out_of_range("no setting named " + std::string(key));
  return it->second;
}

void Config::set_validated(std::string_view key, Value value) {
  auto it = values_.find(key);
  if (it == values_.end()) throw std::out_of_range("no setting named " + std::string(key));
  it->second = std::move(value);
}

ConfigParse parse_config(std::string_view text) {
  ConfigParse out;
  try {
    toml::table root = toml::parse(text);
    walk(root, "", out);
  } catch (const toml::parse_error& e) {
    const auto& src = e.source();
    out.errors.push_back(Diagnostic{static_cast<int>(src.begin.line), static_cast<int>(src.begin.column),
                                    "TOML syntax: " + std::string(e.description())});
  }
  // Tables iterate in key order; report in file order.
  std::stable_sort(out.errors.begin(), out.errors.end(),
                   [](const Diagnostic& a, const Diagnostic& b) { return a.line < b.line; });
  return out;
}

std::string format_diagnostic(std::string_view file, const Diagnostic& d) {
  std::string s(file);
  if (d.line > 0) s += ":" + std::to_string(d.line);
  s += ": " + d.message;
  return s;
}

std::string serialize_config(const Config& config) {
  toml::table root;
  for (const auto& spec : settings_schema()) {
    const Value& v = config.get(spec.key);
    if (v == spec.default_value) continue;
    // Walk/create the tables of the dotted path.
    toml::table* table = &root;
    std::string_view rest = spec.key;
    for (auto dot = rest.find('.'); dot != std::string_view::npos; dot = rest.find('.')) {
      auto [it, inserted] = table->insert(rest.substr(0, dot), toml::table{});
      table = it->second.as_table();
      rest.remove_prefix(dot + 1);
    }
    std::visit([&](const auto& x) { table->insert_or_assign(rest, x); }, v);
  }
  std::ostringstream os;
  os << "# Freehold device configuration. Written by freeholdd; comments are not preserved.\n"
        "# Every key and its range: freeholdd --help-config\n\n";
  os << root << "\n";
  return os.str();
}

std::optional<StreamRefusal> stream_refusal(const Config& config, std::string_view stream) {
  const std::string enabled = "stream." + std::string(stream) + ".enabled";
  if (find_setting(enabled) == nullptr) return StreamRefusal{true, "not_found", "no such stream; try main or sub"};
  if (config.get_bool("privacy.enabled")) {
    return StreamRefusal{false, "privacy_mode", "privacy mode is on: streams are off"};
  }
  if (!config.get_bool(enabled)) {
    return StreamRefusal{false, "stream_disabled", "the " + std::string(stream) + " stream is disabled"};
  }
  return std::nullopt;
}

}  // namespace freehold
