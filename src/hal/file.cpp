// SPDX-License-Identifier: GPL-3.0-or-later
#include <chrono>
#include <thread>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavcodec/bsf.h>
#include <libavformat/avformat.h>
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

class FileSource final : public Source {
 public:
  explicit FileSource(FileOptions o) : o_(std::move(o)), packet_(av_packet_alloc()) {}

  // Opens (or re-opens, to loop) the file; an error message or nullopt.
  std::optional<std::string> open() {
    bsf_.reset();
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
    if (par->codec_id == AV_CODEC_ID_H264) {
      format_ = PixelFormat::h264;
    } else if (par->codec_id == AV_CODEC_ID_MJPEG) {
      format_ = PixelFormat::jpeg;
    } else {
      return o_.path + ": video is " + avcodec_get_name(par->codec_id) + ", only H.264 and MJPEG pass through";
    }
    if (par->width <= 0 || par->height <= 0 || par->width > 8192 || par->height > 8192) {
      return o_.path + ": implausible picture size " + std::to_string(par->width) + "x" + std::to_string(par->height);
    }
    width_ = par->width;
    height_ = par->height;
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

  // One access unit of our stream into `p`; kEnd at the end of the file.
  std::optional<std::string> read_unit(Picture& p) {
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
