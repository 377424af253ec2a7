// SPDX-License-Identifier: GPL-3.0-or-later
// libav*'s error codes as text, for the messages of everything that drives FFmpeg's libraries (hal's file source,
// media's libavcodec encoder). Header-only: it needs nothing but libavutil.
#pragma once

#include <string>

extern "C" {
#include <libavutil/error.h>
}

namespace freehold::hal {

[[nodiscard]] inline std::string av_error(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, buf, sizeof buf);
  return buf;
}

}  // namespace freehold::hal
