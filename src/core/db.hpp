// SPDX-License-Identifier: GPL-3.0-or-later
// A thin RAII layer over SQLite: the device's users and audit log live in one WAL-mode database. With
// synchronous=NORMAL a power cut keeps a consistent old-or-new state (it may lose the last commits, never mix
// them) and commits do not fsync on the I/O thread.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <utility>
#include <string>
#include <string_view>

namespace freehold {

class DbError : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Statement final {
 public:
  Statement(sqlite3* db, std::string_view sql);
  Statement(Statement&&) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  Statement& bind(int index, std::string_view text);
  Statement& bind(int index, std::int64_t v);
  Statement& bind_blob(int index, std::string_view bytes);
  // true while a row is available; throws DbError on failure.
  bool step();
  void run() { step(); }
  [[nodiscard]] std::string text(int col) const;
  [[nodiscard]] std::int64_t integer(int col) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

class Database final {
 public:
  // Opens (creating with mode 0600) and configures WAL + synchronous=NORMAL + a busy timeout.
  explicit Database(const std::filesystem::path& path);
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database();

  void exec(std::string_view sql);
  [[nodiscard]] Statement prepare(std::string_view sql) { return Statement(db_, sql); }

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace freehold
