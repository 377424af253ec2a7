// SPDX-License-Identifier: GPL-3.0-or-later
// Event history: every bus event kept in its own SQLite file (apart from users and audit, so a flood of events
// never slows a login) and its JPEG snapshot as a file beside it. Bounded by count, age and total snapshot bytes.
// add() is called on the I/O thread and never waits for the disk: a writer thread drains a bounded queue (full:
// the event is dropped and counted). query() and snapshot() use their own read connection, from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/events.hpp"

namespace freehold {

class Database;

class EventStore final {
 public:
  struct Limits {
    std::int64_t max_count = 10000;
    std::chrono::seconds max_age = std::chrono::hours(24 * 30);
    std::int64_t snapshot_max_bytes = std::int64_t{200} << 20;  // all snapshot files together
  };

  struct Query {
    std::optional<std::chrono::system_clock::time_point> since;  // at or after
    std::vector<std::string> types;                              // empty: every type
    std::int64_t before_id = 0;                                  // 0: no cursor
    std::int64_t after_id = 0;                                   // 0: none (stream replay)
    int limit = 100;
  };

  // An event read back: `event.snapshot` stays empty; has_snapshot says whether snapshot(id) has a picture.
  struct Stored {
    Event event;
    bool has_snapshot = false;
  };

  struct Page {
    std::vector<Stored> events;    // newest first
    std::int64_t next_before = 0;  // pass as before_id for the next page; 0: this was the last one
  };

  // Opens (creating) the database at `db_path` and the snapshot directory (mode 0700). nullptr with `error`
  // naming the path and the problem when either is unusable.
  [[nodiscard]] static std::unique_ptr<EventStore> open(const std::filesystem::path& db_path,
                                                        const std::filesystem::path& snapshot_dir, Limits limits,
                                                        std::string* error, size_t queue_capacity = 32);
  EventStore(const EventStore&) = delete;
  EventStore& operator=(const EventStore&) = delete;
  // Writes what is queued, then stops the writer.
  ~EventStore();

  // The newest id ever handed to add() (stored, dropped or deleted since): start the bus one past it.
  [[nodiscard]] std::int64_t last_id() const { return last_id_.load(); }

  // Queues the event for writing; false (and counted) if the queue is full. Never waits for the disk. At most
  // 2 × queue_capacity events are held in memory: the queue and the batch being written.
  bool add(const Event& e);
  // Takes effect on the writer thread at once (retention runs again).
  void set_limits(Limits limits);
  // Waits (at most `timeout`) until everything queued before the call is written; false on timeout.
  bool flush(std::chrono::milliseconds timeout);

  [[nodiscard]] Page query(const Query& q) const;
  // The snapshot JPEG of event `id`; nullopt if it has none (never taken, dropped by retention, unknown id).
  [[nodiscard]] std::optional<std::string> snapshot(std::int64_t id) const;

  [[nodiscard]] std::uint64_t dropped() const { return dropped_.load(); }

 private:
  struct Private {};

 public:
  EventStore(Private, std::unique_ptr<Database> writer, std::unique_ptr<Database> reader,
             std::filesystem::path snapshot_dir, Limits limits, size_t queue_capacity);

 private:
  void run();
  void write_batch(std::deque<Event>& batch, const Limits& limits);
  void apply_retention(const Limits& limits);
  void delete_rows(const std::vector<std::pair<std::int64_t, std::int64_t>>& rows);
  std::filesystem::path snapshot_path(std::int64_t id) const;

  std::unique_ptr<Database> writer_db_;  // the writer thread's only
  std::unique_ptr<Database> reader_db_;  // guarded by read_mutex_
  mutable std::mutex read_mutex_;
  std::filesystem::path snapshot_dir_;
  size_t capacity_;

  std::mutex mutex_;  // guards everything up to the thread
  std::condition_variable wake_;
  std::condition_variable written_;
  std::deque<Event> queue_;
  Limits limits_;
  bool retention_due_ = true;
  bool stop_ = false;
  bool dropping_ = false;  // in a burst of drops (logged once at its start and once at its end)
  std::uint64_t dropped_in_burst_ = 0;
  std::uint64_t enqueued_ = 0;
  std::uint64_t done_ = 0;

  std::atomic<std::int64_t> last_id_{0};
  std::atomic<std::uint64_t> dropped_{0};
  // Writer-thread state.
  std::int64_t rows_ = 0;
  std::int64_t snapshot_bytes_ = 0;
  std::thread thread_;
};

}  // namespace freehold
