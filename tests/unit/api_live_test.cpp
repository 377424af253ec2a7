// SPDX-License-Identifier: GPL-3.0-or-later
// The REST API's live-view endpoints without sockets: what a WebSocket upgrade is answered with (refusals as the
// socket's first message, the origin rule), and the MJPEG fallback (one picture shared by its viewers, a source
// without pictures refused up front).
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <nlohmann/json.hpp>

#include "support/device_state.hpp"
#include "web/api.hpp"

namespace freehold::web {
namespace {

namespace asio = boost::asio;

class ApiLive : public ::testing::Test {
 protected:
  void SetUp() override {
    token_ = state_.sessions.create("watcher", Role::viewer, std::chrono::steady_clock::now()).token;
    ApiDeps deps{state_.model, *state_.accounts, *state_.audit, state_.sessions, state_.lockout, pool_.get_executor(),
                 {}, 443, {}, {}};
    deps.snapshot = [this] {
      ++shots_;
      if (!pictures_) return Snapshot{"", "snapshots need raw pictures; this source's video is passed through", 0};
      return Snapshot{"\xff\xd8 picture", "", 1796600000000000 + shots_.load()};
    };
    api_.emplace(std::move(deps));
  }
  void TearDown() override {
    api_.reset();
    pool_.join();
  }

  Response get(std::string path, std::vector<std::pair<std::string, std::string>> headers = {}) {
    Request req;
    req.method = "GET";
    req.path = std::move(path);
    req.headers = std::move(headers);
    req.headers.emplace_back("authorization", "Bearer " + token_);
    req.headers.emplace_back("host", "cam.lan");
    req.remote = "192.0.2.1";
    req.tls = true;
    std::optional<Response> out;
    asio::co_spawn(io_, api_->handle(std::move(req)), [&](std::exception_ptr e, Response r) {
      if (!e) out = std::move(r);
    });
    // MJPEG pumps keep running: turn the loop only until the answer is there (bounded).
    for (int i = 0; i < 2000 && !out; ++i) turn();
    EXPECT_TRUE(out);
    return out.value_or(Response{});
  }

  // One millisecond of the I/O loop (it stops whenever it runs out of work).
  void turn() {
    io_.restart();
    io_.run_for(std::chrono::milliseconds(1));
  }

  static nlohmann::json first_message(WebSocketFeed& feed) {
    std::vector<WsMessage> out;
    feed.pull(out);
    return out.empty() || out[0].binary ? nlohmann::json{} : nlohmann::json::parse(out[0].text);
  }

  test::DeviceState state_;
  std::string token_;
  asio::io_context io_;
  asio::thread_pool pool_{1};
  std::optional<Api> api_;
  std::atomic<int> shots_{0};
  bool pictures_ = true;
};

TEST_F(ApiLive, RefusalsPastAuthenticationAreTheSocketsFirstMessage) {
  const std::vector<std::pair<std::string, std::string>> upgrade = {{"upgrade", "websocket"}};
  auto r = get("/api/v1/live/nope", upgrade);
  ASSERT_EQ(r.status, 101);
  ASSERT_TRUE(r.websocket);
  auto m = first_message(*r.websocket);
  EXPECT_EQ(m["type"], "error");
  EXPECT_EQ(m["code"], "not_found");
  EXPECT_TRUE(r.websocket->ended());

  ASSERT_TRUE(state_.model.set("privacy.enabled", Value{true}, Requester{"test", "test", std::nullopt}).ok());
  r = get("/api/v1/live/main", upgrade);
  ASSERT_TRUE(r.websocket);
  EXPECT_EQ(first_message(*r.websocket)["code"], "privacy_mode");
  r = get("/api/v1/live/main");
  EXPECT_EQ(r.status, 503) << "a plain GET asks first, and hears the same reason as an HTTP status";
}

TEST_F(ApiLive, OnlyTheDevicesOwnPagesMayOpenOne) {
  auto r = get("/api/v1/live/main", {{"upgrade", "websocket"}, {"origin", "https://evil.example"}});
  EXPECT_EQ(r.status, 403);
  EXPECT_FALSE(r.websocket);
  r = get("/api/v1/live/main", {{"upgrade", "websocket"}, {"origin", "https://cam.lan"}});
  EXPECT_EQ(r.status, 101) << "same origin";
  r = get("/api/v1/live/main");
  EXPECT_EQ(r.status, 426);
}

TEST_F(ApiLive, MjpegViewersShareOnePicturePerInterval) {
  auto a = get("/api/v1/live/main.mjpeg");
  auto b = get("/api/v1/live/main.mjpeg");
  ASSERT_EQ(a.status, 200);
  ASSERT_TRUE(a.stream && b.stream);
  EXPECT_EQ(a.stream->content_type(), "multipart/x-mixed-replace; boundary=freehold-frame");
  // About one second of both pumps, both clients reading: one picture per 200 ms for both together, not one each.
  std::string got;
  int parts_b = 0;
  for (int i = 0; i < 1000; ++i) {
    turn();
    for (auto& part : a.stream->take()) got += part;
    parts_b += static_cast<int>(b.stream->take().size());
  }
  const int taken = shots_.load();
  EXPECT_GE(parts_b, 3) << "the second viewer gets the pictures too";
  EXPECT_NE(got.find("Content-Type: image/jpeg"), std::string::npos);
  EXPECT_LE(taken, 8) << "two viewers, ~1 s at 5 pictures a second";
  EXPECT_GE(taken, 3);
  a.stream->close();
  b.stream->close();
  for (int i = 0; i < 300; ++i) turn();
}

TEST_F(ApiLive, MjpegWithoutPicturesIsRefusedWithTheReason) {
  pictures_ = false;
  auto r = get("/api/v1/live/main.mjpeg");
  EXPECT_EQ(r.status, 503);
  EXPECT_FALSE(r.stream);
  EXPECT_NE(r.body.find("no_picture"), std::string::npos);
  EXPECT_NE(r.body.find("passed through"), std::string::npos) << r.body;
}

}  // namespace
}  // namespace freehold::web
