// SPDX-License-Identifier: GPL-3.0-or-later
// The audit log: logins, failures, user and setting changes, kept in SQLite (newest 10 000 entries).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/db.hpp"

namespace freehold {

struct AuditEntry {
  std::int64_t id = 0;
  std::int64_t time = 0;  // Unix seconds, UTC
  std::string actor;      // "user:alice", "anonymous", "device"
  std::string source;     // peer IP, or the subsystem ("console", "config-file")
  std::string action;     // "login", "login_failed", "user_created", "setting_changed", ...
  std::string detail;     // never a secret
};

class Audit final {
 public:
  explicit Audit(Database& db);
  void record(std::string_view actor, std::string_view source, std::string_view action, std::string_view detail);
  [[nodiscard]] std::vector<AuditEntry> recent(int limit, std::int64_t before_id = 0);

 private:
  Database& db_;
  int inserts_since_trim_ = 0;
};

}  // namespace freehold
