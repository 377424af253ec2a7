// SPDX-License-Identifier: GPL-3.0-or-later
// The browser's live view: fragmented MP4 read back by FFmpeg's MP4 demuxer and decoded (the burned-in counters
// must come back in order), the shared fragment ring with several viewers, refusals; and the web UI's files
// (encodings, validators, cache rules, the HTTPS redirect).
#include <gtest/gtest.h>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
}

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "hal/source.hpp"
#include "support/eventually.hpp"
#include "media/annexb.hpp"
#include "media/capture.hpp"
#include "media/encoder.hpp"
#include "media/fmp4.hpp"
#include "media/video_stream.hpp"
#include "web/live.hpp"
#include "web/static_files.hpp"

namespace freehold {
namespace {

namespace fs = std::filesystem;
using media::EncodedFrame;

std::uint32_t be32(const std::vector<std::uint8_t>& b, std::size_t at) {
  return (std::uint32_t{b[at]} << 24) | (std::uint32_t{b[at + 1]} << 16) | (std::uint32_t{b[at + 2]} << 8) | b[at + 3];
}

// Top-level boxes: type and size, checking that they tile the buffer exactly.
std::vector<std::pair<std::string, std::size_t>> top_boxes(const std::vector<std::uint8_t>& b) {
  std::vector<std::pair<std::string, std::size_t>> out;
  std::size_t at = 0;
  while (at + 8 <= b.size()) {
    const std::size_t size = be32(b, at);
    if (size < 8 || at + size > b.size()) return {};
    out.emplace_back(std::string(b.begin() + static_cast<std::ptrdiff_t>(at) + 4,
                                 b.begin() + static_cast<std::ptrdiff_t>(at) + 8),
                     size);
    at += size;
  }
  return at == b.size() ? out : decltype(out){};
}

std::vector<EncodedFrame> encode_synthetic(int frames, int width, int height, int gop) {
  auto src = hal::make_synthetic_source({width, height, 25, false, false});
  std::string err;
  auto enc = media::make_x264_encoder({width, height, 25, 800, false, gop}, &err);
  EXPECT_TRUE(enc) << err;
  std::vector<EncodedFrame> out;
  hal::Picture p;
  for (int i = 0; i < frames; ++i) {
    EXPECT_EQ(src->next(p), std::nullopt);
    EncodedFrame f;
    EXPECT_EQ(enc->encode(p, f), std::nullopt);
    f.capture_us = i * 40000;
    out.push_back(std::move(f));
  }
  return out;
}

TEST(Fmp4, TrackAndCodecStringComeFromTheParameterSets) {
  auto frames = encode_synthetic(1, 320, 240, 10);
  auto track = media::track_from_access_unit(frames[0].data);
  ASSERT_TRUE(track);
  EXPECT_EQ(media::nal_type(track->sps), media::kNalSps);
  EXPECT_EQ(media::nal_type(track->pps), media::kNalPps);
  const std::string codec = media::avc1_codec(track->sps);
  EXPECT_EQ(codec.size(), 11u) << codec;
  EXPECT_TRUE(codec.starts_with("avc1.")) << codec;
  const std::uint8_t no_params[] = {0, 0, 0, 1, 0x65, 0x88, 0x84};
  EXPECT_FALSE(media::track_from_access_unit(no_params)) << "an IDR without SPS/PPS makes no track";
}

TEST(Fmp4, FragmentLayoutPointsTrunAtTheSamples) {
  auto frames = encode_synthetic(2, 320, 240, 10);
  auto frag = media::fmp4_fragment(7, {frames[1].data, 3600, 3600, false});
  auto boxes = top_boxes(frag);
  ASSERT_EQ(boxes.size(), 2u);
  EXPECT_EQ(boxes[0].first, "moof");
  EXPECT_EQ(boxes[1].first, "mdat");
  // mfhd's sequence number right after moof(8) + mfhd header(8) + version/flags(4)
  EXPECT_EQ(be32(frag, 20), 7u);
  // The mdat payload is the access unit in 4-byte length-prefixed form, without parameter sets or delimiters.
  std::size_t at = boxes[0].second + 8, nals = 0;
  while (at < frag.size()) {
    const std::uint32_t n = be32(frag, at);
    ASSERT_LE(at + 4 + n, frag.size());
    const auto t = frag[at + 4] & 0x1f;
    EXPECT_NE(t, media::kNalSps);
    EXPECT_NE(t, media::kNalAud);
    at += 4 + n;
    ++nals;
  }
  EXPECT_EQ(at, frag.size());
  EXPECT_GE(nals, 1u);
  auto init = media::fmp4_init_segment(*media::track_from_access_unit(encode_synthetic(1, 320, 240, 10)[0].data));
  auto ib = top_boxes(init);
  ASSERT_EQ(ib.size(), 2u);
  EXPECT_EQ(ib[0].first, "ftyp");
  EXPECT_EQ(ib[1].first, "moov");
}

// Init segment + fragments, as a browser's SourceBuffer gets them, demuxed by libavformat's MP4 reader and decoded
// by libavcodec: every frame comes back, in order, at its time, with its burned-in counter.
TEST(Fmp4, FfmpegDemuxesAndDecodesTheFragments) {
  const int n = 30;
  auto frames = encode_synthetic(n, 320, 240, 10);
  auto track = media::track_from_access_unit(frames[0].data);
  ASSERT_TRUE(track);
  track->width = 320;
  track->height = 240;
  std::vector<std::uint8_t> file = media::fmp4_init_segment(*track);
  for (int i = 0; i < n; ++i) {
    auto frag = media::fmp4_fragment(static_cast<std::uint32_t>(i + 1),
                                     {frames[static_cast<std::size_t>(i)].data, static_cast<std::uint64_t>(i) * 3600,
                                      3600, frames[static_cast<std::size_t>(i)].keyframe});
    file.insert(file.end(), frag.begin(), frag.end());
  }
  const fs::path path = fs::temp_directory_path() / ("freehold-fmp4-" + std::to_string(::getpid()) + ".mp4");
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(file.data()),
                                              static_cast<std::streamsize>(file.size()));
  AVFormatContext* fmt = nullptr;
  ASSERT_EQ(avformat_open_input(&fmt, path.c_str(), nullptr, nullptr), 0);
  ASSERT_GE(avformat_find_stream_info(fmt, nullptr), 0);
  ASSERT_EQ(fmt->nb_streams, 1u);
  const AVCodecParameters* par = fmt->streams[0]->codecpar;
  EXPECT_EQ(par->codec_id, AV_CODEC_ID_H264);
  EXPECT_EQ(par->width, 320);
  EXPECT_EQ(par->height, 240);
  const AVCodec* codec = avcodec_find_decoder(par->codec_id);
  AVCodecContext* dec = avcodec_alloc_context3(codec);
  avcodec_parameters_to_context(dec, par);
  ASSERT_EQ(avcodec_open2(dec, codec, nullptr), 0);
  AVPacket* pkt = av_packet_alloc();
  AVFrame* pic = av_frame_alloc();
  std::vector<std::uint64_t> counters;
  std::vector<std::int64_t> pts;
  std::vector<std::uint8_t> luma;
  auto drain = [&] {
    while (avcodec_receive_frame(dec, pic) == 0) {
      luma.resize(static_cast<std::size_t>(pic->width) * pic->height);
      for (int y = 0; y < pic->height; ++y) {
        std::copy_n(pic->data[0] + static_cast<std::ptrdiff_t>(y) * pic->linesize[0], pic->width,
                    luma.begin() + static_cast<std::ptrdiff_t>(y) * pic->width);
      }
      if (auto c = hal::read_burned_counter(luma.data(), pic->width, pic->height)) counters.push_back(*c);
      pts.push_back(pic->best_effort_timestamp);
    }
  };
  while (av_read_frame(fmt, pkt) == 0) {
    EXPECT_EQ(avcodec_send_packet(dec, pkt), 0);
    av_packet_unref(pkt);
    drain();
  }
  avcodec_send_packet(dec, nullptr);
  drain();
  av_frame_free(&pic);
  av_packet_free(&pkt);
  avcodec_free_context(&dec);
  avformat_close_input(&fmt);
  fs::remove(path);
  ASSERT_EQ(counters.size(), static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(counters[static_cast<std::size_t>(i)], static_cast<std::uint64_t>(i));
    EXPECT_EQ(pts[static_cast<std::size_t>(i)], i * 3600) << "tfdt carries the decode time, 90 kHz";
  }
}

using test::eventually;

struct Messages {
  std::vector<nlohmann::json> texts;
  std::vector<std::shared_ptr<const std::vector<std::uint8_t>>> binaries;
  std::vector<std::string> order;  // "text:<type>" or "binary"
};

void pull_into(web::WebSocketFeed& feed, Messages& m) {
  std::vector<web::WsMessage> out;
  feed.pull(out);
  for (auto& x : out) {
    if (x.binary) {
      m.binaries.push_back(x.binary);
      m.order.push_back("binary");
    } else {
      m.texts.push_back(nlohmann::json::parse(x.text));
      m.order.push_back("text:" + m.texts.back()["type"].get<std::string>());
    }
  }
}

media::EncoderFactory x264() {
  return [](const media::EncoderSettings& s, std::string* e) { return media::make_x264_encoder(s, e); };
}

TEST(LiveHub, ViewersShareOneFragmentRingAndStartAtAKeyframe) {
  media::Capture capture(hal::make_synthetic_source({320, 240, 50, false, true}));
  media::VideoStream stream("main", capture.subscribe({}), x264(), {320, 240, 50, 500, false, 25}, 100);
  boost::asio::io_context io;
  std::optional<std::string> off;
  web::LiveHub hub(io, {&stream}, [&](const std::string&) { return off; });
  EXPECT_EQ(hub.open("nope").status, 404);
  capture.start();
  stream.start();
  auto a = hub.open("main");
  ASSERT_TRUE(a.feed);
  EXPECT_EQ(hub.viewers("main"), 1);
  int wakes = 0;
  a.feed->wake = [&] { ++wakes; };
  Messages ma;
  ASSERT_TRUE(eventually([&] {
    io.poll();
    io.restart();
    pull_into(*a.feed, ma);
    return ma.binaries.size() >= 30;
  }));
  EXPECT_GT(wakes, 0) << "a new fragment wakes its viewers";
  ASSERT_GE(ma.order.size(), 3u);
  EXPECT_EQ(ma.order[0], "text:init");
  EXPECT_EQ(ma.order[1], "binary");
  EXPECT_EQ(ma.texts[0]["width"], 320);
  EXPECT_EQ(ma.texts[0]["height"], 240);
  EXPECT_TRUE(ma.texts[0]["mime"].get<std::string>().starts_with("video/mp4; codecs=\"avc1."));
  EXPECT_EQ(top_boxes(*ma.binaries[0])[1].first, "moov");
  EXPECT_EQ(top_boxes(*ma.binaries[1])[0].first, "moof");
  // The first fragment holds a keyframe: trun's sample flags say "depends on no other".
  const auto& first = *ma.binaries[1];
  bool sync = false;
  for (std::size_t i = 0; i + 4 <= first.size(); ++i) {
    if (first[i] == 't' && first[i + 1] == 'r' && first[i + 2] == 'u' && first[i + 3] == 'n') {
      sync = be32(first, i + 4 + 4 + 4 + 4 + 4 + 4) == 0x02000000u;  // flags, count, offset, duration, size
      break;
    }
  }
  EXPECT_TRUE(sync);

  // A second viewer joins mid-stream: its own init first, then a keyframe; the same fragment objects as the first's.
  auto b = hub.open("main");
  ASSERT_TRUE(b.feed);
  EXPECT_EQ(hub.viewers("main"), 2);
  Messages mb;
  ASSERT_TRUE(eventually([&] {
    io.poll();
    io.restart();
    pull_into(*a.feed, ma);
    pull_into(*b.feed, mb);
    return mb.binaries.size() >= 5;
  }));
  EXPECT_EQ(mb.order[0], "text:init");
  bool shared = false;
  for (const auto& f : mb.binaries) {
    for (const auto& g : ma.binaries) shared = shared || f.get() == g.get();
  }
  EXPECT_TRUE(shared) << "fragments are made once per stream, not once per viewer";

  // Privacy mode: every viewer is told why, and the feed ends.
  off = "privacy mode is on: streams are off";
  ASSERT_TRUE(eventually([&] {
    io.poll();
    io.restart();
    pull_into(*a.feed, ma);
    return a.feed->ended();
  }));
  EXPECT_EQ(ma.texts.back()["type"], "error");
  EXPECT_EQ(ma.texts.back()["code"], "refused");
  EXPECT_EQ(hub.open("main").status, 503);
  a.feed.reset();
  b.feed.reset();
  EXPECT_EQ(hub.viewers("main"), 0);
  EXPECT_TRUE(eventually([&] { return stream.readers() == 0; })) << "the last viewer lets the encoder idle";
  stream.stop();
  capture.stop();
}

class WebUiFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("freehold-webui-" + std::to_string(::getpid()));
    fs::create_directories(root_ / "assets");
    write("index.html", "<!doctype html><title>t</title>");
    write("index.html.gz", "GZ");
    write("index.html.br", "BR");
    write("assets/app-1a2b.js", "console.log(1)");
  }
  void TearDown() override { fs::remove_all(root_); }
  void write(const std::string& rel, const std::string& body) { std::ofstream(root_ / rel, std::ios::binary) << body; }
  static web::Request get(std::string path, std::vector<std::pair<std::string, std::string>> headers = {}) {
    web::Request r;
    r.method = "GET";
    r.path = std::move(path);
    r.headers = std::move(headers);
    r.tls = true;
    r.local_address = "192.0.2.10";
    return r;
  }
  static std::string header(const web::Response& r, std::string_view name) {
    for (const auto& [k, v] : r.headers) {
      if (k == name) return v;
    }
    return {};
  }
  fs::path root_;
};

