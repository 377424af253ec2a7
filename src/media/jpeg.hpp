// SPDX-License-Identifier: GPL-3.0-or-later
// JPEG compression of raw pictures with libturbojpeg: the MJPEG stream encoder and still snapshots.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "hal/source.hpp"

namespace freehold::media {

// Compresses an I420 picture (even width and height) into a baseline JFIF JPEG, 4:2:0, with the standard
// Huffman tables and no restart markers, as RTP/JPEG (RFC 2435) can carry it. `quality` is 1-100 (libjpeg's
// scale). nullopt with `out` replaced by the JPEG, or why not. Thread-safe: each thread keeps its own compressor.
[[nodiscard]] std::optional<std::string> encode_jpeg(const hal::Picture& i420, int quality,
                                                     std::vector<std::uint8_t>& out);

}  // namespace freehold::media
