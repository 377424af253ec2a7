// SPDX-License-Identifier: GPL-3.0-or-later
// Structured logging: one line per event, `level=… event=… key=value …` on stderr.
// Under systemd (JOURNAL_STREAM set) lines carry a `<N>` priority prefix and no timestamp, which journald adds.
// Never pass a secret as a field: there is no redaction layer below this one.
#pragma once

#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace freehold::log {

enum class Level { debug, info, notice, warn, error };

[[nodiscard]] std::optional<Level> parse_level(std::string_view name);
[[nodiscard]] std::string_view level_name(Level level);
void set_level(Level level);
[[nodiscard]] Level level();

// A key=value pair; values are quoted when they contain spaces, quotes or '='.
struct Field {
  std::string_view key;
  std::string value;

  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(v) {}
  Field(std::string_view k, bool v) : key(k), value(v ? "true" : "false") {}
  template <std::integral T>
  Field(std::string_view k, T v) : key(k), value(std::to_string(v)) {}
  Field(std::string_view k, double v);
};

void write(Level level, std::string_view event, std::initializer_list<Field> fields = {});

inline void debug(std::string_view event, std::initializer_list<Field> f = {}) { write(Level::debug, event, f); }
inline void info(std::string_view event, std::initializer_list<Field> f = {}) { write(Level::info, event, f); }
inline void notice(std::string_view event, std::initializer_list<Field> f = {}) { write(Level::notice, event, f); }
inline void warn(std::string_view event, std::initializer_list<Field> f = {}) { write(Level::warn, event, f); }
inline void error(std::string_view event, std::initializer_list<Field> f = {}) { write(Level::error, event, f); }

// Formats one line without writing it (used by write() and by tests).
[[nodiscard]] std::string format_line(Level level, std::string_view event, std::initializer_list<Field> fields,
                                      bool journal);

}  // namespace freehold::log
