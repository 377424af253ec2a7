// SPDX-License-Identifier: GPL-3.0-or-later
#include "rtsp/message.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace freehold::rtsp {
namespace {

using namespace std::chrono_literals;

// Feeds `input` in pieces of the given sizes (the rest in one piece) and drains after each, as a server would.
struct Run {
  std::vector<Message> messages;
  std::optional<ParseFailure> failure;
};

Run run(std::string_view input, std::vector<std::size_t> pieces = {}, ParserLimits limits = {}) {
  MessageParser p(limits);
  Run out;
  auto push = [&](std::string_view chunk) {
    while (!chunk.empty() && !p.failure()) {
      const std::size_t n = p.feed(chunk);
      chunk.remove_prefix(n);
      bool progressed = n > 0;
      while (auto m = p.next()) {
        out.messages.push_back(std::move(*m));
        progressed = true;
      }
      EXPECT_TRUE(progressed || p.failure()) << "the feed/next loop must always progress";
      if (!progressed) break;
    }
  };
  for (std::size_t size : pieces) {
    const std::size_t n = std::min(size, input.size());
    push(input.substr(0, n));
    input.remove_prefix(n);
  }
  push(input);
  while (auto m = p.next()) out.messages.push_back(std::move(*m));
  out.failure = p.failure();
  return out;
}

const Request& request(const Message& m) { return std::get<Request>(m); }
const InterleavedFrame& frame(const Message& m) { return std::get<InterleavedFrame>(m); }

bool same(const Message& a, const Message& b) {
  if (a.index() != b.index()) return false;
  if (const auto* ra = std::get_if<Request>(&a)) {
    const auto& rb = std::get<Request>(b);
    if (ra->method != rb.method || ra->uri != rb.uri || ra->cseq != rb.cseq || ra->body != rb.body) return false;
    if (ra->headers.size() != rb.headers.size()) return false;
    for (std::size_t i = 0; i < ra->headers.size(); ++i) {
      if (ra->headers[i].name != rb.headers[i].name || ra->headers[i].value != rb.headers[i].value) return false;
    }
    return true;
  }
  return frame(a).channel == frame(b).channel && frame(a).payload == frame(b).payload;
}

// As ffmpeg 6 sends them (User-Agent shortened), with an RTCP receiver report between SETUP and PLAY.
const std::string kOptions =
    "OPTIONS rtsp://192.0.2.10:554/stream1 RTSP/1.0\r\n"
    "CSeq: 1\r\n"
    "User-Agent: Lavf60.16.100\r\n"
    "\r\n";
const std::string kSetParameter =
    "SET_PARAMETER rtsp://192.0.2.10:554/stream1 RTSP/1.0\r\n"
    "CSeq: 7\r\n"
    "Content-Type: text/parameters\r\n"
    "Session: 4F2A9C31\r\n"
    "content-length: 12\r\n"
    "\r\n"
    "barparam: x\n";
const std::string kRtcp = std::string("$\x01\x00\x08", 4) + std::string("\x81\xc9\x00\x01\xde\xad\xbe\xef", 8);
const std::string kGetParameter =
    "GET_PARAMETER rtsp://192.0.2.10:554/stream1/ RTSP/1.0\r\n"
    "CSeq: 8\r\n"
    "Session: 4F2A9C31\r\n"
    "\r\n";

TEST(RtspParser, ReadsARequestWithHeadersAndBody) {
  auto r = run(kSetParameter);
  ASSERT_FALSE(r.failure);
  ASSERT_EQ(r.messages.size(), 1u);
  const auto& q = request(r.messages[0]);
  EXPECT_EQ(q.method, "SET_PARAMETER");
  EXPECT_EQ(q.uri, "rtsp://192.0.2.10:554/stream1");
  EXPECT_EQ(q.cseq, "7");
  EXPECT_EQ(q.body, "barparam: x\n");
  EXPECT_EQ(q.header("CONTENT-TYPE"), "text/parameters") << "names compare without regard to case";
  EXPECT_EQ(q.header("session"), "4F2A9C31");
  EXPECT_FALSE(q.header("Range"));
}

TEST(RtspParser, KeepsRepeatedHeadersInOrder) {
  auto r = run("DESCRIBE rtsp://cam/s RTSP/1.0\r\nCSeq: 2\r\nAccept: application/sdp\r\nX-A: 1\r\n"
               "accept: text/plain\r\n\r\n");
  ASSERT_EQ(r.messages.size(), 1u);
  const auto values = request(r.messages[0]).header_values("Accept");
  ASSERT_EQ(values.size(), 2u);
  EXPECT_EQ(values[0], "application/sdp");
  EXPECT_EQ(values[1], "text/plain");
  EXPECT_EQ(request(r.messages[0]).header("accept"), "application/sdp") << "header() gives the first";
}

TEST(RtspParser, SplitAtEveryByteBoundaryGivesTheSameMessages) {
  const std::string stream = kOptions + kSetParameter + kRtcp + kGetParameter;
  const auto whole = run(stream);
  ASSERT_FALSE(whole.failure);
  ASSERT_EQ(whole.messages.size(), 4u);
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    const auto split = run(stream, {cut});
    ASSERT_FALSE(split.failure) << "cut at " << cut;
    ASSERT_EQ(split.messages.size(), whole.messages.size()) << "cut at " << cut;
    for (std::size_t i = 0; i < whole.messages.size(); ++i) {
      EXPECT_TRUE(same(split.messages[i], whole.messages[i])) << "cut at " << cut << ", message " << i;
    }
  }
  const auto bytewise = run(stream, std::vector<std::size_t>(stream.size(), 1));
  ASSERT_EQ(bytewise.messages.size(), whole.messages.size());
  for (std::size_t i = 0; i < whole.messages.size(); ++i) EXPECT_TRUE(same(bytewise.messages[i], whole.messages[i]));
}

