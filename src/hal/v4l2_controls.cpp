// SPDX-License-Identifier: GPL-3.0-or-later
#include "hal/v4l2_controls.hpp"

#include <algorithm>
#include <cmath>

namespace freehold::hal {

std::int32_t control_value(const v4l2_queryctrl& q, int percent) {
  const double min = q.minimum, max = std::max(q.maximum, q.minimum);
  const double def = std::clamp<double>(q.default_value, min, max);
  const double p = std::clamp(percent, 0, 100);
  const double v = p <= 50 ? min + (def - min) * p / 50.0 : def + (max - def) * (p - 50) / 50.0;
  const double step = std::max(q.step, 1);
  const double stepped = min + std::round((v - min) / step) * step;
  return static_cast<std::int32_t>(std::clamp(stepped, min, max));
}

std::string apply_image_controls(V4l2Device& dev, int fd, const ImageControls& c) {
  const struct {
    std::uint32_t id;
    int percent;
    const char* name;
  } wanted[] = {{V4L2_CID_BRIGHTNESS, c.brightness, "brightness"},
                {V4L2_CID_CONTRAST, c.contrast, "contrast"},
                {V4L2_CID_SATURATION, c.saturation, "saturation"},
                {V4L2_CID_SHARPNESS, c.sharpness, "sharpness"}};
  std::string missing;
  for (const auto& w : wanted) {
    v4l2_queryctrl q{};
    q.id = w.id;
    const bool usable = dev.ioctl(fd, VIDIOC_QUERYCTRL, &q) == 0 && q.type == V4L2_CTRL_TYPE_INTEGER &&
                        !(q.flags & (V4L2_CTRL_FLAG_DISABLED | V4L2_CTRL_FLAG_READ_ONLY));
    bool ok = false;
    if (usable) {
      v4l2_control set{};
      set.id = w.id;
      set.value = control_value(q, w.percent);
      ok = dev.ioctl(fd, VIDIOC_S_CTRL, &set) == 0;
    }
    if (!ok) missing += (missing.empty() ? "" : ",") + std::string(w.name);
  }
  return missing;
}

}  // namespace freehold::hal
