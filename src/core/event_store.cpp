// SPDX-License-Identifier: GPL-3.0-or-later
#include "core/event_store.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>
#include <utility>

#include "core/atomic_file.hpp"
#include "core/db.hpp"
#include "core/log.hpp"

namespace freehold {
namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::system_clock;

namespace {

constexpr size_t kMaxSnapshotFile = 32u << 20;              // what snapshot() reads back; far above any camera's JPEG
constexpr auto kRetentionEvery = std::chrono::minutes(10);  // age retention also runs when no event comes

std::int64_t to_ms(system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

system_clock::time_point from_ms(std::int64_t ms) {
  return system_clock::time_point(std::chrono::milliseconds(ms));
}

std::string objects_text(const std::vector<Detection>& objects) {
  json arr = json::array();
  for (const auto& d : objects) arr.push_back({d.label, d.confidence, d.box.x, d.box.y, d.box.w, d.box.h});
  return arr.dump();
}

// The database is ours, but a damaged file must not crash the reader: anything unexpected is skipped.
std::vector<Detection> objects_from(const std::string& text) {
  std::vector<Detection> out;
  json arr = json::parse(text, nullptr, false);
  if (!arr.is_array()) return out;
  for (const auto& o : arr) {
    if (!o.is_array() || o.size() != 6 || !o[0].is_string()) continue;
    bool numbers = true;
    for (size_t i = 1; i < 6; ++i) numbers = numbers && o[i].is_number();
    if (!numbers) continue;
    out.push_back({o[0].get<std::string>(), o[1].get<float>(),
                   Box{o[2].get<float>(), o[3].get<float>(), o[4].get<float>(), o[5].get<float>()}});
  }
  return out;
}

std::vector<std::string> zones_from(const std::string& text) {
  std::vector<std::string> out;
  json arr = json::parse(text, nullptr, false);
  if (!arr.is_array()) return out;
  for (const auto& z : arr) {
    if (z.is_string()) out.push_back(z.get<std::string>());
  }
  return out;
}

// "<id>.jpg" → id; 0 for anything else.
std::int64_t id_of_snapshot_file(const std::string& name) {
  if (!name.ends_with(".jpg")) return 0;
  std::int64_t id = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + name.size() - 4, id);
  return ec == std::errc() && end == name.data() + name.size() - 4 ? id : 0;
}

}  // namespace

std::unique_ptr<EventStore> EventStore::open(const fs::path& db_path, const fs::path& snapshot_dir, Limits limits,
                                             std::string* error, size_t queue_capacity) {
  std::error_code ec;
  fs::create_directories(snapshot_dir, ec);
  if (ec || !fs::is_directory(snapshot_dir)) {
    *error = "cannot create the snapshot directory " + snapshot_dir.string() + ": " +
             (ec ? ec.message() : "not a directory");
    return nullptr;
  }
  if (::chmod(snapshot_dir.c_str(), 0700) != 0) {
    *error = "cannot make the snapshot directory " + snapshot_dir.string() + " private (mode 0700)";
    return nullptr;
  }
  try {
    auto writer = std::make_unique<Database>(db_path);
    writer->exec(
        "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, type TEXT NOT NULL, "
        "source TEXT NOT NULL, zones TEXT NOT NULL, objects TEXT NOT NULL, related INTEGER NOT NULL, "
        "duration_ms INTEGER NOT NULL, snapshot_bytes INTEGER NOT NULL, detail TEXT NOT NULL);"
        "CREATE INDEX IF NOT EXISTS events_time ON events (time_ms);"
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);");
    auto reader = std::make_unique<Database>(db_path);
    return std::make_unique<EventStore>(Private{}, std::move(writer), std::move(reader), snapshot_dir, limits,
                                        queue_capacity);
  } catch (const DbError& e) {
    *error = "event history " + db_path.string() + ": " + e.what();
    return nullptr;
  }
}

EventStore::EventStore(Private, std::unique_ptr<Database> writer, std::unique_ptr<Database> reader,
                       fs::path snapshot_dir, Limits limits, size_t queue_capacity)
    : writer_db_(std::move(writer)),
      reader_db_(std::move(reader)),
      snapshot_dir_(std::move(snapshot_dir)),
      capacity_(std::max<size_t>(queue_capacity, 1)),
      limits_(limits) {
  auto st = writer_db_->prepare(
      "SELECT COALESCE((SELECT MAX(id) FROM events), 0), COALESCE((SELECT value FROM meta WHERE key = 'last_id'), 0),"
      " (SELECT COUNT(*) FROM events), COALESCE((SELECT SUM(snapshot_bytes) FROM events), 0)");
  st.step();
  last_id_ = std::max(st.integer(0), st.integer(1));
  rows_ = st.integer(2);
  snapshot_bytes_ = st.integer(3);

  // A power cut between writing a snapshot and committing its row leaves a file nobody refers to.
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(snapshot_dir_, ec)) {
    const std::string name = entry.path().filename().string();
    const std::int64_t id = id_of_snapshot_file(name);
    bool orphan = name.starts_with(".") && name.find(".jpg.tmp") != std::string::npos;
    if (id > 0) {
      auto q = writer_db_->prepare("SELECT snapshot_bytes FROM events WHERE id = ?");
      q.bind(1, id);
      orphan = !q.step() || q.integer(0) == 0;
    }
    if (orphan) fs::remove(entry.path(), ec);
  }
  thread_ = std::thread([this] { run(); });
}

