// SPDX-License-Identifier: GPL-3.0-or-later
#include "rtsp/rtcp.hpp"

namespace freehold::rtsp {
namespace {

constexpr std::uint64_t kNtpUnixOffset = 2208988800ULL;  // seconds from 1900-01-01 to 1970-01-01

void put32(std::array<std::uint8_t, 28>& b, std::size_t at, std::uint32_t v) {
  b[at] = static_cast<std::uint8_t>(v >> 24);
  b[at + 1] = static_cast<std::uint8_t>(v >> 16);
  b[at + 2] = static_cast<std::uint8_t>(v >> 8);
  b[at + 3] = static_cast<std::uint8_t>(v);
}

}  // namespace

std::array<std::uint8_t, 28> build_sender_report(const SenderReport& sr) {
  std::array<std::uint8_t, 28> b{};
  b[0] = 0x80;  // V=2, P=0, RC=0
  b[1] = 200;   // PT=SR
  b[2] = 0;
  b[3] = 6;  // length in 32-bit words minus one
  put32(b, 4, sr.ssrc);
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(sr.wallclock.time_since_epoch()).count();
  const auto seconds = static_cast<std::uint64_t>(us / 1000000) + kNtpUnixOffset;
  const auto fraction = (static_cast<std::uint64_t>(us % 1000000) << 32) / 1000000;
  put32(b, 8, static_cast<std::uint32_t>(seconds));
  put32(b, 12, static_cast<std::uint32_t>(fraction));
  put32(b, 16, sr.rtp_timestamp);
  put32(b, 20, sr.packets);
  put32(b, 24, sr.octets);
  return b;
}

}  // namespace freehold::rtsp
