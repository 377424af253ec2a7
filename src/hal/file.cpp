// SPDX-License-Identifier: GPL-3.0-or-later
#include <chrono>
#include <thread>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavcodec/bsf.h>
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>
}

#include "hal/libav_error.hpp"
#include "hal/source.hpp"

namespace freehold::hal {
namespace {

// A file's access units are bounded like a camera's: nothing sane is bigger, and a corrupt length must not make
// us allocate gigabytes.
constexpr int kMaxAccessUnit = 8 << 20;

struct FormatCloser {
  void operator()(AVFormatContext* c) const { avformat_close_input(&c); }
};
struct BsfFree {
  void operator()(AVBSFContext* c) const { av_bsf_free(&c); }
};
struct PacketFree {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct CodecFree {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct FrameFree {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct SwsFree {
  void operator()(SwsContext* c) const { sws_freeContext(c); }
};

// A corrupt stretch of a file: this many packets in a row that do not decode end the attempt with an error.
constexpr int kMaxBadPackets = 200;

class FileSource final : public Source {
 public:
  explicit FileSource(FileOptions o) : o_(std::move(o)), packet_(av_packet_alloc()) {}

  // Opens (or re-opens, to loop) the file; an error message or nullopt.
  std::optional<std::string> open() {
    bsf_.reset();
    decoder_.reset();
    flushing_ = false;
    AVFormatContext* raw = nullptr;
    if (int rc = avformat_open_input(&raw, o_.path.c_str(), nullptr, nullptr); rc < 0) {
      return "cannot open " + o_.path + ": " + av_error(rc);
    }
    fmt_.reset(raw);
    if (int rc = avformat_find_stream_info(fmt_.get(), nullptr); rc < 0) {
      return o_.path + ": cannot read the stream layout: " + av_error(rc);
    }
    stream_ = av_find_best_stream(fmt_.get(), AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
    if (stream_ < 0) return o_.path + " has no video stream";
    const AVStream* st = fmt_->streams[stream_];
    const AVCodecParameters* par = st->codecpar;
    if (par->width <= 0 || par->height <= 0 || par->width > 8192 || par->height > 8192) {
      return o_.path + ": implausible picture size " + std::to_string(par->width) + "x" + std::to_string(par->height);
    }
    const bool passes_through = par->codec_id == AV_CODEC_ID_H264 || par->codec_id == AV_CODEC_ID_MJPEG;
    if (passes_through && !o_.decode) {
      format_ = par->codec_id == AV_CODEC_ID_H264 ? PixelFormat::h264 : PixelFormat::jpeg;
      width_ = par->width;
      height_ = par->height;
    } else {
      // Decoded to I420 (4:2:0 needs even sizes: an odd last row or column is dropped).
      format_ = PixelFormat::i420;
      width_ = par->width & ~1;
      height_ = par->height & ~1;
      if (width_ < 2 || height_ < 2) return o_.path + ": picture too small to decode";
      if (auto e = open_decoder(par)) return e;
    }
    AVRational rate = st->avg_frame_rate.num > 0 && st->avg_frame_rate.den > 0 ? st->avg_frame_rate : st->r_frame_rate;
    fps_ = rate.num > 0 && rate.den > 0 ? static_cast<double>(rate.num) / rate.den : 25.0;
    if (fps_ < 1 || fps_ > 240) fps_ = 25.0;
    if (format_ == PixelFormat::h264) {
      // MP4/MKV store length-prefixed NAL units with SPS/PPS in the header; RTP and our readers want Annex-B with
      // the parameter sets in front of every IDR. For a file that is Annex-B already the filter passes through.
      const AVBitStreamFilter* f = av_bsf_get_by_name("h264_mp4toannexb");
      AVBSFContext* b = nullptr;
      if (!f || av_bsf_alloc(f, &b) < 0) return "the h264_mp4toannexb filter is missing from libavcodec";
      bsf_.reset(b);
      avcodec_parameters_copy(bsf_->par_in, par);
      bsf_->time_base_in = st->time_base;
      if (int rc = av_bsf_init(bsf_.get()); rc < 0) return o_.path + ": " + av_error(rc);
    }
    return std::nullopt;
  }

  std::optional<std::string> next(Picture& p) override {
    if (!fmt_) {
      if (auto e = open()) {
        fmt_.reset();
        return e;
      }
    }
    for (int attempts = 0; attempts < 100000; ++attempts) {
      if (auto e = read_unit(p)) {
        if (*e != kEnd) return e;
        if (!o_.loop) return o_.path + ": end of file";
        if (++loops_without_frames_ > 1) return o_.path + ": no video frames";
        if (auto oe = open()) {
          fmt_.reset();
          return oe;
        }
        continue;
      }
      loops_without_frames_ = 0;
      pace(p);
      return std::nullopt;
    }
    return o_.path + ": no video frame among 100000 packets";
  }

  int width() const override { return width_; }
  int height() const override { return height_; }
  int fps() const override { return static_cast<int>(fps_ + 0.5); }
  PixelFormat format() const override { return format_; }

 private:
  static constexpr const char* kEnd = "end";

  std::optional<std::string> open_decoder(const AVCodecParameters* par) {
    const AVCodec* codec = avcodec_find_decoder(par->codec_id);
    if (!codec) return o_.path + ": no decoder for " + avcodec_get_name(par->codec_id) + " in this libavcodec";
    decoder_.reset(avcodec_alloc_context3(codec));
    if (!decoder_) return o_.path + ": out of memory for the decoder";
    if (int rc = avcodec_parameters_to_context(decoder_.get(), par); rc < 0) return o_.path + ": " + av_error(rc);
    decoder_->thread_count = 1;  // the capture thread is the decoder's; the encoders need the other core
    if (int rc = avcodec_open2(decoder_.get(), codec, nullptr); rc < 0) {
      return o_.path + ": cannot open the " + avcodec_get_name(par->codec_id) + " decoder: " + av_error(rc);
    }
    if (!frame_) frame_.reset(av_frame_alloc());
    if (!frame_) return o_.path + ": out of memory for a frame";
    return std::nullopt;
  }

  // One decoded picture into `p`; kEnd at the end of the file. Packets that do not decode are skipped.
  std::optional<std::string> decode_unit(Picture& p) {
    int bad = 0;
    for (;;) {
      const int rc = avcodec_receive_frame(decoder_.get(), frame_.get());
      if (rc == 0) return convert(p);
      if (rc == AVERROR_EOF) return kEnd;
      if (rc != AVERROR(EAGAIN)) return o_.path + ": decoding failed: " + av_error(rc);
      if (flushing_) return kEnd;
      const int rr = av_read_frame(fmt_.get(), packet_.get());
      if (rr == AVERROR_EOF) {
        flushing_ = true;
        avcodec_send_packet(decoder_.get(), nullptr);  // the frames the decoder still holds
        continue;
      }
      if (rr < 0) return o_.path + ": read failed: " + av_error(rr);
      if (packet_->stream_index != stream_) {
        av_packet_unref(packet_.get());
        continue;
      }
      const int sr = avcodec_send_packet(decoder_.get(), packet_.get());
      av_packet_unref(packet_.get());
      if (sr < 0 && sr != AVERROR(EAGAIN)) {
        ++decode_errors_;
        if (++bad >= kMaxBadPackets) {
          return o_.path + ": " + std::to_string(bad) + " packets in a row do not decode: " + av_error(sr);
        }
      }
    }
  }

  std::optional<std::string> convert(Picture& p) {
    const AVFrame* f = frame_.get();
    if (f->width <= 0 || f->height <= 0 || f->width > 8192 || f->height > 8192) {
      av_frame_unref(frame_.get());
      return o_.path + ": decoded picture of implausible size";
    }
    // Whatever the decoder gives (another pixel format, a size that changed mid-stream) ends up as I420 at the
    // size announced at open.
    sws_.reset(sws_getCachedContext(sws_.release(), f->width, f->height, static_cast<AVPixelFormat>(f->format),
                                    width_, height_, AV_PIX_FMT_YUV420P, SWS_BILINEAR, nullptr, nullptr, nullptr));
    if (!sws_) {
      av_frame_unref(frame_.get());
      return o_.path + ": cannot convert the decoded pictures to I420";
    }
    p.allocate(width_, height_);
    std::uint8_t* planes[3] = {p.y(), p.u(), p.v()};
    const int strides[3] = {width_, width_ / 2, width_ / 2};
    sws_scale(sws_.get(), f->data, f->linesize, 0, f->height, planes, strides);
    av_frame_unref(frame_.get());
    return std::nullopt;
  }

  // One access unit of our stream into `p`; kEnd at the end of the file.
  std::optional<std::string> read_unit(Picture& p) {
    if (decoder_) return decode_unit(p);
    for (;;) {
      if (bsf_) {
        const int rc = av_bsf_receive_packet(bsf_.get(), packet_.get());
        if (rc == 0) return take(p);
        if (rc != AVERROR(EAGAIN)) return rc == AVERROR_EOF ? std::optional<std::string>(kEnd) : o_.path + ": " + av_error(rc);
      }
      const int rc = av_read_frame(fmt_.get(), packet_.get());
      if (rc == AVERROR_EOF) return kEnd;
      if (rc < 0) return o_.path + ": read failed: " + av_error(rc);
      if (packet_->stream_index != stream_) {
        av_packet_unref(packet_.get());
        continue;
      }
      if (!bsf_) return take(p);
      if (int src = av_bsf_send_packet(bsf_.get(), packet_.get()); src < 0) {
        av_packet_unref(packet_.get());
        return o_.path + ": " + av_error(src);
      }
    }
  }

  std::optional<std::string> take(Picture& p) {
    const int size = packet_->size;
    if (size <= 0 || size > kMaxAccessUnit) {
      av_packet_unref(packet_.get());
      return o_.path + ": access unit of " + std::to_string(size) + " bytes (limit " +
             std::to_string(kMaxAccessUnit) + ")";
    }
    p.width = width_;
    p.height = height_;
    p.format = format_;
    p.keyframe = format_ == PixelFormat::jpeg || (packet_->flags & AV_PKT_FLAG_KEY) != 0;
    p.data.assign(packet_->data, packet_->data + size);
    av_packet_unref(packet_.get());
    return std::nullopt;
  }

  void pace(Picture& p) {
    using namespace std::chrono;
    if (index_ == 0) start_ = steady_clock::now();
    const auto due = start_ + duration_cast<steady_clock::duration>(duration<double>(index_ / fps_));
    if (o_.realtime) std::this_thread::sleep_until(due);
    p.index = index_++;
    p.capture_us = duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count();
    p.wallclock_us = duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
  }

  FileOptions o_;
  std::unique_ptr<AVFormatContext, FormatCloser> fmt_;
  std::unique_ptr<AVBSFContext, BsfFree> bsf_;
  std::unique_ptr<AVPacket, PacketFree> packet_;
  std::unique_ptr<AVCodecContext, CodecFree> decoder_;  // set: the file is decoded to I420
  std::unique_ptr<AVFrame, FrameFree> frame_;
  std::unique_ptr<SwsContext, SwsFree> sws_;
  bool flushing_ = false;
  std::uint64_t decode_errors_ = 0;
  int stream_ = -1;
  PixelFormat format_ = PixelFormat::h264;
  int width_ = 0, height_ = 0;
  double fps_ = 25;
  std::uint64_t index_ = 0;
  int loops_without_frames_ = 0;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace

std::unique_ptr<Source> make_file_source(const FileOptions& options, std::string* error) {
  auto s = std::make_unique<FileSource>(options);
  if (auto e = s->open()) {
    *error = *e;
    return nullptr;
  }
  return s;
}

}  // namespace freehold::hal
