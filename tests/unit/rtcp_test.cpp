// SPDX-License-Identifier: GPL-3.0-or-later
#include "rtsp/rtcp.hpp"

#include <gtest/gtest.h>

namespace freehold::rtsp {
namespace {

// Checked by hand against RFC 3550 §6.4.1: 2026-01-01T00:00:00.5Z is NTP 0xED003780 + 0.5 (0x80000000).
TEST(Rtcp, SenderReportLayout) {
  SenderReport sr;
  sr.ssrc = 0x11223344;
  sr.wallclock = std::chrono::system_clock::time_point(std::chrono::milliseconds(1767225600500LL));
  sr.rtp_timestamp = 0xAABBCCDD;
  sr.packets = 1000;
  sr.octets = 1234567;
  const std::array<std::uint8_t, 28> expected = {0x80, 200,  0x00, 0x06, 0x11, 0x22, 0x33, 0x44, 0xED, 0x00,
                                                 0x37, 0x80, 0x80, 0x00, 0x00, 0x00, 0xAA, 0xBB, 0xCC, 0xDD,
                                                 0x00, 0x00, 0x03, 0xE8, 0x00, 0x12, 0xD6, 0x87};
  EXPECT_EQ(build_sender_report(sr), expected);
}

}  // namespace
}  // namespace freehold::rtsp
