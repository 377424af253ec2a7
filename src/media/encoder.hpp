// SPDX-License-Identifier: GPL-3.0-or-later
// Video encoders behind one interface: pictures in, encoded frames (for the frame ring) out.
#pragma once

#include <functional>
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
  bool operator==(const EncoderSettings&) const = default;
};

class Encoder {
 public:
  virtual ~Encoder() = default;
  // Encodes one picture (same size as the settings). Returns an error message, or nullopt with `out` filled; a
  // frame the encoder holds back yields nullopt with empty `out.data` (never with our live settings).
  [[nodiscard]] virtual std::optional<std::string> encode(const hal::Picture& picture, EncodedFrame& out) = 0;
  // The next frame will be a keyframe (a reader joined or asked for one).
  virtual void request_keyframe() = 0;
  [[nodiscard]] virtual Codec codec() const = 0;
  // Whether the stream may stop feeding it while nobody watches (true for real encoders).
  [[nodiscard]] virtual bool idles() const { return true; }
  // Whether it takes the source's encoded pictures as they are rather than raw ones.
  [[nodiscard]] virtual bool passthrough() const { return false; }
};

using EncoderFactory = std::function<std::unique_ptr<Encoder>(const EncoderSettings&, std::string* error)>;

// H.264 with libx264, tuned for live: zerolatency (no lookahead, no B-frames), SPS/PPS before every IDR,
// Annex-B output, one slice thread. nullptr with `error` set if the settings are refused.
[[nodiscard]] std::unique_ptr<Encoder> make_x264_encoder(const EncoderSettings& settings, std::string* error);

// An H.264 encoder of libavcodec by name, above all "h264_v4l2m2m": the V4L2 memory-to-memory hardware encoder of
// camera SoCs. nullptr with `error` set when libavcodec lacks it or no device takes the settings.
[[nodiscard]] std::unique_ptr<Encoder> make_libav_encoder(const std::string& name, const EncoderSettings& settings,
                                                          std::string* error);

// The H.264 encoder `stream.<name>.encoder` names: "v4l2m2m" (hardware), "x264" (software), or "auto": the hardware
// one when present, else x264. `chosen` (if given) says which one it is, or why the hardware one was passed over.
[[nodiscard]] std::unique_ptr<Encoder> make_h264_encoder(const std::string& which, const EncoderSettings& settings,
                                                         std::string* error, std::string* chosen = nullptr);

// Passes a source's already-encoded access units (H.264 or JPEG) through untouched; the settings are the source's.
// It cannot force a keyframe: a new reader starts at the cached GOP. Never idles, so that cache stays warm.
[[nodiscard]] std::unique_ptr<Encoder> make_passthrough_encoder(Codec codec);

// MJPEG with libturbojpeg (see media/jpeg.hpp): every frame a keyframe. The size is limited to what RTP/JPEG can
// carry (2040x2040). nullptr with `error` set if the settings are refused.
[[nodiscard]] std::unique_ptr<Encoder> make_jpeg_encoder(const EncoderSettings& settings, std::string* error);

}  // namespace freehold::media
