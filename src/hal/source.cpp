// SPDX-License-Identifier: GPL-3.0-or-later
#include "hal/source.hpp"

namespace freehold::hal {

const char* to_string(PixelFormat f) {
  switch (f) {
    case PixelFormat::i420: return "i420";
    case PixelFormat::h264: return "h264";
    case PixelFormat::jpeg: return "jpeg";
  }
  return "?";
}

}  // namespace freehold::hal