TEST(RtspParser, PipelinedRequestsComeOutInOrder) {
  auto r = run(kOptions + kOptions + kGetParameter);
  ASSERT_EQ(r.messages.size(), 3u);
  EXPECT_EQ(request(r.messages[0]).method, "OPTIONS");
  EXPECT_EQ(request(r.messages[1]).method, "OPTIONS");
  EXPECT_EQ(request(r.messages[2]).cseq, "8");
}

TEST(RtspParser, InterleavedFramesBetweenRequests) {
  const std::string empty_frame("$\x00\x00\x00", 4);
  auto r = run(kOptions + kRtcp + empty_frame + kRtcp + kGetParameter);
  ASSERT_FALSE(r.failure);
  ASSERT_EQ(r.messages.size(), 5u);
  EXPECT_EQ(request(r.messages[0]).method, "OPTIONS");
  EXPECT_EQ(frame(r.messages[1]).channel, 1);
  EXPECT_EQ(frame(r.messages[1]).payload,
            (std::vector<std::uint8_t>{0x81, 0xc9, 0x00, 0x01, 0xde, 0xad, 0xbe, 0xef}));
  EXPECT_EQ(frame(r.messages[2]).channel, 0);
  EXPECT_TRUE(frame(r.messages[2]).payload.empty());
  EXPECT_EQ(request(r.messages[4]).method, "GET_PARAMETER");
}

TEST(RtspParser, InterleavedFrameIsBoundedByItsLengthFieldAlone) {
  // A frame's payload may look like anything, a request included; only the length decides where it ends.
  const std::string payload = "OPTIONS * RTSP/1.0\r\n\r\n";
  const std::string f = std::string("$\x03\x00", 3) + static_cast<char>(payload.size()) + payload;
  auto r = run(f + kOptions);
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(frame(r.messages[0]).channel, 3);
  EXPECT_EQ(frame(r.messages[0]).payload.size(), payload.size());
  EXPECT_EQ(request(r.messages[1]).method, "OPTIONS");

  const std::string big = std::string("$\x00\xff\xff", 4) + std::string(0xffff, 'x');
  auto b = run(big + kOptions);
  ASSERT_FALSE(b.failure);
  ASSERT_EQ(b.messages.size(), 2u);
  EXPECT_EQ(frame(b.messages[0]).payload.size(), 0xffffu) << "the largest frame fits the buffer";
}

TEST(RtspParser, AcceptsBareLineFeedsFoldedHeadersAndBlankLinesBetweenRequests) {
  auto r = run("\r\n\r\nOPTIONS * RTSP/1.0\nCSeq: 3\nX-Long: a\n  b\n\n\r\n" + kOptions);
  ASSERT_FALSE(r.failure);
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(request(r.messages[0]).uri, "*");
  EXPECT_EQ(request(r.messages[0]).header("X-Long"), "a b");
  EXPECT_EQ(request(r.messages[1]).cseq, "1");
}

