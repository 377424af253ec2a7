// SPDX-License-Identifier: GPL-3.0-or-later
// The REST API's events endpoints over a real bus and store: history, snapshots, the live stream and its replay.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/crypto.hpp"
#include "support/device_state.hpp"
#include "web/api.hpp"

namespace freehold::web {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

class ApiEvents : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string err;
    token_ = state_.sessions.create("watcher", Role::viewer, std::chrono::steady_clock::now()).token;
    store_ = EventStore::open(state_.dir / "events.db", state_.dir / "snapshots", {}, &err);
    ASSERT_TRUE(store_) << err;
    bus_.emplace(store_->last_id() + 1);
    store_sub_ = bus_->subscribe([this](const Event& e) { store_->add(e); });
    ApiDeps deps{state_.model, *state_.accounts, *state_.audit, state_.sessions, state_.lockout, pool_.get_executor(),
                 {}, 443, {}, {}};
    deps.events = &*bus_;
    deps.event_store = store_.get();
    api_.emplace(std::move(deps));
  }

  void TearDown() override {
    api_.reset();
    store_sub_.reset();
    store_.reset();
    pool_.join();
  }

  std::int64_t publish(std::string_view type, size_t snapshot_bytes = 0) {
    Event e;
    e.type = std::string(type);
    e.time = std::chrono::system_clock::now();
    e.objects = {{"person", 0.9f, Box{0.1f, 0.2f, 0.3f, 0.4f}}};
    if (snapshot_bytes) e.snapshot = std::make_shared<std::vector<std::uint8_t>>(snapshot_bytes, std::uint8_t{0xab});
    return bus_->publish(std::move(e));
  }

  Response get(std::string target, std::vector<std::pair<std::string, std::string>> headers = {}) {
    Request req;
    req.method = "GET";
    const auto q = target.find('?');
    req.path = target.substr(0, q);
    if (q != std::string::npos) req.query = target.substr(q + 1);
    req.headers = std::move(headers);
    req.headers.emplace_back("authorization", "Bearer " + token_);
    req.remote = "192.0.2.1";
    req.tls = true;
    std::optional<Response> out;
    asio::co_spawn(io_, api_->handle(std::move(req)), [&](std::exception_ptr e, Response r) {
      if (!e) out = std::move(r);
    });
    io_.restart();
    io_.run();
    EXPECT_TRUE(out);
    return out.value_or(Response{});
  }

  static std::string drained(EventStream& s) {
    std::string out;
    for (auto& m : s.take()) out += m;
    return out;
  }

  test::DeviceState state_;
  asio::thread_pool pool_{1};
  asio::io_context io_;
  std::string token_;
  std::unique_ptr<EventStore> store_;
  std::optional<EventBus> bus_;
  EventBus::EventSignal::Subscription store_sub_;
  std::optional<Api> api_;
};

TEST_F(ApiEvents, HistoryPagesNewestFirstAndLinksSnapshots) {
  publish("motion_start");
  publish("person", 300);
  publish("motion_end");
  ASSERT_TRUE(store_->flush(5s));

  auto r = get("/api/v1/events?limit=2");
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json::parse(r.body);
  ASSERT_EQ(j["events"].size(), 2u);
  EXPECT_EQ(j["events"][0]["id"], 3);
  EXPECT_EQ(j["events"][0]["type"], "motion_end");
  EXPECT_TRUE(j["events"][0]["snapshot"].is_null());
  EXPECT_EQ(j["events"][1]["id"], 2);
  EXPECT_EQ(j["events"][1]["snapshot"], "/api/v1/events/2/snapshot");
  EXPECT_EQ(j["events"][1]["objects"][0]["box"]["h"], 0.4);
  EXPECT_EQ(j["events"][1]["objects"][0]["confidence"], 0.9);
  EXPECT_NE(r.body.find(R"("confidence":0.9,)"), std::string::npos) << "no float noise: " << r.body;
  EXPECT_EQ(j["next_before"], 2);

  j = json::parse(get("/api/v1/events?limit=2&before=2").body);
  ASSERT_EQ(j["events"].size(), 1u);
  EXPECT_EQ(j["events"][0]["id"], 1);
  EXPECT_TRUE(j["next_before"].is_null());

  j = json::parse(get("/api/v1/events?type=person").body);
  ASSERT_EQ(j["events"].size(), 1u);
  EXPECT_EQ(j["events"][0]["id"], 2);

  r = get("/api/v1/events/2/snapshot");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, std::string(300, '\xab'));
  bool jpeg = false, private_cache = false;
  for (const auto& [k, v] : r.headers) {
    jpeg = jpeg || (k == "Content-Type" && v == "image/jpeg");
    private_cache = private_cache || (k == "Cache-Control" && v.starts_with("private"));
  }
  EXPECT_TRUE(jpeg);
  EXPECT_TRUE(private_cache);
  EXPECT_EQ(get("/api/v1/events/3/snapshot").status, 404);
}

TEST_F(ApiEvents, StreamCarriesBusEventsWithTheirIds) {
  auto r = get("/api/v1/events", {{"accept", "text/event-stream"}});
  ASSERT_TRUE(r.stream);
  EXPECT_NE(drained(*r.stream).find("event: ready\n"), std::string::npos);
  const auto id = publish("person", 10);
  const std::string out = drained(*r.stream);
  EXPECT_TRUE(out.starts_with("event: person\nid: " + std::to_string(id) + "\ndata: {")) << out;
  const auto data = json::parse(out.substr(out.find("data: ") + 6));
  EXPECT_EQ(data["id"], id);
  EXPECT_EQ(data["snapshot"], "/api/v1/events/" + std::to_string(id) + "/snapshot");
  r.stream->close();
}

TEST_F(ApiEvents, ReconnectingStreamReplaysStoredEventsAfterLastEventIdInOrder) {
  for (int i = 0; i < 5; ++i) publish(i % 2 ? "motion_end" : "motion_start");
  auto r = get("/api/v1/events", {{"accept", "text/event-stream"}, {"last-event-id", "2"}});
  ASSERT_TRUE(r.stream);
  const std::string out = drained(*r.stream);
  const auto ready = out.find("event: ready\n"), e3 = out.find("id: 3\n"), e4 = out.find("id: 4\n"),
             e5 = out.find("id: 5\n");
  ASSERT_NE(e5, std::string::npos) << out;
  EXPECT_LT(ready, e3);
  EXPECT_LT(e3, e4);
  EXPECT_LT(e4, e5);
  EXPECT_EQ(out.find("id: 2\n"), std::string::npos) << "the client already has event 2";
  // Live ones follow.
  publish("tamper");
  EXPECT_NE(drained(*r.stream).find("event: tamper\nid: 6\n"), std::string::npos);
  r.stream->close();
}

}  // namespace
}  // namespace freehold::web
