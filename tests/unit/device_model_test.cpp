// SPDX-License-Identifier: GPL-3.0-or-later
#include "core/device_model.hpp"

#include <gtest/gtest.h>

namespace freehold {
namespace {

const Requester kLocal{"test", "test", std::nullopt};

TEST(DeviceModel, ValidSetChangesConfigAndEmitsOnce) {
  DeviceModel m{Config{}};
  std::vector<Change> seen;
  auto sub = m.subscribe([&](const Change& c) { seen.push_back(c); });
  auto r = m.set("stream.main.fps", std::int64_t{12}, {"user:alice", "192.0.2.7", Role::operator_});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.changed, std::vector<std::string>{"stream.main.fps"});
  EXPECT_EQ(m.config().get_int("stream.main.fps"), 12);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].key, "stream.main.fps");
  EXPECT_EQ(seen[0].value, Value{std::int64_t{12}});
  EXPECT_EQ(seen[0].actor, "user:alice");
  EXPECT_EQ(seen[0].source, "192.0.2.7");
  // Setting the same value again is not a change.
  r = m.set("stream.main.fps", std::int64_t{12}, kLocal);
  EXPECT_TRUE(r.changed.empty());
  EXPECT_EQ(seen.size(), 1u);
}

TEST(DeviceModel, InvalidValueIsRejectedWithReason) {
  DeviceModel m{Config{}};
  int events = 0;
  auto sub = m.subscribe([&](const Change&) { ++events; });
  auto r = m.set("stream.main.fps", std::int64_t{0}, kLocal);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].message, "stream.main.fps: 0 is out of range 1..60 fps");
  r = m.set("stream.main.fsp", std::int64_t{5}, kLocal);
  EXPECT_EQ(r.errors[0].message, "unknown setting 'stream.main.fsp'; did you mean 'stream.main.fps'?");
  r = m.set("motion.enabled", std::string("yes"), kLocal);
  EXPECT_EQ(r.errors[0].message, "motion.enabled: expected a boolean");
  EXPECT_EQ(events, 0);
  EXPECT_EQ(m.config(), Config{});
}

TEST(DeviceModel, SetManyIsAllOrNothing) {
  DeviceModel m{Config{}};
  int events = 0;
  auto sub = m.subscribe([&](const Change&) { ++events; });
  auto r = m.set_many({{"stream.sub.fps", std::int64_t{5}}, {"stream.sub.gop", std::int64_t{100000}}}, kLocal);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(m.config().get_int("stream.sub.fps"), 10);
  EXPECT_EQ(events, 0);
  r = m.set_many({{"stream.sub.fps", std::int64_t{5}}, {"stream.sub.gop", std::int64_t{50}}}, kLocal);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(events, 2);
}

TEST(DeviceModel, RolesLimitWhatCanBeWritten) {
  DeviceModel m{Config{}};
  auto r = m.set("http.https_port", std::int64_t{8443}, {"user:op", "192.0.2.1", Role::operator_});
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_TRUE(r.errors[0].forbidden);
  EXPECT_EQ(r.errors[0].message, "http.https_port: needs the admin role");
  r = m.set("motion.sensitivity", std::int64_t{70}, {"user:viewer", "192.0.2.1", Role::viewer});
  EXPECT_TRUE(r.errors[0].forbidden);
  r = m.set("http.https_port", std::int64_t{8443}, {"user:admin", "192.0.2.1", Role::admin});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.restart_required, std::vector<std::string>{"http.https_port"});
}

TEST(DeviceModel, ReplaceAppliesOnlyTheDifference) {
  DeviceModel m{Config{}};
  Config next;
  next.set_validated("motion.sensitivity", std::int64_t{90});
  std::vector<std::string> keys;
  auto sub = m.subscribe([&](const Change& c) { keys.push_back(c.key); });
  auto r = m.replace(next, kLocal);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(keys, std::vector<std::string>{"motion.sensitivity"});
  EXPECT_EQ(m.config(), next);
}

TEST(DeviceModel, EntitiesAdaptSettingsAndStates) {
  DeviceModel m{Config{}};
  const Entity* sw = m.find_entity("motion_detection");
  ASSERT_NE(sw, nullptr);
  EXPECT_EQ(sw->component, Component::switch_);
  EXPECT_EQ(m.state("motion_detection"), Value{true});
  (void)m.set(sw->setting, false, kLocal);
  EXPECT_EQ(m.state("motion_detection"), Value{false});
  // Every writable entity is bound to a real setting.
  for (const auto& e : m.entities()) {
    if (!e.setting.empty()) {
      EXPECT_NE(find_setting(e.setting), nullptr) << e.object_id;
    }
  }
  std::vector<Change> seen;
  auto sub = m.subscribe([&](const Change& c) { seen.push_back(c); });
  m.publish_state("motion", true);
  m.publish_state("motion", true);  // unchanged: no second event
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].kind, Change::Kind::state);
  EXPECT_EQ(m.state("motion"), Value{true});
  EXPECT_EQ(m.state("no_such_entity"), std::nullopt);
}

TEST(DeviceModel, SubscriptionEndsWithItsHandle) {
  DeviceModel m{Config{}};
  int events = 0;
  {
    auto sub = m.subscribe([&](const Change&) { ++events; });
    (void)m.set("motion.sensitivity", std::int64_t{1}, kLocal);
  }
  (void)m.set("motion.sensitivity", std::int64_t{2}, kLocal);
  EXPECT_EQ(events, 1);
}

TEST(DeviceModel, HandlerMayUnsubscribeDuringEmit) {
  DeviceModel m{Config{}};
  DeviceModel::ChangeSignal::Subscription a, b;
  int calls = 0;
  a = m.subscribe([&](const Change&) {
    ++calls;
    b.reset();
  });
  b = m.subscribe([&](const Change&) { ++calls; });
  (void)m.set("motion.sensitivity", std::int64_t{3}, kLocal);
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace freehold
