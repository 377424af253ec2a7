// SPDX-License-Identifier: GPL-3.0-or-later
// RTCP sender report (RFC 3550 §6.4.1): ties a stream's RTP timestamps to wall-clock time so receivers can
// synchronise and measure, and tells them how much was sent.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>

namespace freehold::rtsp {

struct SenderReport {
  std::uint32_t ssrc = 0;
  std::chrono::system_clock::time_point wallclock;  // becomes the 64-bit NTP timestamp
  std::uint32_t rtp_timestamp = 0;                  // the same instant on the RTP clock
  std::uint32_t packets = 0;                        // RTP packets sent so far in this session
  std::uint32_t octets = 0;                         // RTP payload bytes sent so far
};

// The 28-byte SR packet without reception report blocks.
[[nodiscard]] std::array<std::uint8_t, 28> build_sender_report(const SenderReport& sr);

}  // namespace freehold::rtsp
