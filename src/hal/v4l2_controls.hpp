// SPDX-License-Identifier: GPL-3.0-or-later
// Image controls (brightness, contrast, saturation, sharpness in percent) on a V4L2 camera's own user controls,
// through V4l2Device. 50 % is the control's default; 0 and 100 % its minimum and maximum (VIDIOC_QUERYCTRL).
#pragma once

#include <linux/videodev2.h>

#include <cstdint>
#include <string>

#include "hal/source.hpp"
#include "hal/v4l2_device.hpp"

namespace freehold::hal {

// The control value for `percent`: linear from minimum to default over 0..50 and from default to maximum over
// 50..100, on the control's step grid.
[[nodiscard]] std::int32_t control_value(const v4l2_queryctrl& control, int percent);

// Sets the four controls the camera has (VIDIOC_S_CTRL); returns the names of those it lacks or refused, comma
// separated, empty when all were set.
[[nodiscard]] std::string apply_image_controls(V4l2Device& device, int fd, const ImageControls& controls);

}  // namespace freehold::hal