TEST(RtspParser, NothingUntilComplete) {
  MessageParser p;
  const std::string half = kSetParameter.substr(0, kSetParameter.size() - 3);
  EXPECT_EQ(p.feed(half), half.size());
  EXPECT_FALSE(p.next());
  EXPECT_FALSE(p.failure());
  EXPECT_EQ(p.feed(kSetParameter.substr(half.size())), 3u);
  auto m = p.next();
  ASSERT_TRUE(m);
  EXPECT_EQ(request(*m).body, "barparam: x\n");
  EXPECT_EQ(p.buffered(), 0u);
}

TEST(RtspParser, HeadLimitCountsRequestLineHeadersAndTheBlankLine) {
  ParserLimits limits;
  limits.head = 64;
  const std::string head = "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n";  // 30 bytes
  const std::string exact = head + "X: " + std::string(64 - head.size() - 7, 'a') + "\r\n\r\n";
  ASSERT_EQ(exact.size(), 64u);
  EXPECT_EQ(run(exact, {}, limits).messages.size(), 1u);
  const std::string over = head + "X: " + std::string(64 - head.size() - 6, 'a') + "\r\n\r\n";
  for (auto pieces : {std::vector<std::size_t>{}, std::vector<std::size_t>(over.size(), 1)}) {
    auto r = run(over, pieces, limits);
    ASSERT_TRUE(r.failure);
    EXPECT_EQ(r.failure->error, ParseError::head_too_large);
    EXPECT_EQ(r.failure->status, 431);
    EXPECT_TRUE(r.messages.empty());
  }
}

TEST(RtspParser, HeadOverEightKibibytesIs431) {
  const std::string req =
      "DESCRIBE rtsp://cam/s RTSP/1.0\r\nCSeq: 1\r\nX-Filler: " + std::string(9000, 'a') + "\r\n\r\n";
  auto r = run(req);
  ASSERT_TRUE(r.failure);
  EXPECT_EQ(r.failure->error, ParseError::head_too_large);
  EXPECT_EQ(r.failure->status, 431);
  EXPECT_NE(r.failure->message.find("8192"), std::string::npos) << r.failure->message;
  // Without a terminator at all, the limit is noticed as soon as it is passed, not at the end of the stream.
  MessageParser p;
  EXPECT_EQ(p.feed(std::string(8192, 'A')), 8192u);
  EXPECT_FALSE(p.next());
  ASSERT_TRUE(p.failure());
  EXPECT_EQ(p.failure()->error, ParseError::head_too_large);
  EXPECT_EQ(p.feed("more"), 0u) << "a failed stream takes nothing more";
}

TEST(RtspParser, MoreThanSixtyFourHeadersIs431) {
  std::string req = "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n";
  for (int i = 0; i < 63; ++i) req += "X-" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(run(req + "\r\n").messages.size(), 1u) << "64 headers are fine";
  auto r = run(req + "X-64: v\r\n\r\n");
  ASSERT_TRUE(r.failure);
  EXPECT_EQ(r.failure->error, ParseError::too_many_headers);
  EXPECT_EQ(r.failure->status, 431);
}

TEST(RtspParser, BodyOverSixtyFourKibibytesIs413) {
  auto ok = run("ANNOUNCE * RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 65536\r\n\r\n" + std::string(65536, 'b'));
  ASSERT_EQ(ok.messages.size(), 1u);
  EXPECT_EQ(request(ok.messages[0]).body.size(), 65536u);
  auto r = run("ANNOUNCE * RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 65537\r\n\r\n");
  ASSERT_TRUE(r.failure);
  EXPECT_EQ(r.failure->error, ParseError::body_too_large);
  EXPECT_EQ(r.failure->status, 413);
  auto huge = run("ANNOUNCE * RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 99999999999999999999999\r\n\r\n");
  ASSERT_TRUE(huge.failure);
  EXPECT_EQ(huge.failure->error, ParseError::bad_content_length);
}

