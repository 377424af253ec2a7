// SPDX-License-Identifier: GPL-3.0-or-later
// Decodes a JPEG to its grey picture with libturbojpeg, for tests that check what the device compressed.
#pragma once

#include <turbojpeg.h>

#include <cstdint>
#include <vector>

namespace freehold::test {

struct Decoded {
  int width = 0, height = 0, subsamp = -1;
  std::vector<std::uint8_t> y;
};

inline Decoded decode(const std::vector<std::uint8_t>& jpeg) {
  Decoded d;
  tjhandle h = tjInitDecompress();
  int colorspace = 0;
  if (tjDecompressHeader3(h, jpeg.data(), jpeg.size(), &d.width, &d.height, &d.subsamp, &colorspace) == 0) {
    d.y.resize(static_cast<std::size_t>(d.width) * d.height);
    if (tjDecompress2(h, jpeg.data(), jpeg.size(), d.y.data(), d.width, 0, d.height, TJPF_GRAY, 0) != 0) d.y.clear();
  }
  tjDestroy(h);
  return d;
}

}  // namespace freehold::test
