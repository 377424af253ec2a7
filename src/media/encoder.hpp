// SPDX-License-Identifier: GPL-3.0-or-later
// Video encoders behind one interface: pictures in, encoded frames (for the frame ring) out.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "hal/source.hpp"
#include "media/frame_ring.hpp"

namespace freehold::media {

struct EncoderSettings {
  int width = 1280;
  int height = 720;
  int fps = 25;
  int bitrate_kbps = 2048;
  bool constant_bitrate = false;  // CBR caps the rate at the target; VBR lets scenes take up to twice as much
  int gop = 50;                   // frames between keyframes
  int jpeg_quality = 80;          // MJPEG: libjpeg's 1-100 scale (the bitrate and GOP do not apply)
};

class Encoder {
 public:
  virtual ~Encoder() = default;
  // Encodes one picture (same size as the settings). Returns an error message, or nullopt with `out` filled; a
  // frame the encoder holds back yields nullopt with empty `out.data` (never with our live settings).
  [[nodiscard]] virtual std::optional<std::string> encode(const hal::Picture& picture, EncodedFrame& out) = 0;
  // The next frame will be a keyframe (a reader joined or asked for one).
  virtual void request_keyframe() = 0;
};

// H.264 with libx264, tuned for live: zerolatency (no lookahead, no B-frames), SPS/PPS before every IDR,
// Annex-B output, one slice thread. nullptr with `error` set if the settings are refused.
[[nodiscard]] std::unique_ptr<Encoder> make_x264_encoder(const EncoderSettings& settings, std::string* error);

// MJPEG with libturbojpeg (see media/jpeg.hpp): every frame a keyframe. The size is limited to what RTP/JPEG can
// carry (2040x2040). nullptr with `error` set if the settings are refused.
[[nodiscard]] std::unique_ptr<Encoder> make_jpeg_encoder(const EncoderSettings& settings, std::string* error);

}  // namespace freehold::media