TEST(RtspParser, EachMalformedHeadNamesItsProblem) {
  struct Case {
    std::string input;
    ParseError error;
    int status;
  };
  const Case cases[] = {
      {"OPTIONS *\r\nCSeq: 1\r\n\r\n", ParseError::bad_request_line, 400},
      {"OPTIONS  * RTSP/1.0\r\nCSeq: 1\r\n\r\n", ParseError::bad_request_line, 400},
      {"OPT(IONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n", ParseError::bad_request_line, 400},
      {"GET / HTTP/1.1\r\nHost: cam\r\n\r\n", ParseError::bad_version, 505},
      {"OPTIONS * RTSP/2.0\r\nCSeq: 1\r\n\r\n", ParseError::bad_version, 505},
      {"OPTIONS * RTSP/1.0\r\nCSeq 1\r\n\r\n", ParseError::bad_header, 400},
      {"OPTIONS * RTSP/1.0\r\nCSeq : 1\r\n\r\n", ParseError::bad_header, 400},
      {"OPTIONS * RTSP/1.0\r\n folded: first\r\nCSeq: 1\r\n\r\n", ParseError::bad_header, 400},
      {"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nX: a" + std::string(1, '\0') + "b\r\n\r\n", ParseError::bad_header, 400},
      {"OPTIONS * RTSP/1.0\r\nUser-Agent: x\r\n\r\n", ParseError::bad_cseq, 400},
      {"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nCSeq: 2\r\n\r\n", ParseError::bad_cseq, 400},
      {"OPTIONS * RTSP/1.0\r\nCSeq: one\r\n\r\n", ParseError::bad_cseq, 400},
      {"OPTIONS * RTSP/1.0\r\nCSeq: 12345678901\r\n\r\n", ParseError::bad_cseq, 400},
      {"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nContent-Length: -1\r\n\r\n", ParseError::bad_content_length, 400},
      {"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
       ParseError::bad_content_length, 400},
  };
  for (const auto& c : cases) {
    auto r = run(c.input);
    ASSERT_TRUE(r.failure) << c.input;
    EXPECT_EQ(r.failure->error, c.error) << c.input;
    EXPECT_EQ(r.failure->status, c.status) << c.input;
    EXPECT_FALSE(r.failure->message.empty());
    EXPECT_EQ(r.failure->message.find('\n'), std::string::npos) << "one log line";
  }
}

TEST(RtspParser, RequestsBeforeAFailureStillComeOut) {
  auto r = run(kOptions + "BROKEN\r\n\r\n" + kOptions);
  ASSERT_EQ(r.messages.size(), 1u);
  ASSERT_TRUE(r.failure);
  EXPECT_EQ(r.failure->error, ParseError::bad_request_line);
}

TEST(RtspParser, FeedNeverBuffersMoreThanOneLargestMessage) {
  std::string flood;
  while (flood.size() < 300 * 1024) flood += kOptions;
  MessageParser p;
  std::string_view rest = flood;
  std::size_t requests = 0;
  while (!rest.empty()) {
    const std::size_t n = p.feed(rest);
    rest.remove_prefix(n);
    EXPECT_LE(p.buffered(), p.capacity());
    while (auto m = p.next()) ++requests;
  }
  EXPECT_EQ(requests, flood.size() / kOptions.size());
  EXPECT_GE(p.capacity(), 8u * 1024 + 64 * 1024);
}

TEST(RtspResponse, SerializesStatusCSeqDateServerHeadersAndBody) {
  Response r;
  r.status = 200;
  r.header("Content-Type", "application/sdp").header("Content-Base", "rtsp://cam/s/");
  r.body = "v=0\r\n";
  const auto at = std::chrono::sys_days{std::chrono::November / 6 / 1994} + 8h + 49min + 37s;
  EXPECT_EQ(serialize(r, "3", "Freehold/0.1", at),
            "RTSP/1.0 200 OK\r\n"
            "CSeq: 3\r\n"
            "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
            "Server: Freehold/0.1\r\n"
            "Content-Type: application/sdp\r\n"
            "Content-Base: rtsp://cam/s/\r\n"
            "Content-Length: 5\r\n"
            "\r\n"
            "v=0\r\n");
}

TEST(RtspResponse, EchoedTextCannotAddHeaders) {
  Response r;
  r.status = 454;
  r.header("Session", "abc\r\nX-Evil: 1").header("Bad Name", "x").header("content-length", "99");
  const std::string out = serialize(r, "", "", std::chrono::system_clock::time_point{});
  EXPECT_EQ(out,
            "RTSP/1.0 454 Session Not Found\r\n"
            "Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
            "Session: abcX-Evil: 1\r\n"
            "\r\n");
  EXPECT_EQ(reason_phrase(413), "Request Entity Too Large");
  EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(reason_phrase(461), "Unsupported transport");
  EXPECT_EQ(reason_phrase(799), "Unknown");
}

