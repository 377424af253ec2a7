// SPDX-License-Identifier: GPL-3.0-or-later
#include "core/log.hpp"

#include <gtest/gtest.h>

namespace freehold::log {
namespace {

TEST(Log, KeyValueLineQuotesWhatNeedsIt) {
  auto line = format_line(Level::warn, "http.listen_failed",
                          {{"port", 443}, {"error", "Address in use"}, {"ok", false}, {"q", "a\"b\nc"}}, true);
  EXPECT_EQ(line, "<4>level=warn event=http.listen_failed port=443 error=\"Address in use\" ok=false q=\"a\\\"b\\nc\"\n");
}

TEST(Log, TimestampOutsideJournal) {
  auto line = format_line(Level::info, "x", {}, false);
  EXPECT_TRUE(line.starts_with("ts=")) << line;
  EXPECT_NE(line.find("Z level=info event=x\n"), std::string::npos) << line;
}

TEST(Log, LevelsParse) {
  EXPECT_EQ(parse_level("debug"), Level::debug);
  EXPECT_EQ(parse_level("loud"), std::nullopt);
  set_level(Level::error);
  EXPECT_EQ(level(), Level::error);
  set_level(Level::info);
}

}  // namespace
}  // namespace freehold::log
