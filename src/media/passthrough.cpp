// SPDX-License-Identifier: GPL-3.0-or-later
#include "media/encoder.hpp"

namespace freehold::media {
namespace {

class Passthrough final : public Encoder {
 public:
  explicit Passthrough(Codec codec) : codec_(codec) {}

  std::optional<std::string> encode(const hal::Picture& p, EncodedFrame& out) override {
    const hal::PixelFormat want = codec_ == Codec::h264 ? hal::PixelFormat::h264 : hal::PixelFormat::jpeg;
    if (p.format != want) {
      return std::string("passthrough of ") + hal::to_string(want) + " got a " + hal::to_string(p.format) +
             " picture";
    }
    out.data = p.data;
    out.codec = codec_;
    out.keyframe = p.keyframe;
    out.capture_us = p.capture_us;
    return std::nullopt;
  }
  void request_keyframe() override {}
  Codec codec() const override { return codec_; }
  bool idles() const override { return false; }
  bool passthrough() const override { return true; }

 private:
  Codec codec_;
};

}  // namespace

std::unique_ptr<Encoder> make_passthrough_encoder(Codec codec) { return std::make_unique<Passthrough>(codec); }

}  // namespace freehold::media
