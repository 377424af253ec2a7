// SPDX-License-Identifier: GPL-3.0-or-later
#include "web/http.hpp"

#include <gtest/gtest.h>

namespace freehold::web {
namespace {

TEST(Request, QueryAndCookies) {
  Request r;
  r.query = "limit=10&since=2026-01-01T00%3A00%3A00Z&flag&name=a+b";
  r.headers = {{"cookie", "theme=dark; fh_session=abc123; other=x"}};
  EXPECT_EQ(r.query_param("limit"), "10");
  EXPECT_EQ(r.query_param("since"), "2026-01-01T00:00:00Z");
  EXPECT_EQ(r.query_param("flag"), "");
  EXPECT_EQ(r.query_param("name"), "a b");
  EXPECT_EQ(r.query_param("missing"), std::nullopt);
  EXPECT_EQ(r.cookie("fh_session"), "abc123");
  EXPECT_EQ(r.cookie("fh"), std::nullopt);
}

TEST(EventStream, BoundedQueueBreaksInsteadOfGrowing) {
  EventStream s(2);
  int wakes = 0;
  s.wake = [&] { ++wakes; };
  EXPECT_TRUE(s.push("setting", "{}"));
  EXPECT_TRUE(s.push("setting", "{}"));
  EXPECT_FALSE(s.push("setting", "{}"));
  EXPECT_TRUE(s.broken());
  EXPECT_EQ(wakes, 3);
  auto q = s.take();
  ASSERT_EQ(q.size(), 2u);
  EXPECT_EQ(q[0], "event: setting\ndata: {}\n\n");
}

TEST(Response, ErrorIsJson) {
  auto r = Response::error(404, "not_found", "no such \"thing\"");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, R"({"error":"not_found","message":"no such \"thing\""})");
}

}  // namespace
}  // namespace freehold::web
