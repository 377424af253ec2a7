// SPDX-License-Identifier: GPL-3.0-or-later
// The MQTT adapter's pure parts: broker URLs, command payloads, state texts, the device id and the Home Assistant
// discovery messages built from the device model. The adapter against a real broker is e2e.mqtt.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "core/device_model.hpp"
#include "core/settings.hpp"
#include "core/url.hpp"
#include "mqtt/adapter.hpp"
#include "mqtt/discovery.hpp"
#include "mqtt/payload.hpp"

namespace freehold::mqtt {
namespace {

using json = nlohmann::json;

std::optional<ServiceUrl> url(std::string_view text, bool userinfo = false, std::string* error = nullptr) {
  std::string e;
  auto u = parse_service_url(text, mqtt_schemes(), userinfo, &e);
  if (error) *error = e;
  return u;
}

TEST(BrokerUrl, SchemesPortsAndHosts) {
  auto u = url("mqtt://broker.example.net");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->scheme, "mqtt");
  EXPECT_EQ(u->host, "broker.example.net");
  EXPECT_EQ(u->port, 1883);
  u = url("MQTTS://192.0.2.10/");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->scheme, "mqtts");
  EXPECT_EQ(u->port, 8883);
  u = url("mqtts://[2001:db8::1]:9883");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "2001:db8::1");
  EXPECT_EQ(u->port, 9883);
  EXPECT_EQ(host_port(*u), "[2001:db8::1]:9883");
}

TEST(BrokerUrl, CredentialsOnlyWhereAllowedAndDecoded) {
  std::string error;
  EXPECT_FALSE(url("mqtt://cam:secret@broker", false, &error));
  EXPECT_NE(error.find("username and password settings"), std::string::npos) << error;
  auto u = url("mqtt://cam%40home:p%3Ass@broker:1884", true);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->username, "cam@home");
  EXPECT_EQ(u->password, "p:ss");
  EXPECT_EQ(u->port, 1884);
  EXPECT_FALSE(url("mqtt://a:%zz@broker", true, &error));
  EXPECT_NE(error.find("percent"), std::string::npos);
}

TEST(BrokerUrl, BadOnesSayWhy) {
  const std::vector<std::pair<std::string, std::string>> cases{
      {"broker:1883", "not a URL"},
      {"http://broker", "unknown scheme 'http'"},
      {"mqtt://", "no host"},
      {"mqtt://broker:0", "out of range"},
      {"mqtt://broker:99999", "out of range"},
      {"mqtt://broker:123456", "not a port"},
      {"mqtt://broker:", "not a port"},
      {"mqtt://broker/topic", "path"},
      {"mqtt://bro ker", "not a host"},
      {"mqtt://[2001:db8::1", "unclosed"},
  };
  for (const auto& [text, why] : cases) {
    std::string error;
    EXPECT_FALSE(url(text, false, &error)) << text;
    EXPECT_NE(error.find(why), std::string::npos) << text << " -> " << error;
  }
}

TEST(MqttSettings, ValidatedByTheSchema) {
  DeviceModel m{Config{}};
  const Requester admin{"test", "test", Role::admin};
  EXPECT_TRUE(m.set("mqtt.url", std::string("mqtts://broker:8883"), admin).ok());
  auto r = m.set("mqtt.url", std::string("mqtt://u:p@broker"), admin);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.errors[0].message.find("mqtt.url: credentials"), std::string::npos) << r.errors[0].message;
  EXPECT_FALSE(m.set("mqtt.root", std::string("home/+/cams"), admin).ok());
  EXPECT_FALSE(m.set("mqtt.root", std::string("home//cams"), admin).ok());
  EXPECT_TRUE(m.set("mqtt.root", std::string("home/cams"), admin).ok());
  EXPECT_FALSE(m.set("mqtt.device_id", std::string("porch cam"), admin).ok());
  EXPECT_FALSE(m.set("mqtt.fingerprint", std::string("abcd"), admin).ok());
  EXPECT_TRUE(m.set("mqtt.fingerprint", std::string(64, 'a'), admin).ok());
  // The MQTT settings are the administrator's, whoever commands over MQTT.
  r = m.set("mqtt.url", std::string(""), {"mqtt", "mqtt", Role::operator_});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.errors[0].forbidden);
  EXPECT_TRUE(find_setting("mqtt.password")->secret);
}

const Entity& entity(const DeviceModel& m, std::string_view id) {
  const Entity* e = m.find_entity(id);
  if (!e) throw std::runtime_error("no entity " + std::string(id));
  return *e;
}

