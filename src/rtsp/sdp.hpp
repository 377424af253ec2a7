// SPDX-License-Identifier: GPL-3.0-or-later
// The session description answered to DESCRIBE (RFC 4566, with RFC 6184 §8 for H.264, RFC 2435 and RFC 3551 for
// JPEG, and RFC 2326 Appendix C for the RTSP attributes).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace freehold::rtsp {

struct SdpVideo {
  std::string session_name;         // s=
  std::string origin_address;       // o= address: the server address the client connected to
  std::uint64_t session_id = 0;     // o= sess-id, stable for a stream
  std::vector<std::uint8_t> sps;    // without start code
  std::vector<std::uint8_t> pps;
  int payload_type = 96;            // H.264's dynamic type; JPEG always has the static type 26
  int fps = 0;                      // a=framerate (JPEG), when known
  std::string control = "trackID=0";
};

// "profile-level-id" from the SPS (profile_idc, constraint flags, level_idc, as hex).
[[nodiscard]] std::string profile_level_id(const std::vector<std::uint8_t>& sps);
[[nodiscard]] std::string base64(const std::vector<std::uint8_t>& bytes);
[[nodiscard]] std::string describe_h264(const SdpVideo& v);
// Motion JPEG: the picture size and tables travel in every RTP packet, so only the rate is described.
[[nodiscard]] std::string describe_jpeg(const SdpVideo& v);

}  // namespace freehold::rtsp
