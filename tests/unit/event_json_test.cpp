// SPDX-License-Identifier: GPL-3.0-or-later
#include "web/event_json.hpp"

#include <gtest/gtest.h>

namespace freehold::web {
namespace {

using std::chrono::milliseconds;
using std::chrono::system_clock;

system_clock::time_point at_ms(std::int64_t ms) {
  return system_clock::time_point(milliseconds(ms));
}

std::int64_t ms_of(system_clock::time_point t) {
  return std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count();
}

TEST(EventJson, FormatsUtcWithMilliseconds) {
  EXPECT_EQ(format_utc_ms(at_ms(0)), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_utc_ms(at_ms(1795514400250)), "2026-11-24T10:00:00.250Z");
  EXPECT_EQ(format_utc_ms(at_ms(951782399999)), "2000-02-28T23:59:59.999Z");
}

TEST(EventJson, ParsesIsoTimesAndUnixMilliseconds) {
  std::string err;
  auto t = parse_time("2026-11-24T10:00:00Z", &err);
  ASSERT_TRUE(t) << err;
  EXPECT_EQ(ms_of(*t), 1795514400000);
  t = parse_time("2026-11-24T10:00:00.25Z", &err);
  ASSERT_TRUE(t) << err;
  EXPECT_EQ(ms_of(*t), 1795514400250);
  t = parse_time("2024-02-29T23:59:59.123456789Z", &err);
  ASSERT_TRUE(t) << err;
  EXPECT_EQ(format_utc_ms(*t), "2024-02-29T23:59:59.123Z");
  t = parse_time("1795514400250", &err);
  ASSERT_TRUE(t) << err;
  EXPECT_EQ(ms_of(*t), 1795514400250);
  // The whole range the clock can hold.
  t = parse_time("2261-12-31T23:59:59.999Z", &err);
  ASSERT_TRUE(t) << err;
  EXPECT_EQ(format_utc_ms(*t), "2261-12-31T23:59:59.999Z");
  EXPECT_EQ(parse_time("9214646399999", &err), *t);
  // What it formats, it parses back.
  EXPECT_EQ(parse_time(format_utc_ms(at_ms(1795514400250)), &err), at_ms(1795514400250));
}

TEST(EventJson, RefusesMalformedTimesWithAMessage) {
  for (const char* bad :
       {"", "yesterday", "2026-11-24", "2026-11-24T10:00:00", "2026-11-24T10:00:00+01:00", "2026-13-01T00:00:00Z",
        "2026-02-30T00:00:00Z", "2026-11-24T24:00:00Z", "2026-11-24T10:60:00Z", "2026-11-24T10:00:00.Z",
        "2026-11-24T10:00:00.1234567890Z", "2026-11-24 10:00:00Z", "-5", "99999999999999999999", "9214646400000",
        "2262-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "9999-12-31T23:59:59Z"}) {
    std::string err;
    EXPECT_EQ(parse_time(bad, &err), std::nullopt) << bad;
    EXPECT_FALSE(err.empty()) << bad;
  }
  std::string err;
  (void)parse_time("2026-11-24T10:00:00", &err);
  EXPECT_NE(err.find("2026-11-24T10:00:00Z"), std::string::npos) << "the message shows the expected form: " << err;
}

TEST(EventJson, EventShape) {
  Event e;
  e.id = 42;
  e.type = "motion_end";
  e.time = at_ms(1795514400250);
  e.zones = {"door"};
  e.objects = {{"motion", 0.5f, Box{0.25f, 0.5f, 0.125f, 0.25f}}};
  e.related = 41;
  e.duration_ms = 3000;
  auto j = event_json(e, true);
  EXPECT_EQ(j["id"], 42);
  EXPECT_EQ(j["type"], "motion_end");
  EXPECT_EQ(j["time"], "2026-11-24T10:00:00.250Z");
  EXPECT_EQ(j["source"], "camera");
  EXPECT_EQ(j["zones"], nlohmann::json::array({"door"}));
  EXPECT_EQ(j["objects"][0]["label"], "motion");
  EXPECT_EQ(j["objects"][0]["box"]["w"], 0.125);
  EXPECT_EQ(j["related"], 41);
  EXPECT_EQ(j["duration_ms"], 3000);
  EXPECT_EQ(j["snapshot"], "/api/v1/events/42/snapshot");

  e.related = 0;
  e.duration_ms = 0;
  j = event_json(e, false);
  EXPECT_FALSE(j.contains("related"));
  EXPECT_FALSE(j.contains("duration_ms"));
  EXPECT_TRUE(j["snapshot"].is_null());
}

Request with_query(std::string q) {
  Request r;
  r.query = std::move(q);
  return r;
}

TEST(EventJson, HistoryQueryParameters) {
  std::string err;
  auto q = parse_history_query(with_query("since=2026-11-24T10%3A00%3A00Z&type=person,motion_start&limit=20&before=99"),
                               &err);
  ASSERT_TRUE(q) << err;
  EXPECT_EQ(ms_of(*q->since), 1795514400000);
  EXPECT_EQ(q->types, (std::vector<std::string>{"person", "motion_start"}));
  EXPECT_EQ(q->limit, 20);
  EXPECT_EQ(q->before_id, 99);

  q = parse_history_query(with_query(""), &err);
  ASSERT_TRUE(q);
  EXPECT_EQ(q->limit, 100);
  EXPECT_FALSE(q->since);
  EXPECT_TRUE(q->types.empty());
  EXPECT_EQ(q->before_id, 0);

  struct Bad {
    const char* query;
    const char* names;  // what the message must mention
  };
  for (const Bad& b :
       {Bad{"type=person,dog", "dog"}, Bad{"type=", "type"}, Bad{"type=person,", "type"}, Bad{"limit=0", "limit"},
        Bad{"limit=501", "limit"}, Bad{"limit=ten", "limit"}, Bad{"limit=-1", "limit"}, Bad{"before=abc", "before"},
        Bad{"before=0", "before"}, Bad{"since=soon", "since"}, Bad{"type=%FF%FE", "type"}}) {
    err.clear();
    EXPECT_EQ(parse_history_query(with_query(b.query), &err), std::nullopt) << b.query;
    EXPECT_NE(err.find(b.names), std::string::npos) << b.query << ": " << err;
    // Messages go into JSON: printable ASCII only.
    for (unsigned char c : err) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << b.query << ": " << err;
  }
}

}  // namespace
}  // namespace freehold::web