Command command(const DeviceModel& m, std::string_view id, std::string_view payload) {
  const Entity& e = entity(m, id);
  return parse_command(e, e.setting.empty() ? nullptr : find_setting(e.setting), payload);
}

TEST(MqttCommand, SwitchesTakeOnOffInTheirUsualSpellings) {
  DeviceModel m{Config{}};
  for (const char* on : {"ON", "on", "true", "1", " ON\n", "\"ON\"", "true", "{\"value\": true}"}) {
    auto c = command(m, "privacy_mode", on);
    ASSERT_TRUE(c.value) << on << ": " << c.error;
    EXPECT_EQ(*c.value, Value{true}) << on;
  }
  for (const char* off : {"OFF", "Off", "false", "0", "{\"value\":\"OFF\"}"}) {
    auto c = command(m, "privacy_mode", off);
    ASSERT_TRUE(c.value) << off;
    EXPECT_EQ(*c.value, Value{false}) << off;
  }
  auto c = command(m, "privacy_mode", "maybe");
  EXPECT_FALSE(c.value);
  EXPECT_EQ(c.error, "expected ON or OFF");
  EXPECT_TRUE(command(m, "stream_main", "OFF").value) << "a stream is a switch";
}

TEST(MqttCommand, NumbersAreWholeAndRangeIsTheModels) {
  DeviceModel m{Config{}};
  EXPECT_EQ(*command(m, "brightness", "42").value, Value{std::int64_t{42}});
  EXPECT_EQ(*command(m, "brightness", "42.0").value, Value{std::int64_t{42}});
  EXPECT_EQ(*command(m, "brightness", "{\"value\": 7}").value, Value{std::int64_t{7}});
  // Out of range parses: the device model refuses it, with the range in its message.
  EXPECT_EQ(*command(m, "brightness", "150").value, Value{std::int64_t{150}});
  EXPECT_NE(command(m, "brightness", "42.5").error.find("whole number"), std::string::npos);
  EXPECT_NE(command(m, "brightness", "forty").error.find("whole number"), std::string::npos);
  EXPECT_NE(command(m, "brightness", "").error.find("whole number"), std::string::npos);
  EXPECT_NE(command(m, "brightness", "99999999999999999999999").error.find("out of range"), std::string::npos);
  // Regression (mqtt_command_fuzz): a float beyond int64 was cast, undefined behaviour.
  EXPECT_NE(command(m, "brightness", "55.176e55").error.find("whole number"), std::string::npos);
  EXPECT_NE(command(m, "brightness", "{\"value\": 1e300}").error.find("whole number"), std::string::npos);
}

TEST(MqttCommand, MalformedOrWrongShapedJsonIsRefused) {
  DeviceModel m{Config{}};
  EXPECT_EQ(command(m, "brightness", "{\"value\": ").error, "malformed JSON");
  EXPECT_EQ(command(m, "brightness", "[1, 2]").error.find("expected a value"), 0u);
  EXPECT_NE(command(m, "brightness", "{\"value\": 1, \"x\": 2}").error.find("exactly one key"), std::string::npos);
  EXPECT_NE(command(m, "brightness", "{\"value\": null}").error.find("null"), std::string::npos);
  EXPECT_NE(command(m, "brightness", std::string(5000, '1')).error.find("at most 4096"), std::string::npos);
}

TEST(MqttCommand, ButtonsSelectsAndReadOnlyEntities) {
  DeviceModel m{Config{}};
  EXPECT_TRUE(command(m, "take_snapshot", "PRESS").press);
  EXPECT_TRUE(command(m, "restart", "press").press);
  EXPECT_EQ(command(m, "restart", "ON").error, "a button takes PRESS");
  EXPECT_EQ(*command(m, "day_night_mode", "night").value, Value{std::string("night")});
  EXPECT_EQ(*command(m, "day_night_mode", "\"day\"").value, Value{std::string("day")});
  EXPECT_EQ(command(m, "uptime", "5").error, "'uptime' is read-only");
  EXPECT_EQ(command(m, "motion", "ON").error, "'motion' is read-only");
}

TEST(MqttState, TextForms) {
  EXPECT_EQ(state_text(Value{true}), "ON");
  EXPECT_EQ(state_text(Value{false}), "OFF");
  EXPECT_EQ(state_text(Value{std::int64_t{-3}}), "-3");
  EXPECT_EQ(state_text(Value{std::string("night")}), "night");
}

