// SPDX-License-Identifier: GPL-3.0-or-later
#include <cstdint>

extern "C" {
#include <x264.h>
}

#include "media/encoder.hpp"

namespace freehold::media {
namespace {

class X264Encoder final : public Encoder {
 public:
  X264Encoder(x264_t* enc, const EncoderSettings& s) : enc_(enc), s_(s) {}
  ~X264Encoder() override { x264_encoder_close(enc_); }
  X264Encoder(const X264Encoder&) = delete;
  X264Encoder& operator=(const X264Encoder&) = delete;

  std::optional<std::string> encode(const hal::Picture& p, EncodedFrame& out) override {
    if (p.width != s_.width || p.height != s_.height) {
      return "picture is " + std::to_string(p.width) + "x" + std::to_string(p.height) + ", encoder expects " +
             std::to_string(s_.width) + "x" + std::to_string(s_.height);
    }
    x264_picture_t in, enc_out;
    x264_picture_init(&in);
    in.img.i_csp = X264_CSP_I420;
    in.img.i_plane = 3;
    // x264 only reads the planes; its API is not const-correct.
    in.img.plane[0] = const_cast<std::uint8_t*>(p.y());
    in.img.plane[1] = const_cast<std::uint8_t*>(p.u());
    in.img.plane[2] = const_cast<std::uint8_t*>(p.v());
    in.img.i_stride[0] = p.width;
    in.img.i_stride[1] = in.img.i_stride[2] = p.width / 2;
    in.i_pts = static_cast<std::int64_t>(p.index);
    in.i_type = keyframe_requested_ ? X264_TYPE_IDR : X264_TYPE_AUTO;
    keyframe_requested_ = false;
    x264_nal_t* nals = nullptr;
    int count = 0;
    const int bytes = x264_encoder_encode(enc_, &nals, &count, &in, &enc_out);
    if (bytes < 0) return "x264 failed to encode frame " + std::to_string(p.index);
    out.codec = Codec::h264;
    out.capture_us = p.capture_us;
    out.keyframe = enc_out.b_keyframe != 0;
    // With b_annexb the NAL payloads are contiguous and start-code prefixed.
    out.data.assign(bytes > 0 ? nals[0].p_payload : nullptr, bytes > 0 ? nals[0].p_payload + bytes : nullptr);
    return std::nullopt;
  }

  void request_keyframe() override { keyframe_requested_ = true; }
  Codec codec() const override { return Codec::h264; }

 private:
  x264_t* enc_;
  EncoderSettings s_;
  bool keyframe_requested_ = false;
};

}  // namespace

std::unique_ptr<Encoder> make_x264_encoder(const EncoderSettings& s, std::string* error) {
  if (s.width % 2 || s.height % 2) {
    *error = "H.264 needs an even width and height, got " + std::to_string(s.width) + "x" + std::to_string(s.height);
    return nullptr;
  }
  x264_param_t p;
  if (x264_param_default_preset(&p, "veryfast", "zerolatency") < 0) {
    *error = "x264 does not know the veryfast/zerolatency preset";
    return nullptr;
  }
  p.i_threads = 1;  // one core per stream; the other runs the network
  p.b_sliced_threads = 0;
  p.i_width = s.width;
  p.i_height = s.height;
  p.i_csp = X264_CSP_I420;
  p.i_fps_num = static_cast<std::uint32_t>(s.fps);
  p.i_fps_den = 1;
  p.i_keyint_max = s.gop;
  p.i_keyint_min = s.gop;
  p.b_repeat_headers = 1;  // SPS/PPS in front of every IDR: a reader can start at any keyframe
  p.b_annexb = 1;
  p.i_bframe = 0;
  p.rc.i_rc_method = X264_RC_ABR;
  p.rc.i_bitrate = s.bitrate_kbps;
  p.rc.i_vbv_max_bitrate = s.constant_bitrate ? s.bitrate_kbps : 2 * s.bitrate_kbps;
  p.rc.i_vbv_buffer_size = s.bitrate_kbps;  // one second
  p.b_vfr_input = 0;
  p.i_log_level = X264_LOG_ERROR;
  if (x264_param_apply_profile(&p, "main") < 0) {
    *error = "x264 refused the main profile";
    return nullptr;
  }
  x264_t* enc = x264_encoder_open(&p);
  if (!enc) {
    *error = "x264 refused the settings (" + std::to_string(s.width) + "x" + std::to_string(s.height) + "@" +
             std::to_string(s.fps) + ")";
    return nullptr;
  }
  return std::make_unique<X264Encoder>(enc, s);
}

}  // namespace freehold::media