EventStore::~EventStore() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

bool EventStore::add(const Event& e) {
  std::int64_t seen = last_id_.load();
  while (e.id > seen && !last_id_.compare_exchange_weak(seen, e.id)) {
  }
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() >= capacity_) {
      dropped_.fetch_add(1);
      ++dropped_in_burst_;
      if (!dropping_) {
        dropping_ = true;
        log::warn("events.store_dropping",
                  {{"queue", capacity_},
                   {"id", e.id},
                   {"reason", "the disk is slower than the events; dropping until it catches up"}});
      }
      return false;
    }
    queue_.push_back(e);
    ++enqueued_;
  }
  wake_.notify_one();
  return true;
}

void EventStore::set_limits(Limits limits) {
  {
    std::lock_guard lock(mutex_);
    limits_ = limits;
    retention_due_ = true;
  }
  wake_.notify_one();
}

bool EventStore::flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  const std::uint64_t target = enqueued_;
  return written_.wait_for(lock, timeout, [&] { return done_ >= target; });
}

void EventStore::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    // A timeout is the periodic age retention: write_batch runs retention either way.
    (void)wake_.wait_for(lock, kRetentionEvery, [&] { return stop_ || !queue_.empty() || retention_due_; });
    const bool last = stop_;  // the destructor runs: nothing is added any more, this batch is the final one
    std::deque<Event> batch = std::exchange(queue_, {});
    const Limits limits = limits_;
    retention_due_ = false;
    if (dropping_ && (!batch.empty() || last)) {
      log::warn("events.store_dropped", {{"events", dropped_in_burst_}, {"total", dropped_.load()}});
      dropping_ = false;
      dropped_in_burst_ = 0;
    }
    lock.unlock();
    write_batch(batch, limits);
    lock.lock();
    done_ += batch.size();
    written_.notify_all();
    if (last) break;
  }
}

fs::path EventStore::snapshot_path(std::int64_t id) const {
  return snapshot_dir_ / (std::to_string(id) + ".jpg");
}

