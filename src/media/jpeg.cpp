// SPDX-License-Identifier: GPL-3.0-or-later
#include "media/jpeg.hpp"

#include <turbojpeg.h>

#include <algorithm>

#include "media/encoder.hpp"

namespace freehold::media {
namespace {

// One compressor and its output buffer per thread: creating them costs more than compressing a small picture.
class Compressor final {
 public:
  Compressor() : handle_(tjInitCompress()) {}
  ~Compressor() {
    if (handle_) tjDestroy(handle_);
    tjFree(buffer_);
  }
  Compressor(const Compressor&) = delete;
  Compressor& operator=(const Compressor&) = delete;

  std::optional<std::string> compress(const hal::Picture& p, int quality, std::vector<std::uint8_t>& out) {
    if (!handle_) return std::string("libturbojpeg could not create a compressor");
    const unsigned char* planes[3] = {p.y(), p.u(), p.v()};
    const int strides[3] = {p.width, p.width / 2, p.width / 2};
    unsigned long size = capacity_;
    // Without TJFLAG_NOREALLOC libturbojpeg grows buffer_ as needed; the buffer is kept for the next picture.
    if (tjCompressFromYUVPlanes(handle_, planes, p.width, strides, p.height, TJSAMP_420, &buffer_, &size, quality,
                                TJFLAG_ACCURATEDCT) != 0) {
      return std::string("libturbojpeg: ") + tjGetErrorStr2(handle_);
    }
    capacity_ = std::max(capacity_, size);
    out.assign(buffer_, buffer_ + size);
    return std::nullopt;
  }

 private:
  tjhandle handle_;
  unsigned char* buffer_ = nullptr;
  unsigned long capacity_ = 0;
};

class JpegEncoder final : public Encoder {
 public:
  explicit JpegEncoder(const EncoderSettings& s) : s_(s) {}

  std::optional<std::string> encode(const hal::Picture& p, EncodedFrame& out) override {
    if (p.width != s_.width || p.height != s_.height) {
      return "picture is " + std::to_string(p.width) + "x" + std::to_string(p.height) + ", encoder expects " +
             std::to_string(s_.width) + "x" + std::to_string(s_.height);
    }
    if (auto err = encode_jpeg(p, s_.jpeg_quality, out.data)) return err;
    out.codec = Codec::mjpeg;
    out.capture_us = p.capture_us;
    out.keyframe = true;
    return std::nullopt;
  }

  void request_keyframe() override {}  // every frame is one
  Codec codec() const override { return Codec::mjpeg; }

 private:
  EncoderSettings s_;
};

}  // namespace

std::optional<std::string> encode_jpeg(const hal::Picture& p, int quality, std::vector<std::uint8_t>& out) {
  if (p.format != hal::PixelFormat::i420) {
    return std::string("JPEG encoding needs an I420 picture, got ") + hal::to_string(p.format);
  }
  if (p.width <= 0 || p.height <= 0 || p.width % 2 || p.height % 2 || p.width > 65535 || p.height > 65535) {
    return "JPEG encoding needs an even width and height up to 65535, got " + std::to_string(p.width) + "x" +
           std::to_string(p.height);
  }
  if (p.data.size() < static_cast<std::size_t>(p.width) * p.height * 3 / 2) {
    return "picture buffer of " + std::to_string(p.data.size()) + " bytes is too small for I420 " +
           std::to_string(p.width) + "x" + std::to_string(p.height);
  }
  if (quality < 1 || quality > 100) return "JPEG quality " + std::to_string(quality) + " is outside 1-100";
  thread_local Compressor compressor;
  return compressor.compress(p, quality, out);
}

std::unique_ptr<Encoder> make_jpeg_encoder(const EncoderSettings& s, std::string* error) {
  // RFC 2435 carries the size in 8-pixel units in one byte each: the stream could not be sent.
  constexpr int kMaxRtp = 2040;
  if (s.width % 2 || s.height % 2 || s.width <= 0 || s.height <= 0 || s.width > kMaxRtp || s.height > kMaxRtp) {
    *error = "MJPEG needs an even width and height up to " + std::to_string(kMaxRtp) + "x" + std::to_string(kMaxRtp) +
             " (the RTP/JPEG limit), got " + std::to_string(s.width) + "x" + std::to_string(s.height);
    return nullptr;
  }
  if (s.jpeg_quality < 1 || s.jpeg_quality > 100) {
    *error = "JPEG quality " + std::to_string(s.jpeg_quality) + " is outside 1-100";
    return nullptr;
  }
  return std::make_unique<JpegEncoder>(s);
}

}  // namespace freehold::media
