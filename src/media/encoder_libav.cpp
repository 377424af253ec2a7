// SPDX-License-Identifier: GPL-3.0-or-later
#include <cstring>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/opt.h>
}

#include "hal/libav_error.hpp"
#include "media/encoder.hpp"

namespace freehold::media {
namespace {

using hal::av_error;

// An H.264 encoder of libavcodec, by name: the V4L2 memory-to-memory hardware encoder (h264_v4l2m2m) of SoCs, or any
// other (libx264 through libavcodec, which is how the tests exercise this path on a machine without the hardware).
class LibavEncoder final : public Encoder {
 public:
  LibavEncoder(AVCodecContext* ctx, const EncoderSettings& s) : ctx_(ctx), s_(s) {
    frame_ = av_frame_alloc();
    packet_ = av_packet_alloc();
  }
  ~LibavEncoder() override {
    av_packet_free(&packet_);
    av_frame_free(&frame_);
    avcodec_free_context(&ctx_);
  }
  LibavEncoder(const LibavEncoder&) = delete;
  LibavEncoder& operator=(const LibavEncoder&) = delete;

  std::optional<std::string> init() {
    frame_->format = ctx_->pix_fmt;
    frame_->width = s_.width;
    frame_->height = s_.height;
    if (int rc = av_frame_get_buffer(frame_, 0); rc < 0) return "no frame buffer: " + av_error(rc);
    return std::nullopt;
  }

  std::optional<std::string> encode(const hal::Picture& p, EncodedFrame& out) override {
    if (p.format != hal::PixelFormat::i420 || p.width != s_.width || p.height != s_.height) {
      return "picture is " + std::to_string(p.width) + "x" + std::to_string(p.height) + " " +
             hal::to_string(p.format) + ", encoder expects " + std::to_string(s_.width) + "x" +
             std::to_string(s_.height) + " i420";
    }
    if (int rc = av_frame_make_writable(frame_); rc < 0) return "frame not writable: " + av_error(rc);
    fill(p);
    frame_->pts = static_cast<std::int64_t>(p.index);
    frame_->pict_type = keyframe_requested_ ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;
    keyframe_requested_ = false;
    if (int rc = avcodec_send_frame(ctx_, frame_); rc < 0) return "encoder refused a picture: " + av_error(rc);
    out.data.clear();
    out.codec = Codec::h264;
    out.capture_us = p.capture_us;
    const int rc = avcodec_receive_packet(ctx_, packet_);
    if (rc == AVERROR(EAGAIN)) return std::nullopt;  // held back (a hardware pipeline's latency)
    if (rc < 0) return "encoder failed: " + av_error(rc);
    out.data.assign(packet_->data, packet_->data + packet_->size);
    out.keyframe = (packet_->flags & AV_PKT_FLAG_KEY) != 0;
    av_packet_unref(packet_);
    return std::nullopt;
  }

  void request_keyframe() override { keyframe_requested_ = true; }
  Codec codec() const override { return Codec::h264; }

 private:
  // I420 into the encoder's own layout: planar 4:2:0 as it is, or NV12 (what most hardware encoders take).
  void fill(const hal::Picture& p) {
    const int w = p.width, h = p.height;
    for (int y = 0; y < h; ++y) {
      std::memcpy(frame_->data[0] + static_cast<std::ptrdiff_t>(y) * frame_->linesize[0],
                  p.y() + static_cast<std::ptrdiff_t>(y) * w, static_cast<std::size_t>(w));
    }
    for (int y = 0; y < h / 2; ++y) {
      const std::uint8_t* u = p.u() + static_cast<std::ptrdiff_t>(y) * (w / 2);
      const std::uint8_t* v = p.v() + static_cast<std::ptrdiff_t>(y) * (w / 2);
      if (ctx_->pix_fmt == AV_PIX_FMT_NV12) {
        std::uint8_t* uv = frame_->data[1] + static_cast<std::ptrdiff_t>(y) * frame_->linesize[1];
        for (int x = 0; x < w / 2; ++x) {
          uv[2 * x] = u[x];
          uv[2 * x + 1] = v[x];
        }
      } else {
        std::memcpy(frame_->data[1] + static_cast<std::ptrdiff_t>(y) * frame_->linesize[1], u,
                    static_cast<std::size_t>(w / 2));
        std::memcpy(frame_->data[2] + static_cast<std::ptrdiff_t>(y) * frame_->linesize[2], v,
                    static_cast<std::size_t>(w / 2));
      }
    }
  }

