// SPDX-License-Identifier: GPL-3.0-or-later
#include "core/event_store.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "core/db.hpp"

namespace freehold {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using std::chrono::system_clock;

class TempDir {
 public:
  TempDir() {
    char t[] = "/tmp/freehold-events-XXXXXX";
    path_ = mkdtemp(t);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::unique_ptr<EventStore> open_store(const fs::path& dir, EventStore::Limits limits = {}, size_t capacity = 64) {
  std::string err;
  auto store = EventStore::open(dir / "events.db", dir / "snapshots", limits, &err, capacity);
  EXPECT_TRUE(store) << err;
  return store;
}

Event make(std::int64_t id, std::string_view type, system_clock::time_point time = system_clock::now(),
           size_t snapshot_bytes = 0) {
  Event e;
  e.id = id;
  e.type = std::string(type);
  e.time = time;
  if (snapshot_bytes > 0) {
    auto jpeg = std::make_shared<std::vector<std::uint8_t>>(snapshot_bytes, static_cast<std::uint8_t>(id));
    (*jpeg)[0] = 0xff, (*jpeg)[1] = 0xd8;
    e.snapshot = jpeg;
  }
  return e;
}

std::vector<std::int64_t> ids(const EventStore::Page& page) {
  std::vector<std::int64_t> out;
  for (const auto& s : page.events) out.push_back(s.event.id);
  return out;
}

std::vector<std::int64_t> all_ids(const EventStore& store) {
  EventStore::Query q;
  q.limit = 1000;
  return ids(store.query(q));
}

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 0777;
}

TEST(EventStore, IdsContinueAfterReopenEvenWhenEveryRowIsGone) {
  TempDir dir;
  {
    auto store = open_store(dir.path());
    ASSERT_TRUE(store);
    EXPECT_EQ(store->last_id(), 0);
    EventBus bus(store->last_id() + 1);
    auto sub = bus.subscribe([&](const Event& e) { store->add(e); });
    for (int i = 0; i < 3; ++i) bus.publish(make(0, event_type::motion_start, system_clock::now() - 48h));
  }
  {
    auto store = open_store(dir.path());
    ASSERT_TRUE(store);
    EXPECT_EQ(store->last_id(), 3);
    EXPECT_EQ(all_ids(*store), (std::vector<std::int64_t>{3, 2, 1}));
    // A day's retention removes them all; the next id must still be 4, never a reused 1.
    store->set_limits({10000, 24h, 1 << 20});
    ASSERT_TRUE(store->flush(5s));
  }
  auto store = open_store(dir.path());
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->flush(5s));
  EXPECT_TRUE(all_ids(*store).empty());
  EXPECT_EQ(store->last_id(), 3);
  EXPECT_EQ(EventBus(store->last_id() + 1).publish(make(0, event_type::person)), 4);
}

TEST(EventStore, KeepsTheNewestMaxCountEventsAndTheirSnapshotsOnly) {
  TempDir dir;
  auto store = open_store(dir.path(), {5, 24h * 30, 1 << 20});
  ASSERT_TRUE(store);
  for (int id = 1; id <= 8; ++id) ASSERT_TRUE(store->add(make(id, event_type::motion_start, system_clock::now(), 100)));
  ASSERT_TRUE(store->flush(5s));
  EXPECT_EQ(all_ids(*store), (std::vector<std::int64_t>{8, 7, 6, 5, 4}));
  // Deleting a row deletes its picture.
  EXPECT_FALSE(fs::exists(dir.path() / "snapshots" / "3.jpg"));
  EXPECT_TRUE(fs::exists(dir.path() / "snapshots" / "4.jpg"));
  EXPECT_EQ(store->snapshot(3), std::nullopt);
}

TEST(EventStore, DeletesEventsOlderThanMaxAge) {
  TempDir dir;
  auto store = open_store(dir.path(), {10000, 24h * 30, 1 << 20});
  ASSERT_TRUE(store);
  const auto now = system_clock::now();
  store->add(make(1, event_type::motion_start, now - 24h * 10, 50));
  store->add(make(2, event_type::motion_end, now - 1h));
  ASSERT_TRUE(store->flush(5s));
  EXPECT_EQ(all_ids(*store), (std::vector<std::int64_t>{2, 1}));

  store->set_limits({10000, 24h * 2, 1 << 20});  // live: a lower retention applies without a restart
  store->add(make(3, event_type::person, now));
  ASSERT_TRUE(store->flush(5s));
  EXPECT_EQ(all_ids(*store), (std::vector<std::int64_t>{3, 2}));
  EXPECT_FALSE(fs::exists(dir.path() / "snapshots" / "1.jpg"));
}

TEST(EventStore, SnapshotCapDeletesOldestPicturesAndKeepsTheirEvents) {
  TempDir dir;
  auto store = open_store(dir.path(), {10000, 24h * 30, 2500});
  ASSERT_TRUE(store);
  for (int id = 1; id <= 4; ++id) store->add(make(id, event_type::person, system_clock::now(), 1000));
  ASSERT_TRUE(store->flush(5s));

  EventStore::Query q;
  auto page = store->query(q);
  ASSERT_EQ(ids(page), (std::vector<std::int64_t>{4, 3, 2, 1}));
  EXPECT_TRUE(page.events[0].has_snapshot);
  EXPECT_TRUE(page.events[1].has_snapshot);
  EXPECT_FALSE(page.events[2].has_snapshot);
  EXPECT_FALSE(page.events[3].has_snapshot);
  EXPECT_EQ(store->snapshot(1), std::nullopt);
  EXPECT_FALSE(fs::exists(dir.path() / "snapshots" / "1.jpg"));
  EXPECT_FALSE(fs::exists(dir.path() / "snapshots" / "2.jpg"));

  auto jpeg = store->snapshot(4);
  ASSERT_TRUE(jpeg);
  ASSERT_EQ(jpeg->size(), 1000u);
  EXPECT_EQ(static_cast<unsigned char>((*jpeg)[0]), 0xffu);
  EXPECT_EQ(static_cast<unsigned char>((*jpeg)[999]), 4u);
  // Pictures of people are private: the directory 0700, each file 0600.
  EXPECT_EQ(mode_of(dir.path() / "snapshots"), 0700u);
  EXPECT_EQ(mode_of(dir.path() / "snapshots" / "4.jpg"), 0600u);
  EXPECT_EQ(store->snapshot(99), std::nullopt);
}

TEST(EventStore, KeepsEveryFieldOfAnEvent) {
  TempDir dir;
  auto store = open_store(dir.path());
  ASSERT_TRUE(store);
  Event e = make(7, event_type::motion_end, system_clock::time_point(std::chrono::milliseconds(1795514400250)));
  e.source = "camera";
  e.zones = {"door", "drive way"};
  e.objects = {{"motion", 0.5f, Box{0.25f, 0.5f, 0.125f, 0.0625f}}, {"person", 0.875f, Box{0, 0, 1, 1}}};
  e.related = 6;
  e.duration_ms = 4200;
  store->add(e);
  ASSERT_TRUE(store->flush(5s));
  EventStore::Query q;
  q.since = system_clock::time_point{};  // the event is in 2026: everything since 1970
  auto page = store->query(q);
  ASSERT_EQ(page.events.size(), 1u);
  const Event& r = page.events[0].event;
  EXPECT_EQ(r.type, "motion_end");
  EXPECT_EQ(r.time, e.time);
  EXPECT_EQ(r.zones, e.zones);
  ASSERT_EQ(r.objects.size(), 2u);
  EXPECT_EQ(r.objects[0].label, "motion");
  EXPECT_EQ(r.objects[0].box, e.objects[0].box);
  EXPECT_FLOAT_EQ(r.objects[1].confidence, 0.875f);
  EXPECT_EQ(r.related, 6);
  EXPECT_EQ(r.duration_ms, 4200);
  EXPECT_FALSE(page.events[0].has_snapshot);
}

TEST(EventStore, QueryFiltersBySinceTypeAndCursor) {
  TempDir dir;
  auto store = open_store(dir.path());
  ASSERT_TRUE(store);
  const auto t0 = system_clock::now() - 1h;
  const std::string_view types[] = {event_type::motion_start, event_type::motion_end, event_type::person};
  for (int id = 1; id <= 9; ++id) store->add(make(id, types[(id - 1) % 3], t0 + std::chrono::minutes(id)));
  ASSERT_TRUE(store->flush(5s));

  EventStore::Query q;
  q.since = t0 + std::chrono::minutes(7);  // at or after
  EXPECT_EQ(ids(store->query(q)), (std::vector<std::int64_t>{9, 8, 7}));

  q = {};
  q.types = {"person", "motion_start"};
  EXPECT_EQ(ids(store->query(q)), (std::vector<std::int64_t>{9, 7, 6, 4, 3, 1}));

  // Paging with the cursor walks everything once, newest first, and says when it is done.
  q = {};
  q.limit = 4;
  auto p1 = store->query(q);
  EXPECT_EQ(ids(p1), (std::vector<std::int64_t>{9, 8, 7, 6}));
  EXPECT_EQ(p1.next_before, 6);
  q.before_id = p1.next_before;
  auto p2 = store->query(q);
  EXPECT_EQ(ids(p2), (std::vector<std::int64_t>{5, 4, 3, 2}));
  q.before_id = p2.next_before;
  auto p3 = store->query(q);
  EXPECT_EQ(ids(p3), (std::vector<std::int64_t>{1}));
  EXPECT_EQ(p3.next_before, 0);
  // Exactly a full last page: no further page is announced.
  q.before_id = 5;
  EXPECT_EQ(store->query(q).next_before, 0);

  q = {};
  q.after_id = 7;
  EXPECT_EQ(ids(store->query(q)), (std::vector<std::int64_t>{9, 8}));
  q = {};
  q.types = {"tamper"};
  EXPECT_TRUE(store->query(q).events.empty());
}

TEST(EventStore, UnusableStateDirIsAClearError) {
  TempDir dir;
  std::ofstream(dir.path() / "file") << "x";  // a file where a directory should be: fails even for root
  std::string err;
  auto store = EventStore::open(dir.path() / "file" / "events.db", dir.path() / "file" / "snapshots", {}, &err);
  EXPECT_EQ(store, nullptr);
  EXPECT_NE(err.find((dir.path() / "file" / "snapshots").string()), std::string::npos) << err;

  err.clear();
  fs::create_directory(dir.path() / "db-is-a-dir.db");
  store = EventStore::open(dir.path() / "db-is-a-dir.db", dir.path() / "snapshots", {}, &err);
  EXPECT_EQ(store, nullptr);
  EXPECT_NE(err.find("db-is-a-dir.db"), std::string::npos) << err;
}

TEST(EventStore, AddNeverWaitsForTheDiskAndCountsWhatItDrops) {
  TempDir dir;
  auto store = open_store(dir.path(), {}, 8);
  ASSERT_TRUE(store);
  // One written event: the writer is idle (done with its start-up retention), so it is the lock below that
  // stops it, not its own earlier work.
  store->add(make(1, event_type::motion_start));
  ASSERT_TRUE(store->flush(5s));
  // Another connection holds the write lock: the writer thread is stuck in SQLite's busy wait.
  Database blocker(dir.path() / "events.db");
  blocker.exec("BEGIN EXCLUSIVE");

  int accepted = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int id = 2; id <= 1001; ++id) accepted += store->add(make(id, event_type::motion_start));
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, 200ms) << "add() waited for the disk";
  EXPECT_LE(accepted, 16);  // the queue, plus at most one queue-full batch the writer took before it blocked
  EXPECT_GE(accepted, 8);
  EXPECT_EQ(store->dropped(), static_cast<std::uint64_t>(1000 - accepted));

  blocker.exec("ROLLBACK");
  ASSERT_TRUE(store->flush(5s));
  EXPECT_EQ(all_ids(*store).size(), static_cast<size_t>(accepted) + 1);
  // The dropped ids are not handed out again either.
  EXPECT_EQ(store->last_id(), 1001);
}

}  // namespace
}  // namespace freehold
