// SPDX-License-Identifier: GPL-3.0-or-later
#include "core/log.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>

namespace freehold::log {
namespace {

std::atomic<Level> g_level{Level::info};
std::mutex g_write_mutex;

bool needs_quotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) return true;
  }
  return false;
}

void append_value(std::string& out, std::string_view v) {
  if (!needs_quotes(v)) {
    out += v;
    return;
  }
  out += '"';
  for (char c : v) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

// sd-daemon(3) priority prefixes.
int syslog_priority(Level l) {
  switch (l) {
    case Level::debug: return 7;
    case Level::info: return 6;
    case Level::notice: return 5;
    case Level::warn: return 4;
    case Level::error: return 3;
  }
  return 6;
}

}  // namespace

Field::Field(std::string_view k, double v) : key(k) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  value = buf;
}

std::optional<Level> parse_level(std::string_view name) {
  if (name == "debug") return Level::debug;
  if (name == "info") return Level::info;
  if (name == "notice") return Level::notice;
  if (name == "warn") return Level::warn;
  if (name == "error") return Level::error;
  return std::nullopt;
}

std::string_view level_name(Level level) {
  switch (level) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::notice: return "notice";
    case Level::warn: return "warn";
    case Level::error: return "error";
  }
  return "info";
}

void set_level(Level level) { g_level.store(level, std::memory_order_relaxed); }
Level level() { return g_level.load(std::memory_order_relaxed); }

std::string format_line(Level level, std::string_view event, std::initializer_list<Field> fields, bool journal) {
  std::string line;
  line.reserve(128);
  if (journal) {
    line += '<';
    line += static_cast<char>('0' + syslog_priority(level));
    line += '>';
  } else {
    auto now = std::chrono::system_clock::now();
    auto secs = std::chrono::system_clock::to_time_t(now);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
    line += buf;
  }
  line += "level=";
  line += level_name(level);
  line += " event=";
  append_value(line, event);
  for (const auto& f : fields) {
    line += ' ';
    line += f.key;
    line += '=';
    append_value(line, f.value);
  }
  line += '\n';
  return line;
}

void write(Level lvl, std::string_view event, std::initializer_list<Field> fields) {
  if (lvl < level()) return;
  static const bool journal = std::getenv("JOURNAL_STREAM") != nullptr;
  std::string line = format_line(lvl, event, fields, journal);
  std::lock_guard lock(g_write_mutex);
  // One write(2) per line so concurrent processes sharing stderr never interleave inside a line.
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n <= 0) break;
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace freehold::log
