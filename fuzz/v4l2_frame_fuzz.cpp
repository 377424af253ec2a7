// SPDX-License-Identifier: GPL-3.0-or-later
// Fuzzes the conversion of captured V4L2 buffers (YUYV, NV12, MJPEG, H.264) into pictures: a camera, its driver
// or a USB glitch can hand over any bytes. Input: [format, width code, height code, stride code] + the buffer.
// Oracle: never crash or read outside the buffer; a good frame has exactly the negotiated size; H.264 comes out
// byte for byte; a bad frame has a non-empty reason.
#include <turbojpeg.h>

#include <cstdint>
#include <cstdlib>
#include <span>

#include "hal/v4l2_convert.hpp"

using freehold::hal::CaptureFormat;
using freehold::hal::FrameConverter;
using freehold::hal::FrameLayout;
using freehold::hal::Picture;

namespace {

// The size a JPEG declares, if small enough to decode quickly: lets mutated JPEGs reach the decoder.
bool jpeg_size(std::span<const std::uint8_t> buf, int& w, int& h) {
  static tjhandle tj = tjInitDecompress();
  int subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(tj, buf.data(), buf.size(), &w, &h, &subsamp, &colorspace) != 0) return false;
  return w > 0 && h > 0 && w <= 256 && h <= 256 && w % 2 == 0 && h % 2 == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  if (size < 4 || size > 512 * 1024) return -1;
  static FrameConverter converter;  // kept across inputs, as on the capture thread
  const auto format = static_cast<CaptureFormat>(data[0] % 4);
  FrameLayout layout{format, 2 * (1 + data[1] % 64), 2 * (1 + data[2] % 64), 0};
  const std::span<const std::uint8_t> buffer(data + 4, size - 4);
  if (data[3] != 0) {
    const int line = format == CaptureFormat::yuyv ? 2 * layout.width : layout.width;
    layout.stride = line + data[3] % 32 - 4;  // padded lines, and some too short to be valid
  }
  if (format == CaptureFormat::mjpeg && data[1] == 0 && data[2] == 0) {
    if (!jpeg_size(buffer, layout.width, layout.height)) return 0;
  }
  Picture out;
  const auto err = converter.convert(layout, buffer, out);
  if (err) {
    if (err->empty()) std::abort();
    return 0;
  }
  if (out.width != layout.width || out.height != layout.height) std::abort();
  if (format == CaptureFormat::h264) {
    if (out.format != freehold::hal::PixelFormat::h264 || out.data.size() != buffer.size()) std::abort();
    if (!std::equal(buffer.begin(), buffer.end(), out.data.begin())) std::abort();
  } else if (out.data.size() != static_cast<std::size_t>(layout.width) * layout.height * 3 / 2) {
    std::abort();
  }
  return 0;
}
