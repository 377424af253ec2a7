// SPDX-License-Identifier: GPL-3.0-or-later
#include "media/camera.hpp"

#include <cstdarg>
#include <mutex>

extern "C" {
#include <libavutil/log.h>
}

#include "core/log.hpp"

namespace freehold::media {
namespace {

constexpr const char* kProfiles[] = {"main", "sub"};

// libav* messages go to our log at debug level, in our format, instead of raw to stderr: what matters (a file that
// cannot be read, no hardware encoder) we report ourselves, with the reason.
void libav_log(void* avcl, int level, const char* fmt, va_list args) {
  if (level > AV_LOG_WARNING) return;
  char line[512];
  int prefix = 1;
  av_log_format_line2(avcl, level, fmt, args, line, sizeof line, &prefix);
  std::string text(line);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (!text.empty()) log::debug("libav.message", {{"text", text}});
}

std::unique_ptr<hal::Source> open_source(const Config& c, std::string* error) {
  const std::string& kind = c.get_string("source.kind");
  if (kind == "file") {
    if (c.get_string("source.file").empty()) {
      *error = "source.kind is \"file\" but source.file is empty";
      return nullptr;
    }
    return hal::make_file_source({c.get_string("source.file"), c.get_bool("source.loop"), true, c.get_bool("source.decode")},
                                 error);
  }
  // The capture mode: as configured, or what the main stream (and the faster stream's rate) needs.
  auto pick = [&](const char* key, std::int64_t fallback) {
    const std::int64_t v = c.get_int(std::string("source.") + key);
    return static_cast<int>(v ? v : fallback);
  };
  const int width = pick("width", c.get_int("stream.main.width"));
  const int height = pick("height", c.get_int("stream.main.height"));
  const int fps = pick("fps", std::max(c.get_int("stream.main.fps"), c.get_int("stream.sub.fps")));
  if (kind == "v4l2") {
    hal::V4l2Options vo;
    vo.device = c.get_string("source.device");
    vo.width = width;
    vo.height = height;
    vo.fps = fps;
    vo.allow_h264 = c.get_bool("source.v4l2_h264");
    return hal::make_v4l2_source(vo);
  }
  hal::SyntheticOptions so;
  so.width = width;
  so.height = height;
  so.fps = fps;
  so.moving_box = true;
  return hal::make_synthetic_source(so);
}

EncoderFactory factory_for(const Config& c, const std::string& name) {
  if (c.get_string("stream." + name + ".codec") == "mjpeg") {
    return [](const EncoderSettings& s, std::string* err) { return make_jpeg_encoder(s, err); };
  }
  const std::string which = c.get_string("stream." + name + ".encoder");
  return [which, name](const EncoderSettings& s, std::string* err) {
    std::string chosen;
    auto e = make_h264_encoder(which, s, err, &chosen);
    if (e) log::info("stream.encoder", {{"stream", name}, {"encoder", chosen}});
    return e;
  };
}

}  // namespace

EncoderSettings profile_settings(const Config& c, const std::string& name) {
  const std::string p = "stream." + name + ".";
  EncoderSettings es;
  es.width = static_cast<int>(c.get_int(p + "width"));
  es.height = static_cast<int>(c.get_int(p + "height"));
  es.fps = static_cast<int>(c.get_int(p + "fps"));
  es.bitrate_kbps = static_cast<int>(c.get_int(p + "bitrate_kbps"));
  es.constant_bitrate = c.get_string(p + "rate_control") == "cbr";
  es.gop = static_cast<int>(c.get_int(p + "gop"));
  return es;
}

hal::ImageControls image_controls(const Config& c) {
  return {static_cast<int>(c.get_int("image.brightness")), static_cast<int>(c.get_int("image.contrast")),
          static_cast<int>(c.get_int("image.saturation")), static_cast<int>(c.get_int("image.sharpness"))};
}

std::unique_ptr<Camera> Camera::open(const Config& c, std::string* error) {
  static std::once_flag once;
  std::call_once(once, [] { av_log_set_callback(libav_log); });
  auto source = open_source(c, error);
  if (!source) return nullptr;
  std::unique_ptr<Camera> cam(new Camera());
  cam->capture_ = std::make_unique<Capture>(std::move(source));
  const bool encoded = cam->capture_->format() != hal::PixelFormat::i420;
  cam->capture_->set_image_controls(image_controls(c));
  if (!encoded) {
    cam->ptz_ = std::make_shared<DigitalPtz>();
    cam->capture_->set_ptz(cam->ptz_);
  }
  log::info("camera.source", {{"kind", c.get_string("source.kind")},
                              {"format", hal::to_string(cam->capture_->format())},
                              {"width", cam->capture_->width()},
                              {"height", cam->capture_->height()},
                              {"fps", cam->capture_->fps()}});
  for (const char* name : kProfiles) {
    EncoderSettings es = profile_settings(c, name);
    EncoderFactory make = factory_for(c, name);
    if (encoded) {
      if (std::string(name) != "main") {
        log::warn("stream.unavailable", {{"stream", name},
                                         {"reason", std::string("the source delivers ") +
                                                        hal::to_string(cam->capture_->format()) +
                                                        ", passed through on main only"}});
        continue;
      }
      es.width = cam->capture_->width();
      es.height = cam->capture_->height();
      es.fps = cam->capture_->fps();
      const Codec codec = cam->capture_->format() == hal::PixelFormat::h264 ? Codec::h264 : Codec::mjpeg;
      make = [codec](const EncoderSettings&, std::string*) { return make_passthrough_encoder(codec); };
    }
    // A ring of a GOP and a second: a new reader starts at the cached keyframe, a late one has a second of slack.
    const auto ring = static_cast<std::size_t>(std::max(es.gop, 1) + std::max(es.fps, 1));
    auto feed = cam->capture_->subscribe({});
    try {
      cam->streams_.push_back(std::make_unique<VideoStream>(name, feed, std::move(make), es, ring));
    } catch (const std::invalid_argument& e) {
      feed->set_active(false);  // nobody will take its pictures
      log::error("stream.encoder_failed", {{"stream", name}, {"error", e.what()}});
    }
  }
  if (cam->streams_.empty()) {
    *error = "no stream could be built (see the stream.* errors above)";
    return nullptr;
  }
  return cam;
}

Camera::~Camera() { stop(); }

void Camera::start() {
  capture_->start();
  for (auto& s : streams_) s->start();
}

void Camera::stop() {
  if (capture_) capture_->stop();
  for (auto& s : streams_) s->stop();
}

std::vector<VideoStream*> Camera::streams() const {
  std::vector<VideoStream*> out;
  for (const auto& s : streams_) out.push_back(s.get());
  return out;
}

void Camera::apply(const Config& c) {
  capture_->set_image_controls(image_controls(c));
  if (capture_->format() != hal::PixelFormat::i420) return;  // passthrough follows the source, not the settings
  for (auto& s : streams_) {
    const EncoderSettings next = profile_settings(c, s->name());
    // Against what was last asked for, not what runs: a change and its revert before the stream thread applied
    // the first must end at the revert.
    if (next != s->requested_settings()) s->reconfigure(next);
  }
}

}  // namespace freehold::media
