// SPDX-License-Identifier: GPL-3.0-or-later
// The device configuration: one TOML file whose keys and rules come from the settings schema (settings.hpp).
// Parsing reports every problem with its line; unknown keys are rejected with the closest valid key.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/settings.hpp"

namespace freehold {

// A full set of setting values: every key of the schema is present (defaults fill the gaps).
class Config final {
 public:
  Config();  // all defaults

  [[nodiscard]] const Value& get(std::string_view key) const;  // key must be in the schema
  [[nodiscard]] bool get_bool(std::string_view key) const { return std::get<bool>(get(key)); }
  [[nodiscard]] std::int64_t get_int(std::string_view key) const { return std::get<std::int64_t>(get(key)); }
  [[nodiscard]] const std::string& get_string(std::string_view key) const { return std::get<std::string>(get(key)); }

  // Stores without validation: callers are the parser and the device model, which validate first.
  void set_validated(std::string_view key, Value value);

  [[nodiscard]] const std::map<std::string, Value, std::less<>>& values() const { return values_; }
  bool operator==(const Config&) const = default;

 private:
  std::map<std::string, Value, std::less<>> values_;
};

struct Diagnostic {
  int line = 0;  // 1-based; 0 when the problem has no position
  int column = 0;
  std::string message;
};

struct ConfigParse {
  Config config;
  std::vector<Diagnostic> errors;
  [[nodiscard]] bool ok() const { return errors.empty(); }
};

// Parses TOML text. Every problem is reported; `config` holds the valid values and defaults for the rest.
[[nodiscard]] ConfigParse parse_config(std::string_view text);

// "file:line: message", the form editors and CI understand.
[[nodiscard]] std::string format_diagnostic(std::string_view file, const Diagnostic& d);

// TOML text holding the values that differ from their defaults, grouped into tables.
[[nodiscard]] std::string serialize_config(const Config& config);

// Why a video stream may not be watched now (by RTSP, the live view, MJPEG), or nullopt if it may.
struct StreamRefusal {
  bool unknown = false;  // no such stream (otherwise: turned off)
  std::string code;      // "not_found", "privacy_mode", "stream_disabled"
  std::string message;
};
[[nodiscard]] std::optional<StreamRefusal> stream_refusal(const Config& config, std::string_view stream);

}  // namespace freehold
