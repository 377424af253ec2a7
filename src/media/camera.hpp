// SPDX-License-Identifier: GPL-3.0-or-later
// The device's camera as the rest of the daemon sees it: the source the configuration names (source.*), one
// capture of it, and the stream profiles (stream.main, stream.sub) built from the stream.* settings. A settings
// change reconfigures only the stream it concerns, live. An encoded source (a file, a UVC camera that encodes
// H.264) is passed through on main; sub then needs raw pictures that such a source does not give, and is off.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "media/capture.hpp"
#include "media/video_stream.hpp"

namespace freehold::media {

class Camera final {
 public:
  // nullptr with `error` set if the source cannot be opened or no stream can be built.
  [[nodiscard]] static std::unique_ptr<Camera> open(const Config& config, std::string* error);
  ~Camera();
  Camera(const Camera&) = delete;
  Camera& operator=(const Camera&) = delete;

  void start();
  void stop();
  // The streams being served, in profile order.
  [[nodiscard]] std::vector<VideoStream*> streams() const;
  // After a settings change: streams whose stream.<name>.* settings differ are reconfigured.
  void apply(const Config& config);
  // The newest raw picture (snapshots); nullptr for an encoded source or before the first picture.
  [[nodiscard]] PicturePtr latest_picture() const { return capture_->latest(); }
  [[nodiscard]] const Capture& capture() const { return *capture_; }
  // Before start(): analytics subscribe to the raw pictures here.
  [[nodiscard]] Capture& capture() { return *capture_; }
  // Digital PTZ over the sensor picture; nullptr for an encoded source (nothing to crop).
  [[nodiscard]] PtzDriver* ptz() const { return ptz_.get(); }

 private:
  Camera() = default;
  std::unique_ptr<Capture> capture_;
  std::vector<std::unique_ptr<VideoStream>> streams_;
  std::shared_ptr<DigitalPtz> ptz_;
};

// The encoder settings of stream.<name>.* (an encoded source's own size and rate apply to passthrough instead).
[[nodiscard]] EncoderSettings profile_settings(const Config& config, const std::string& name);
// The image.* settings.
[[nodiscard]] hal::ImageControls image_controls(const Config& config);

}  // namespace freehold::media