TEST_F(WebUiFiles, PicksTheBestEncodingTheBrowserTakes) {
  std::string err;
  auto ui = web::StaticFiles::load(root_, &err);
  ASSERT_TRUE(ui) << err;
  EXPECT_EQ(ui->files(), 2u) << "variants are not files of their own";
  auto r = ui->serve(get("/", {{"accept-encoding", "gzip, deflate, br"}}), 443);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "BR");
  EXPECT_EQ(header(r, "Content-Encoding"), "br");
  EXPECT_EQ(header(r, "Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(header(r, "Cache-Control"), "no-cache");
  EXPECT_EQ(header(r, "Vary"), "Accept-Encoding");
  EXPECT_NE(header(r, "Content-Security-Policy").find("script-src 'self'"), std::string::npos);
  EXPECT_EQ(ui->serve(get("/index.html", {{"accept-encoding", "gzip;q=1.0, br;q=0"}}), 443).body, "GZ");
  EXPECT_EQ(ui->serve(get("/index.html", {{"accept-encoding", "identity"}}), 443).body, "<!doctype html><title>t</title>");
  EXPECT_EQ(ui->serve(get("/index.html"), 443).body, "<!doctype html><title>t</title>");
}

TEST_F(WebUiFiles, HashedAssetsAreImmutableAndValidatorsAnswer304) {
  std::string err;
  auto ui = web::StaticFiles::load(root_, &err);
  ASSERT_TRUE(ui) << err;
  auto r = ui->serve(get("/assets/app-1a2b.js"), 443);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(header(r, "Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(header(r, "Cache-Control"), "public, max-age=31536000, immutable");
  const std::string etag = header(r, "ETag");
  ASSERT_FALSE(etag.empty());
  auto again = ui->serve(get("/assets/app-1a2b.js", {{"if-none-match", etag}}), 443);
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());
  EXPECT_EQ(ui->serve(get("/assets/nope.js"), 443).status, 404);
  EXPECT_EQ(ui->serve(get("/../etc/passwd"), 443).status, 404);
  auto post = get("/");
  post.method = "POST";
  EXPECT_EQ(ui->serve(post, 443).status, 405);
}

TEST_F(WebUiFiles, PlainHttpRedirectsToTheHttpsPort) {
  std::string err;
  auto ui = web::StaticFiles::load(root_, &err);
  ASSERT_TRUE(ui) << err;
  auto plain = get("/index.html", {{"host", "cam.lan:8080"}});
  plain.tls = false;
  auto r = ui->serve(plain, 8443);
  EXPECT_EQ(r.status, 308);
  EXPECT_EQ(header(r, "Location"), "https://cam.lan:8443/index.html");
  plain.headers = {{"host", "[2001:db8::1]:80"}};
  EXPECT_EQ(header(ui->serve(plain, 443), "Location"), "https://[2001:db8::1]/index.html");
  plain.headers = {{"host", "evil\"host"}};
  EXPECT_EQ(header(ui->serve(plain, 443), "Location"), "https://192.0.2.10/index.html") << "a malformed Host is not echoed";
  plain.headers = {{"host", "cam.lan"}};
  plain.path = std::string("/a\r\nSet-Cookie: x", 16);
  EXPECT_EQ(header(ui->serve(plain, 443), "Location"), "https://cam.lan/") << "nor is a path with control characters";
}

TEST_F(WebUiFiles, AMissingOrIncompleteDirectoryIsAClearError) {
  std::string err;
  EXPECT_FALSE(web::StaticFiles::load(root_ / "nope", &err));
  EXPECT_NE(err.find("not a directory"), std::string::npos) << err;
  fs::remove(root_ / "index.html");
  EXPECT_FALSE(web::StaticFiles::load(root_, &err));
  EXPECT_NE(err.find("no index.html"), std::string::npos) << err;
}

}  // namespace
}  // namespace freehold