TEST(RtspTransport, FfmpegTcpAndUdp) {
  auto tcp = choose_transport("RTP/AVP/TCP;unicast;interleaved=0-1");
  ASSERT_TRUE(tcp);
  EXPECT_EQ(tcp->lower, LowerTransport::tcp);
  EXPECT_FALSE(tcp->multicast);
  EXPECT_EQ(tcp->interleaved, (PortRange{0, 1}));
  EXPECT_FALSE(tcp->client_port);

  auto udp = choose_transport("RTP/AVP/UDP;unicast;client_port=5000-5001");
  ASSERT_TRUE(udp);
  EXPECT_EQ(udp->lower, LowerTransport::udp);
  EXPECT_EQ(udp->client_port, (PortRange{5000, 5001}));

  auto record = parse_transport_spec("RTP/AVP/UDP;unicast;client_port=5000-5001;mode=record");
  ASSERT_TRUE(record);
  EXPECT_TRUE(record->record) << "ffmpeg publishing says mode=record";
}

TEST(RtspTransport, Vlc) {
  // live555 (VLC) says RTP/AVP for UDP and sends its TCP request without "unicast".
  auto udp = choose_transport("RTP/AVP;unicast;client_port=52300-52301");
  ASSERT_TRUE(udp);
  EXPECT_EQ(udp->lower, LowerTransport::udp);
  EXPECT_EQ(udp->client_port, (PortRange{52300, 52301}));
  auto tcp = choose_transport("RTP/AVP/TCP;unicast;interleaved=2-3");
  ASSERT_TRUE(tcp);
  EXPECT_EQ(tcp->interleaved, (PortRange{2, 3}));
  auto bare = choose_transport("RTP/AVP/TCP;interleaved=0-1");
  ASSERT_TRUE(bare);
  EXPECT_FALSE(bare->multicast) << "unicast is the default";
}

TEST(RtspTransport, GStreamerListOfAlternativesPicksTheFirstSupported) {
  const std::string offer =
      "RTP/AVP;multicast;mode=\"PLAY\",RTP/AVP;unicast;client_port=40000-40001;mode=\"PLAY\","
      "RTP/AVP/TCP;unicast;interleaved=0-1;mode=\"PLAY\"";
  auto t = choose_transport(offer);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->lower, LowerTransport::udp);
  EXPECT_FALSE(t->multicast);
  EXPECT_EQ(t->client_port, (PortRange{40000, 40001}));
  EXPECT_FALSE(t->record);

  TransportSupport tcp_only;
  tcp_only.udp = false;
  auto t2 = choose_transport(offer, tcp_only);
  ASSERT_TRUE(t2);
  EXPECT_EQ(t2->lower, LowerTransport::tcp);
  EXPECT_EQ(t2->interleaved, (PortRange{0, 1}));

  TransportSupport with_multicast;
  with_multicast.multicast = true;
  auto t3 = choose_transport(offer, with_multicast);
  ASSERT_TRUE(t3);
  EXPECT_TRUE(t3->multicast);

  // Spaces after the commas, as some versions send; a quoted mode list does not split the alternatives.
  auto t4 = choose_transport("RTP/SAVP;unicast;client_port=1-2;mode=\"PLAY,RECORD\", RTP/AVP/TCP;interleaved=4-5");
  ASSERT_TRUE(t4);
  EXPECT_EQ(t4->interleaved, (PortRange{4, 5}));
}

TEST(RtspTransport, ParametersAndTheirErrors) {
  auto t = parse_transport_spec("RTP/AVP;unicast;client_port=6970;ssrc=1a2B3c4D;ttl=16;source=1.2.3.4;x-ext=1");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->client_port, (PortRange{6970, 6970})) << "a single port is kept as it is";
  EXPECT_EQ(t->ssrc, 0x1A2B3C4Du);
  EXPECT_EQ(t->ttl, 16);

  struct Case {
    const char* spec;
    const char* why;
  };
  const Case cases[] = {
      {"RTP/SAVP;unicast;client_port=1-2", "RTP/SAVP"},
      {"RAW/RAW/UDP;unicast", "RAW/RAW/UDP"},
      {"RTP/AVP;unicast;client_port=5001-5000", "client_port"},
      {"RTP/AVP;unicast;client_port=70000-70001", "client_port"},
      {"RTP/AVP;unicast;client_port=a-b", "client_port"},
      {"RTP/AVP/TCP;interleaved=0-256", "interleaved"},
      {"RTP/AVP/TCP;interleaved=0-1;interleaved=2-3", "given twice"},
      {"RTP/AVP;unicast;client_port=1-2;ssrc=123456789", "ssrc"},
      {"RTP/AVP;unicast;client_port=1-2;mode=TEARDOWN", "mode"},
      {"RTP/AVP;multicast;destination=a b", "destination"},
  };
  for (const auto& c : cases) {
    std::string error;
    EXPECT_FALSE(parse_transport_spec(c.spec, &error)) << c.spec;
    EXPECT_NE(error.find(c.why), std::string::npos) << c.spec << " -> " << error;
  }
}

