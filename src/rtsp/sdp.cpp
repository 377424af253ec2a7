// SPDX-License-Identifier: GPL-3.0-or-later
#include "rtsp/sdp.hpp"

#include <cstdio>

namespace freehold::rtsp {

std::string profile_level_id(const std::vector<std::uint8_t>& sps) {
  if (sps.size() < 4) return "42e01f";  // constrained baseline 3.1: the safest guess before the first SPS
  char buf[8];
  std::snprintf(buf, sizeof buf, "%02x%02x%02x", sps[1], sps[2], sps[3]);
  return buf;
}

std::string base64(const std::vector<std::uint8_t>& in) {
  static constexpr char kTable[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < in.size(); i += 3) {
    const std::uint32_t n = (std::uint32_t{in[i]} << 16) | (i + 1 < in.size() ? std::uint32_t{in[i + 1]} << 8 : 0) |
                            (i + 2 < in.size() ? in[i + 2] : 0u);
    out += kTable[(n >> 18) & 63];
    out += kTable[(n >> 12) & 63];
    out += i + 1 < in.size() ? kTable[(n >> 6) & 63] : '=';
    out += i + 2 < in.size() ? kTable[n & 63] : '=';
  }
  return out;
}

namespace {

// The session-level lines and the m= line, the same for every codec.
std::string session_and_media(const SdpVideo& v, int payload_type) {
  const bool v6 = v.origin_address.find(':') != std::string::npos;
  std::string s;
  s += "v=0\r\n";
  s += "o=- " + std::to_string(v.session_id) + " 1 IN " + (v6 ? "IP6 " : "IP4 ") + v.origin_address + "\r\n";
  s += "s=" + v.session_name + "\r\n";
  s += std::string("c=IN ") + (v6 ? "IP6 ::" : "IP4 0.0.0.0") + "\r\n";
  s += "t=0 0\r\n";
  s += "a=tool:freeholdd\r\n";
  s += "a=range:npt=now-\r\n";  // live: no seeking
  s += "a=control:*\r\n";
  s += "m=video 0 RTP/AVP " + std::to_string(payload_type) + "\r\n";
  return s;
}

}  // namespace

std::string describe_h264(const SdpVideo& v) {
  const std::string pt = std::to_string(v.payload_type);
  std::string s = session_and_media(v, v.payload_type);
  s += "a=rtpmap:" + pt + " H264/90000\r\n";
  s += "a=fmtp:" + pt + " packetization-mode=1;profile-level-id=" + profile_level_id(v.sps);
  if (!v.sps.empty() && !v.pps.empty()) s += ";sprop-parameter-sets=" + base64(v.sps) + "," + base64(v.pps);
  s += "\r\n";
  s += "a=control:" + v.control + "\r\n";
  return s;
}

std::string describe_jpeg(const SdpVideo& v) {
  constexpr int kJpeg = 26;  // RFC 3551 §6: static payload type, 90 kHz clock
  std::string s = session_and_media(v, kJpeg);
  s += "a=rtpmap:26 JPEG/90000\r\n";
  if (v.fps > 0) s += "a=framerate:" + std::to_string(v.fps) + "\r\n";
  s += "a=control:" + v.control + "\r\n";
  return s;
}

}  // namespace freehold::rtsp
