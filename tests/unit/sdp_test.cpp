// SPDX-License-Identifier: GPL-3.0-or-later
#include "rtsp/sdp.hpp"

#include <gtest/gtest.h>

namespace freehold::rtsp {
namespace {

TEST(Sdp, Base64MatchesRfc4648Vectors) {
  auto b = [](std::string s) { return base64(std::vector<std::uint8_t>(s.begin(), s.end())); };
  EXPECT_EQ(b(""), "");
  EXPECT_EQ(b("f"), "Zg==");
  EXPECT_EQ(b("fo"), "Zm8=");
  EXPECT_EQ(b("foo"), "Zm9v");
  EXPECT_EQ(b("foobar"), "Zm9vYmFy");
}

TEST(Sdp, H264DescriptionCarriesParameterSetsAndControls) {
  SdpVideo v;
  v.session_name = "Freehold main";
  v.origin_address = "192.0.2.10";
  v.session_id = 42;
  v.sps = {0x67, 0x4d, 0x40, 0x1f, 0xec};
  v.pps = {0x68, 0xef, 0x3c, 0x80};
  const std::string sdp = describe_h264(v);
  EXPECT_EQ(sdp,
            "v=0\r\n"
            "o=- 42 1 IN IP4 192.0.2.10\r\n"
            "s=Freehold main\r\n"
            "c=IN IP4 0.0.0.0\r\n"
            "t=0 0\r\n"
            "a=tool:freeholdd\r\n"
            "a=range:npt=now-\r\n"
            "a=control:*\r\n"
            "m=video 0 RTP/AVP 96\r\n"
            "a=rtpmap:96 H264/90000\r\n"
            "a=fmtp:96 packetization-mode=1;profile-level-id=4d401f;sprop-parameter-sets=Z01AH+w=,aO88gA==\r\n"
            "a=control:trackID=0\r\n");
  v.origin_address = "2001:db8::1";
  const std::string v6 = describe_h264(v);
  EXPECT_NE(v6.find("o=- 42 1 IN IP6 2001:db8::1\r\n"), std::string::npos) << v6;
  EXPECT_NE(v6.find("c=IN IP6 ::\r\n"), std::string::npos) << v6;
}

// RFC 2435 §5 / RFC 3551: static payload type 26, 90 kHz; the session lines are the same as for H.264.
TEST(Sdp, JpegDescriptionUsesTheStaticPayloadType) {
  SdpVideo v;
  v.session_name = "Freehold sub";
  v.origin_address = "192.0.2.10";
  v.session_id = 7;
  v.fps = 10;
  v.payload_type = 96;  // ignored: JPEG's type is static
  EXPECT_EQ(describe_jpeg(v),
            "v=0\r\n"
            "o=- 7 1 IN IP4 192.0.2.10\r\n"
            "s=Freehold sub\r\n"
            "c=IN IP4 0.0.0.0\r\n"
            "t=0 0\r\n"
            "a=tool:freeholdd\r\n"
            "a=range:npt=now-\r\n"
            "a=control:*\r\n"
            "m=video 0 RTP/AVP 26\r\n"
            "a=rtpmap:26 JPEG/90000\r\n"
            "a=framerate:10\r\n"
            "a=control:trackID=0\r\n");
  v.fps = 0;
  EXPECT_EQ(describe_jpeg(v).find("framerate"), std::string::npos) << "no rate known, none claimed";
}

}  // namespace
}  // namespace freehold::rtsp