  AVCodecContext* ctx_;
  EncoderSettings s_;
  AVFrame* frame_ = nullptr;
  AVPacket* packet_ = nullptr;
  bool keyframe_requested_ = false;
};

AVPixelFormat pick_format(const AVCodec* codec) {
  if (!codec->pix_fmts) return AV_PIX_FMT_YUV420P;
  for (const AVPixelFormat* f = codec->pix_fmts; *f != AV_PIX_FMT_NONE; ++f) {
    if (*f == AV_PIX_FMT_YUV420P) return *f;
  }
  for (const AVPixelFormat* f = codec->pix_fmts; *f != AV_PIX_FMT_NONE; ++f) {
    if (*f == AV_PIX_FMT_NV12) return *f;
  }
  return AV_PIX_FMT_NONE;
}

}  // namespace

std::unique_ptr<Encoder> make_libav_encoder(const std::string& name, const EncoderSettings& s, std::string* error) {
  const AVCodec* codec = avcodec_find_encoder_by_name(name.c_str());
  if (!codec) {
    *error = "libavcodec has no encoder named " + name;
    return nullptr;
  }
  if (codec->id != AV_CODEC_ID_H264) {
    *error = name + " does not encode H.264";
    return nullptr;
  }
  const AVPixelFormat fmt = pick_format(codec);
  if (fmt == AV_PIX_FMT_NONE) {
    *error = name + " takes neither yuv420p nor nv12 pictures";
    return nullptr;
  }
  AVCodecContext* ctx = avcodec_alloc_context3(codec);
  ctx->width = s.width;
  ctx->height = s.height;
  ctx->pix_fmt = fmt;
  ctx->time_base = AVRational{1, s.fps};
  ctx->framerate = AVRational{s.fps, 1};
  ctx->bit_rate = static_cast<std::int64_t>(s.bitrate_kbps) * 1000;
  ctx->rc_max_rate = s.constant_bitrate ? ctx->bit_rate : 2 * ctx->bit_rate;
  ctx->rc_buffer_size = static_cast<int>(ctx->bit_rate);  // one second
  ctx->gop_size = s.gop;
  ctx->keyint_min = s.gop;
  ctx->max_b_frames = 0;  // live: no reordering delay
  ctx->profile = FF_PROFILE_H264_MAIN;
  // Options only some encoders know (libx264's live tuning); the others ignore them.
  av_opt_set(ctx->priv_data, "preset", "veryfast", 0);
  av_opt_set(ctx->priv_data, "tune", "zerolatency", 0);
  av_opt_set_int(ctx->priv_data, "threads", 1, 0);
  if (int rc = avcodec_open2(ctx, codec, nullptr); rc < 0) {
    *error = name + " cannot encode " + std::to_string(s.width) + "x" + std::to_string(s.height) + "@" +
             std::to_string(s.fps) + ": " + av_error(rc);
    avcodec_free_context(&ctx);
    return nullptr;
  }
  auto enc = std::make_unique<LibavEncoder>(ctx, s);
  if (auto e = enc->init()) {
    *error = name + ": " + *e;
    return nullptr;
  }
  return enc;
}

std::unique_ptr<Encoder> make_h264_encoder(const std::string& which, const EncoderSettings& s, std::string* error,
                                           std::string* chosen) {
  if (which == "v4l2m2m" || which == "auto") {
    std::string why;
    if (auto hw = make_libav_encoder("h264_v4l2m2m", s, &why)) {
      if (chosen) *chosen = "v4l2m2m";
      return hw;
    }
    if (which == "v4l2m2m") {
      *error = "no V4L2 M2M hardware encoder: " + why;
      return nullptr;
    }
    if (chosen) *chosen = "x264 (no hardware encoder: " + why + ")";
  } else if (chosen) {
    *chosen = "x264";
  }
  return make_x264_encoder(s, error);
}

}  // namespace freehold::media