TEST(MqttDeviceId, ModelAndMacTail) {
  EXPECT_EQ(default_device_id("freehold-sim", "02:00:00:A1:B2:C3", "ffffff"), "freehold-sim-a1b2c3");
  EXPECT_EQ(default_device_id("Cam 9", "", "0123456789"), "cam_9-012345");
}

TEST(DevicePress, ButtonsEmitActionsAndNeedTheOperatorRole) {
  DeviceModel m{Config{}};
  std::vector<Change> seen;
  auto sub = m.subscribe([&](const Change& c) { seen.push_back(c); });
  EXPECT_FALSE(m.press("restart", {"mqtt", "mqtt", Role::operator_}));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].kind, Change::Kind::action);
  EXPECT_EQ(seen[0].key, "restart");
  EXPECT_EQ(*m.press("restart", {"v", "v", Role::viewer}), "pressing a button needs the operator role");
  EXPECT_EQ(*m.press("privacy_mode", {"a", "a", Role::admin}), "'privacy_mode' is not a button");
  EXPECT_EQ(*m.press("nope", {"a", "a", Role::admin}), "no entity 'nope'");
  EXPECT_EQ(seen.size(), 1u);
}

DeviceIdentity identity() {
  return {"cam1", "Porch", "Freehold", "freehold-sim", "1.2.3", "02:00:00:a1:b2:c3", "https://cam:443/"};
}

TEST(MqttDiscovery, DeviceModeDescribesEveryEntityOnce) {
  DeviceModel m{Config{}};
  Topics t("freehold", "cam1");
  auto msgs = discovery_messages(m, identity(), t, "homeassistant", DiscoveryMode::device);
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].topic, "homeassistant/device/cam1/config");
  const json j = json::parse(msgs[0].payload);
  EXPECT_EQ(j["device"]["identifiers"], json::array({"cam1"}));
  EXPECT_EQ(j["device"]["connections"], json::parse(R"([["mac","02:00:00:a1:b2:c3"]])"));
  EXPECT_EQ(j["origin"]["name"], "Freehold");
  EXPECT_EQ(j["components"].size(), m.entities().size());
  std::set<std::string> ids;
  for (const auto& [object, c] : j["components"].items()) {
    ids.insert(c["unique_id"].get<std::string>());
    EXPECT_EQ(c["availability_topic"], "freehold/cam1/status") << object;
  }
  EXPECT_EQ(ids.size(), m.entities().size());
  const auto& sens = j["components"]["motion_sensitivity"];
  EXPECT_EQ(sens["platform"], "number");
  EXPECT_EQ(sens["command_topic"], "freehold/cam1/number/motion_sensitivity/set");
  EXPECT_EQ(sens["state_topic"], "freehold/cam1/number/motion_sensitivity/state");
  EXPECT_EQ(sens["min"], find_setting("motion.sensitivity")->min);
  EXPECT_EQ(sens["max"], find_setting("motion.sensitivity")->max);
  EXPECT_EQ(j["components"]["day_night_mode"]["options"], json::array({"auto", "day", "night"}));
  EXPECT_EQ(j["components"]["snapshot"]["topic"], "freehold/cam1/camera/snapshot/image");
  EXPECT_EQ(j["components"]["stream_main"]["platform"], "switch");
  EXPECT_EQ(j["components"]["detection"]["event_types"], json::array({"person"}));
  EXPECT_EQ(j["components"]["restart"]["device_class"], "restart");
  EXPECT_FALSE(j["components"]["restart"].contains("state_topic"));
}

TEST(MqttDiscovery, EntityModeAndRemoval) {
  DeviceModel m{Config{}};
  Topics t("home/cams", "cam1");
  auto msgs = discovery_messages(m, identity(), t, "ha", DiscoveryMode::entity);
  ASSERT_EQ(msgs.size(), m.entities().size());
  for (const auto& msg : msgs) {
    const json j = json::parse(msg.payload);
    EXPECT_EQ(j["device"]["identifiers"], json::array({"cam1"})) << msg.topic;
    EXPECT_TRUE(msg.topic.starts_with("ha/")) << msg.topic;
    EXPECT_TRUE(msg.topic.ends_with("/cam1/" + j["unique_id"].get<std::string>().substr(5) + "/config"))
        << msg.topic;
  }
  EXPECT_TRUE(discovery_messages(m, identity(), t, "ha", DiscoveryMode::off).empty());
  auto removal = removal_messages(m, identity(), "ha");
  EXPECT_EQ(removal.size(), m.entities().size() + 1);
  for (const auto& r : removal) EXPECT_TRUE(r.payload.empty());
}

}  // namespace
}  // namespace freehold::mqtt
