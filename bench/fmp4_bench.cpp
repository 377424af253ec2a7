// SPDX-License-Identifier: GPL-3.0-or-later
// The live view's per-frame cost of wrapping an encoded frame for Media Source Extensions: our fMP4 writer
// (media/fmp4) beside FFmpeg's MP4 muxer (libavformat's movenc with empty_moov + frag_every_frame +
// default_base_moof, writing into memory), on the same x264 frames of the synthetic camera, in the same run.
// Both make one moof+mdat per frame from an Annex-B access unit; the ratio is ours / FFmpeg's time.
// Usage: fmp4_bench [--frames N] [--width W --height H]   (docs/performance.md records it)
extern "C" {
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
}

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "hal/source.hpp"
#include "media/encoder.hpp"
#include "media/fmp4.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using freehold::media::EncodedFrame;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

std::vector<EncodedFrame> encode(int frames, int w, int h) {
  auto src = freehold::hal::make_synthetic_source({w, h, 25, false, false});
  std::string err;
  auto enc = freehold::media::make_x264_encoder({w, h, 25, 2048, false, 50}, &err);
  if (!enc) {
    std::fprintf(stderr, "x264: %s\n", err.c_str());
    std::exit(1);
  }
  std::vector<EncodedFrame> out;
  freehold::hal::Picture p;
  for (int i = 0; i < frames; ++i) {
    if (src->next(p)) std::exit(1);
    EncodedFrame f;
    if (enc->encode(p, f)) std::exit(1);
    out.push_back(std::move(f));
  }
  return out;
}

// Our writer: the init segment once, then one fragment per frame.
std::vector<double> ours(const std::vector<EncodedFrame>& frames, std::size_t& bytes) {
  auto track = freehold::media::track_from_access_unit(frames.front().data);
  std::vector<double> ns;
  bytes = freehold::media::fmp4_init_segment(*track).size();
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const auto t0 = Clock::now();
    auto frag = freehold::media::fmp4_fragment(static_cast<std::uint32_t>(i + 1),
                                               {frames[i].data, i * 3600, 3600, frames[i].keyframe});
    ns.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t0).count());
    bytes += frag.size();
  }
  return ns;
}

int collect(void* opaque, std::uint8_t* buf, int size) {  // FFmpeg 5.1: not yet const
  static_cast<std::vector<std::uint8_t>*>(opaque)->insert(static_cast<std::vector<std::uint8_t>*>(opaque)->end(),
                                                          buf, buf + size);
  return size;
}

// FFmpeg's MP4 muxer, fragmenting after every frame, into memory.
std::vector<double> peer(const std::vector<EncodedFrame>& frames, int w, int h, std::size_t& bytes) {
  std::vector<std::uint8_t> out;
  AVFormatContext* fmt = nullptr;
  avformat_alloc_output_context2(&fmt, nullptr, "mp4", nullptr);
  AVStream* st = avformat_new_stream(fmt, nullptr);
  st->time_base = {1, 90000};
  st->codecpar->codec_type = AVMEDIA_TYPE_VIDEO;
  st->codecpar->codec_id = AV_CODEC_ID_H264;
  st->codecpar->width = w;
  st->codecpar->height = h;
  // Extradata: the keyframe's SPS and PPS in Annex-B form (movenc converts it to avcC, as it converts the frames).
  const auto& key = frames.front().data;
  st->codecpar->extradata = static_cast<std::uint8_t*>(av_mallocz(key.size() + AV_INPUT_BUFFER_PADDING_SIZE));
  std::memcpy(st->codecpar->extradata, key.data(), key.size());
  st->codecpar->extradata_size = static_cast<int>(key.size());
  constexpr int kBuf = 1 << 16;
  auto* iobuf = static_cast<std::uint8_t*>(av_malloc(kBuf));
  fmt->pb = avio_alloc_context(iobuf, kBuf, 1, &out, nullptr, collect, nullptr);
  AVDictionary* opts = nullptr;
  av_dict_set(&opts, "movflags", "empty_moov+frag_every_frame+default_base_moof", 0);
  if (avformat_write_header(fmt, &opts) < 0) {
    std::fprintf(stderr, "libavformat: cannot write the MP4 header\n");
    std::exit(1);
  }
  av_dict_free(&opts);
  avio_flush(fmt->pb);
  AVPacket* pkt = av_packet_alloc();
  std::vector<double> ns;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const auto t0 = Clock::now();
    av_new_packet(pkt, static_cast<int>(frames[i].data.size()));
    std::memcpy(pkt->data, frames[i].data.data(), frames[i].data.size());
    pkt->pts = pkt->dts = static_cast<std::int64_t>(i) * 3600;
    pkt->duration = 3600;
    pkt->stream_index = 0;
    if (frames[i].keyframe) pkt->flags |= AV_PKT_FLAG_KEY;
    av_write_frame(fmt, pkt);  // leaves the packet to us (unlike av_interleaved_write_frame)
    av_packet_unref(pkt);
    avio_flush(fmt->pb);
    ns.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t0).count());
  }
  av_write_trailer(fmt);
  avio_flush(fmt->pb);
  av_packet_free(&pkt);
  av_freep(&fmt->pb->buffer);
  avio_context_free(&fmt->pb);
  avformat_free_context(fmt);
  bytes = out.size();
  return ns;
}

}  // namespace

int main(int argc, char** argv) {
  int frames = 500, w = 1280, h = 720;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--frames") frames = std::atoi(argv[i + 1]);
    if (a == "--width") w = std::atoi(argv[i + 1]);
    if (a == "--height") h = std::atoi(argv[i + 1]);
  }
  if (frames < 2 || w < 16 || h < 16) {
    std::fprintf(stderr, "usage: fmp4_bench [--frames N>=2] [--width W --height H]\n");
    return 2;
  }
  const auto enc = encode(frames, w, h);
  std::size_t total = 0;
  for (const auto& f : enc) total += f.data.size();
  std::size_t our_bytes = 0, peer_bytes = 0;
  // Each twice; the second run is timed (caches and allocator warm for both).
  (void)ours(enc, our_bytes);
  (void)peer(enc, w, h, peer_bytes);
  const auto a = ours(enc, our_bytes);
  const auto b = peer(enc, w, h, peer_bytes);
  const double ma = median(a), mb = median(b);
  std::printf("fMP4 wrapping of %d x264 frames at %dx%d (%.1f KB per frame on average), one fragment per frame\n",
              frames, w, h, static_cast<double>(total) / frames / 1024);
  std::printf("%-34s %12s %14s\n", "", "median ns/frame", "bytes written");
  std::printf("%-34s %12.0f %14zu\n", "ours (media/fmp4)", ma, our_bytes);
  std::printf("%-34s %12.0f %14zu\n", "peer (libavformat movenc)", mb, peer_bytes);
  std::printf("ratio ours/peer: %.2f (time), %.3f (bytes)\n", ma / mb,
              static_cast<double>(our_bytes) / static_cast<double>(peer_bytes));
  return 0;
}
