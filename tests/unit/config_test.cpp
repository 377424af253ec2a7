// SPDX-License-Identifier: GPL-3.0-or-later
#include "core/config.hpp"

#include <gtest/gtest.h>

namespace freehold {
namespace {

// The first error of a text that should have exactly one.
Diagnostic only_error(std::string_view text) {
  auto r = parse_config(text);
  EXPECT_EQ(r.errors.size(), 1u) << "for: " << text;
  return r.errors.empty() ? Diagnostic{} : r.errors.front();
}

TEST(Config, EmptyFileGivesDefaults) {
  auto r = parse_config("");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.config, Config{});
  EXPECT_EQ(r.config.get_int("http.https_port"), 443);
  EXPECT_EQ(r.config.get_string("log.level"), "info");
}

TEST(Config, ReadsTablesAndDottedKeys) {
  auto r = parse_config(
      "[stream.main]\nfps = 15\ncodec = \"h264\"\n"
      "[http]\nbind = \"127.0.0.1\"\nplain_enabled = true\n"
      "motion.sensitivity = 80\n");
  // The last line belongs to [http] in TOML, so it is http.motion.sensitivity: unknown.
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 7);
  EXPECT_EQ(r.config.get_int("stream.main.fps"), 15);
  EXPECT_EQ(r.config.get_string("stream.main.codec"), "h264");
  EXPECT_TRUE(r.config.get_bool("http.plain_enabled"));
}

TEST(Config, UnknownKeySuggestsTheClosest) {
  auto d = only_error("[stream.main]\nfsp = 10\n");
  EXPECT_EQ(d.line, 2);
  EXPECT_EQ(d.message, "unknown key 'stream.main.fsp'; did you mean 'stream.main.fps'?");
  d = only_error("[strem.main]\nfps = 10\n");
  EXPECT_EQ(d.message, "unknown key 'strem.main.fps'; did you mean 'stream.main.fps'?");
  d = only_error("completely_unrelated_thing = 1\n");
  EXPECT_EQ(d.message, "unknown key 'completely_unrelated_thing'");
}

TEST(Config, WrongTypeNamesExpectedAndActual) {
  EXPECT_EQ(only_error("[stream.main]\nfps = \"ten\"\n").message,
            "stream.main.fps: expected an integer, got a string");
  EXPECT_EQ(only_error("[motion]\nenabled = 1\n").message, "motion.enabled: expected a boolean, got an integer");
  EXPECT_EQ(only_error("[stream.main]\nfps = 2.5\n").message,
            "stream.main.fps: expected an integer, got a number with a fraction");
  EXPECT_EQ(only_error("[stream.main]\nfps = [1]\n").message, "stream.main.fps: expected an integer, got an array");
}

TEST(Config, OutOfRangeShowsRangeAndUnit) {
  auto d = only_error("[stream.main]\n\nfps = 500\n");
  EXPECT_EQ(d.line, 3);
  EXPECT_EQ(d.message, "stream.main.fps: 500 is out of range 1..60 fps");
  EXPECT_EQ(only_error("[http]\nhttps_port = 0\n").message, "http.https_port: 0 is out of range 1..65535");
}

TEST(Config, ChoiceListsTheAlternatives) {
  EXPECT_EQ(only_error("[log]\nlevel = \"loud\"\n").message,
            "log.level: \"loud\" is not one of \"debug\", \"info\", \"notice\", \"warn\", \"error\"");
}

TEST(Config, StringLengthAndExtraRules) {
  EXPECT_EQ(only_error("[device]\nname = \"\"\n").message, "device.name: length 0 is out of range 1..64 bytes");
  EXPECT_EQ(only_error("[device]\nname = \"a\\u0007b\"\n").message,
            "device.name: must not contain control characters");
  EXPECT_EQ(only_error("[http]\nbind = \"example.org\"\n").message,
            "http.bind: 'example.org' is not an IP address (use \"::\" or \"0.0.0.0\" for every interface)");
}

TEST(Config, TableGivenAsValue) {
  EXPECT_EQ(only_error("stream = 3\n").message, "'stream' is a table of settings, not an integer (write [stream])");
}

TEST(Config, SyntaxErrorHasLine) {
  auto d = only_error("[http]\nhttps_port = \n");
  EXPECT_EQ(d.line, 2);
  EXPECT_TRUE(d.message.starts_with("TOML syntax: ")) << d.message;
}

TEST(Config, ReportsEveryProblemNotJustTheFirst) {
  auto r = parse_config("[stream.main]\nfps = 0\nwidth = 1\n[log]\nlevel = 3\n");
  ASSERT_EQ(r.errors.size(), 3u);
  EXPECT_EQ(r.errors[0].line, 2);
  EXPECT_EQ(r.errors[1].line, 3);
  EXPECT_EQ(r.errors[2].line, 5);
}

TEST(Config, DiagnosticFormatIsFileLineMessage) {
  EXPECT_EQ(format_diagnostic("/etc/x.toml", {7, 3, "boom"}), "/etc/x.toml:7: boom");
  EXPECT_EQ(format_diagnostic("x.toml", {0, 0, "no such file"}), "x.toml: no such file");
}

TEST(Config, SerializeWritesOnlyChangesAndRoundTrips) {
  Config c;
  EXPECT_EQ(serialize_config(c).find('='), std::string::npos) << "defaults need not be written";
  c.set_validated("stream.sub.fps", std::int64_t{5});
  c.set_validated("device.name", std::string("Front \"door\""));
  c.set_validated("http.plain_enabled", true);
  const auto text = serialize_config(c);
  EXPECT_NE(text.find("[stream.sub]"), std::string::npos) << text;
  auto back = parse_config(text);
  ASSERT_TRUE(back.ok()) << text;
  EXPECT_EQ(back.config, c);
}

TEST(Settings, EveryDefaultPassesItsOwnValidation) {
  for (const auto& s : settings_schema()) {
    EXPECT_EQ(validate_setting(s, s.default_value), std::nullopt) << s.key;
  }
}

}  // namespace
}  // namespace freehold

namespace freehold {
namespace {

TEST(Settings, SecretsAreMaskedWhereverShown) {
  SettingSpec s;
  s.key = "mqtt.password";
  s.kind = Kind::string;
  s.secret = true;
  EXPECT_EQ(shown_value(s, Value{std::string("hunter2-hunter2")}), Value{std::string(kSecretMask)});
  EXPECT_EQ(display_value(s, Value{std::string("hunter2-hunter2")}), "********");
  EXPECT_EQ(display_value(s, Value{std::string()}), "") << "an unset secret shows as unset";
  s.secret = false;
  EXPECT_EQ(display_value(s, Value{std::string("visible")}), "visible");
}

}  // namespace
}  // namespace freehold