void EventStore::write_batch(std::deque<Event>& batch, const Limits& limits) {
  try {
    writer_db_->exec("BEGIN");
    for (const Event& e : batch) {
      std::int64_t bytes = 0;
      if (e.snapshot && !e.snapshot->empty() &&
          static_cast<std::int64_t>(e.snapshot->size()) <= limits.snapshot_max_bytes) {
        const std::string_view jpeg(reinterpret_cast<const char*>(e.snapshot->data()), e.snapshot->size());
        if (auto err = write_file_atomic(snapshot_path(e.id), jpeg, 0600)) {
          log::error("events.snapshot_write_failed", {{"id", e.id}, {"error", *err}});
        } else {
          bytes = static_cast<std::int64_t>(jpeg.size());
        }
      }
      json zones = e.zones;
      writer_db_->prepare("INSERT OR REPLACE INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
          .bind(1, e.id)
          .bind(2, to_ms(e.time))
          .bind(3, e.type)
          .bind(4, e.source)
          .bind(5, zones.dump())
          .bind(6, objects_text(e.objects))
          .bind(7, e.related)
          .bind(8, e.duration_ms)
          .bind(9, bytes)
          .bind(10, e.detail)
          .run();
      ++rows_;
      snapshot_bytes_ += bytes;
    }
    writer_db_->prepare("INSERT OR REPLACE INTO meta VALUES ('last_id', ?)").bind(1, last_id_.load()).run();
    apply_retention(limits);
    writer_db_->exec("COMMIT");
  } catch (const DbError& e) {
    log::error("events.store_failed", {{"events", batch.size()}, {"error", e.what()}});
    try {
      writer_db_->exec("ROLLBACK");
    } catch (const DbError&) {
    }
    // Recount from what the database really holds.
    try {
      auto st = writer_db_->prepare("SELECT COUNT(*), COALESCE(SUM(snapshot_bytes), 0) FROM events");
      st.step();
      rows_ = st.integer(0);
      snapshot_bytes_ = st.integer(1);
    } catch (const DbError&) {
    }
  }
}

// Rows as (id, snapshot bytes): their snapshot files go first, then the rows.
void EventStore::delete_rows(const std::vector<std::pair<std::int64_t, std::int64_t>>& rows) {
  for (const auto& [id, bytes] : rows) {
    if (bytes > 0) {
      std::error_code ec;
      fs::remove(snapshot_path(id), ec);
      snapshot_bytes_ -= bytes;
    }
    writer_db_->prepare("DELETE FROM events WHERE id = ?").bind(1, id).run();
    --rows_;
  }
}

void EventStore::apply_retention(const Limits& limits) {
  auto collect = [](Statement& st) {
    std::vector<std::pair<std::int64_t, std::int64_t>> rows;
    while (st.step()) rows.emplace_back(st.integer(0), st.integer(1));
    return rows;
  };
  const std::int64_t oldest =
      to_ms(system_clock::now()) - std::chrono::duration_cast<std::chrono::milliseconds>(limits.max_age).count();
  auto old = writer_db_->prepare("SELECT id, snapshot_bytes FROM events WHERE time_ms < ?");
  old.bind(1, oldest);
  delete_rows(collect(old));
  if (rows_ > limits.max_count) {
    auto excess = writer_db_->prepare("SELECT id, snapshot_bytes FROM events ORDER BY id LIMIT ?");
    excess.bind(1, rows_ - limits.max_count);
    delete_rows(collect(excess));
  }
  // Snapshots beyond the byte cap: the oldest pictures go, their events stay.
  while (snapshot_bytes_ > limits.snapshot_max_bytes) {
    auto oldest_pictures =
        writer_db_->prepare("SELECT id, snapshot_bytes FROM events WHERE snapshot_bytes > 0 ORDER BY id LIMIT 32");
    auto rows = collect(oldest_pictures);
    if (rows.empty()) {
      snapshot_bytes_ = 0;
      break;
    }
    for (const auto& [id, bytes] : rows) {
      if (snapshot_bytes_ <= limits.snapshot_max_bytes) break;
      std::error_code ec;
      fs::remove(snapshot_path(id), ec);
      writer_db_->prepare("UPDATE events SET snapshot_bytes = 0 WHERE id = ?").bind(1, id).run();
      snapshot_bytes_ -= bytes;
    }
  }
}

EventStore::Page EventStore::query(const Query& q) const {
  std::string sql =
      "SELECT id, time_ms, type, source, zones, objects, related, duration_ms, snapshot_bytes, detail FROM events "
      "WHERE 1";
  if (q.since) sql += " AND time_ms >= ?";
  if (q.before_id > 0) sql += " AND id < ?";
  if (q.after_id > 0) sql += " AND id > ?";
  if (!q.types.empty()) {
    sql += " AND type IN (";
    for (size_t i = 0; i < q.types.size(); ++i) sql += i ? ", ?" : "?";
    sql += ")";
  }
  sql += " ORDER BY id DESC LIMIT ?";
  const int limit = std::max(q.limit, 1);

  Page page;
  std::lock_guard lock(read_mutex_);
  auto st = reader_db_->prepare(sql);
  int i = 1;
  if (q.since) st.bind(i++, to_ms(*q.since));
  if (q.before_id > 0) st.bind(i++, q.before_id);
  if (q.after_id > 0) st.bind(i++, q.after_id);
  for (const auto& t : q.types) st.bind(i++, std::string_view(t));
  st.bind(i, static_cast<std::int64_t>(limit) + 1);  // one more tells whether another page follows
  while (st.step()) {
    if (static_cast<int>(page.events.size()) == limit) {
      page.next_before = page.events.back().event.id;
      break;
    }
    Stored s;
    s.event.id = st.integer(0);
    s.event.time = from_ms(st.integer(1));
    s.event.type = st.text(2);
    s.event.source = st.text(3);
    s.event.zones = zones_from(st.text(4));
    s.event.objects = objects_from(st.text(5));
    s.event.related = st.integer(6);
    s.event.duration_ms = st.integer(7);
    s.has_snapshot = st.integer(8) > 0;
    s.event.detail = st.text(9);
    page.events.push_back(std::move(s));
  }
  return page;
}

std::optional<std::string> EventStore::snapshot(std::int64_t id) const {
  {
    std::lock_guard lock(read_mutex_);
    auto st = reader_db_->prepare("SELECT snapshot_bytes FROM events WHERE id = ?");
    st.bind(1, id);
    if (!st.step() || st.integer(0) == 0) return std::nullopt;
  }
  std::string error;
  // The file may have gone since (retention on the writer thread): that is "no snapshot" too.
  return read_file(snapshot_path(id), &error, kMaxSnapshotFile);
}

}  // namespace freehold
