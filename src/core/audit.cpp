// SPDX-License-Identifier: GPL-3.0-or-later
#include "core/audit.hpp"

#include <ctime>

#include "core/log.hpp"

namespace freehold {
namespace {
constexpr int kKeep = 10000;
}

Audit::Audit(Database& db) : db_(db) {
  db_.exec(
      "CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL, "
      "actor TEXT NOT NULL, source TEXT NOT NULL, action TEXT NOT NULL, detail TEXT NOT NULL)");
}

void Audit::record(std::string_view actor, std::string_view source, std::string_view action,
                   std::string_view detail) {
  log::info("audit", {{"actor", actor}, {"source", source}, {"action", action}, {"detail", detail}});
  try {
    db_.prepare("INSERT INTO audit (time, actor, source, action, detail) VALUES (?, ?, ?, ?, ?)")
        .bind(1, static_cast<std::int64_t>(std::time(nullptr)))
        .bind(2, actor)
        .bind(3, source)
        .bind(4, action)
        .bind(5, detail)
        .run();
    if (++inserts_since_trim_ >= 100) {
      inserts_since_trim_ = 0;
      db_.prepare("DELETE FROM audit WHERE id <= (SELECT MAX(id) FROM audit) - ?").bind(1, std::int64_t{kKeep}).run();
    }
  } catch (const DbError& e) {
    log::error("audit.write_failed", {{"error", e.what()}});
  }
}

std::vector<AuditEntry> Audit::recent(int limit, std::int64_t before_id) {
  std::vector<AuditEntry> out;
  auto st = db_.prepare(
      "SELECT id, time, actor, source, action, detail FROM audit WHERE (? = 0 OR id < ?) ORDER BY id DESC LIMIT ?");
  st.bind(1, before_id).bind(2, before_id).bind(3, static_cast<std::int64_t>(limit));
  while (st.step()) {
    out.push_back({st.integer(0), st.integer(1), st.text(2), st.text(3), st.text(4), st.text(5)});
  }
  return out;
}

}  // namespace freehold