TEST(RtspTransport, UnsupportedChoicesSayWhy) {
  std::string error;
  EXPECT_FALSE(choose_transport("RTP/AVP;unicast", {}, &error));
  EXPECT_NE(error.find("client_port"), std::string::npos) << error;
  EXPECT_FALSE(choose_transport("RTP/AVP;multicast", {}, &error));
  EXPECT_NE(error.find("multicast"), std::string::npos) << error;
  EXPECT_FALSE(choose_transport("RTP/AVP/TCP;unicast;interleaved=0-1;mode=RECORD", {}, &error));
  EXPECT_NE(error.find("RECORD"), std::string::npos) << error;
  EXPECT_FALSE(choose_transport("", {}, &error));
  EXPECT_FALSE(error.empty());
  TransportSupport udp_only;
  udp_only.tcp = false;
  EXPECT_FALSE(choose_transport("RTP/AVP/TCP;unicast;interleaved=0-1", udp_only, &error));
  EXPECT_NE(error.find("TCP"), std::string::npos) << error;
}

TEST(RtspTransport, FormatsTheSetupReply) {
  Transport t;
  t.lower = LowerTransport::tcp;
  t.interleaved = PortRange{0, 1};
  t.ssrc = 0x0000BEEF;
  EXPECT_EQ(format_transport(t), "RTP/AVP/TCP;unicast;interleaved=0-1;ssrc=0000BEEF");
  Transport u;
  u.client_port = PortRange{5000, 5001};
  u.server_port = PortRange{6970, 6971};
  EXPECT_EQ(format_transport(u), "RTP/AVP;unicast;client_port=5000-5001;server_port=6970-6971");
  EXPECT_EQ(parse_transport_spec(format_transport(u)), u);
}

TEST(RtspSession, ParsesIdAndTimeout) {
  auto s = parse_session("4F2A9C31;timeout=60");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->id, "4F2A9C31");
  EXPECT_EQ(s->timeout, 60u);
  auto plain = parse_session(" 12345678 ");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->id, "12345678");
  EXPECT_FALSE(plain->timeout);
  EXPECT_EQ(format_session({"ab$-_.+", 30}), "ab$-_.+;timeout=30");
  EXPECT_FALSE(parse_session(""));
  EXPECT_FALSE(parse_session("a b"));
  EXPECT_FALSE(parse_session("abc;timeout=x"));
  EXPECT_FALSE(parse_session("abc;timeout=99999999999"));
  EXPECT_FALSE(parse_session(std::string(129, 'a')));
  EXPECT_TRUE(parse_session(std::string(128, 'a')));
}

TEST(RtspRange, NormalPlayTime) {
  using std::chrono::milliseconds;
  EXPECT_EQ(parse_range("npt=0.000-"), (NptRange{milliseconds(0), std::nullopt}));
  EXPECT_EQ(parse_range("npt=now-"), (NptRange{}));
  EXPECT_EQ(parse_range("npt = 10-20.5"), (NptRange{milliseconds(10000), milliseconds(20500)}));
  EXPECT_EQ(parse_range("npt=1:02:03.25-"), (NptRange{milliseconds(3723250), std::nullopt}));
  EXPECT_EQ(parse_range("npt=-5"), (NptRange{std::nullopt, milliseconds(5000)}));
  EXPECT_EQ(parse_range("npt=0-;time=19970123T143720Z"), (NptRange{milliseconds(0), std::nullopt}));
  EXPECT_FALSE(parse_range("smpte=10:07:00-10:07:33:05.01"));
  EXPECT_FALSE(parse_range("clock=19961108T142300Z-"));
  EXPECT_FALSE(parse_range("npt=20-10")) << "457 Invalid Range";
  EXPECT_FALSE(parse_range("npt=-"));
  EXPECT_FALSE(parse_range("npt=1:60:00-"));
  EXPECT_FALSE(parse_range("npt=abc-"));
  EXPECT_FALSE(parse_range("npt=9999999999999-"));
  EXPECT_EQ(format_range({milliseconds(0), std::nullopt}), "npt=0.000-");
  EXPECT_EQ(format_range({milliseconds(1500), milliseconds(61000)}), "npt=1.500-61.000");
}

}  // namespace
}  // namespace freehold::rtsp
