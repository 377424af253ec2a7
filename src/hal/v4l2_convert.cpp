// SPDX-License-Identifier: GPL-3.0-or-later
#include "hal/v4l2_convert.hpp"

#include <turbojpeg.h>

#include <algorithm>
#include <cstring>

namespace freehold::hal {
namespace {

constexpr int kMaxDimension = 16384;

std::string size_text(int w, int h) {
  return std::to_string(w) + "x" + std::to_string(h);
}

std::string short_text(CaptureFormat f, std::size_t got, std::size_t need) {
  return std::string(to_string(f)) + " frame has " + std::to_string(got) + " bytes, " + std::to_string(need) +
         " expected";
}

void yuyv_to_i420(const FrameLayout& l, const std::uint8_t* src, Picture& out) {
  const int w = l.width, cw = w / 2;
  for (int y = 0; y < l.height; y += 2) {
    const std::uint8_t* r0 = src + static_cast<std::size_t>(y) * l.stride;
    const std::uint8_t* r1 = r0 + l.stride;
    std::uint8_t* y0 = out.y() + static_cast<std::size_t>(y) * w;
    std::uint8_t* y1 = y0 + w;
    std::uint8_t* u = out.u() + static_cast<std::size_t>(y / 2) * cw;
    std::uint8_t* v = out.v() + static_cast<std::size_t>(y / 2) * cw;
    for (int i = 0; i < cw; ++i) {
      const std::uint8_t* a = r0 + 4 * i;
      const std::uint8_t* b = r1 + 4 * i;
      y0[2 * i] = a[0];
      y0[2 * i + 1] = a[2];
      y1[2 * i] = b[0];
      y1[2 * i + 1] = b[2];
      // 4:2:2 to 4:2:0: the two chroma rows of a pair are averaged (rounding up, like libyuv).
      u[i] = static_cast<std::uint8_t>((a[1] + b[1] + 1) / 2);
      v[i] = static_cast<std::uint8_t>((a[3] + b[3] + 1) / 2);
    }
  }
}

void nv12_to_i420(const FrameLayout& l, const std::uint8_t* src, Picture& out) {
  const int w = l.width, cw = w / 2;
  for (int y = 0; y < l.height; ++y) {
    std::memcpy(out.y() + static_cast<std::size_t>(y) * w, src + static_cast<std::size_t>(y) * l.stride,
                static_cast<std::size_t>(w));
  }
  const std::uint8_t* uv = src + static_cast<std::size_t>(l.stride) * l.height;
  for (int y = 0; y < l.height / 2; ++y) {
    const std::uint8_t* row = uv + static_cast<std::size_t>(y) * l.stride;
    std::uint8_t* u = out.u() + static_cast<std::size_t>(y) * cw;
    std::uint8_t* v = out.v() + static_cast<std::size_t>(y) * cw;
    for (int i = 0; i < cw; ++i) {
      u[i] = row[2 * i];
      v[i] = row[2 * i + 1];
    }
  }
}

// Box-filters one chroma plane of any JPEG subsampling (4:2:2, 4:4:4, 4:4:0, 4:1:1) to a 4:2:0 plane.
void resample_plane(const std::uint8_t* src, int sw, int sh, std::uint8_t* dst, int dw, int dh) {
  if (sw == dw && sh == 2 * dh) {  // 4:2:2, what UVC cameras send: average each pair of rows
    for (int y = 0; y < dh; ++y) {
      const std::uint8_t* a = src + static_cast<std::size_t>(2 * y) * sw;
      const std::uint8_t* b = a + sw;
      std::uint8_t* d = dst + static_cast<std::size_t>(y) * dw;
      for (int x = 0; x < dw; ++x) d[x] = static_cast<std::uint8_t>((a[x] + b[x] + 1) / 2);
    }
    return;
  }
  std::vector<int> x0(static_cast<std::size_t>(dw)), x1(static_cast<std::size_t>(dw));
  for (int x = 0; x < dw; ++x) {
    x0[static_cast<std::size_t>(x)] = x * sw / dw;
    x1[static_cast<std::size_t>(x)] = std::max(x0[static_cast<std::size_t>(x)] + 1, (x + 1) * sw / dw);
  }
  for (int y = 0; y < dh; ++y) {
    const int y0 = y * sh / dh, y1 = std::max(y0 + 1, (y + 1) * sh / dh);
    for (int x = 0; x < dw; ++x) {
      const int xa = x0[static_cast<std::size_t>(x)], xb = x1[static_cast<std::size_t>(x)];
      int sum = 0;
      for (int sy = y0; sy < y1; ++sy) {
        for (int sx = xa; sx < xb; ++sx) sum += src[static_cast<std::size_t>(sy) * sw + sx];
      }
      const int n = (y1 - y0) * (xb - xa);
      dst[static_cast<std::size_t>(y) * dw + x] = static_cast<std::uint8_t>((sum + n / 2) / n);
    }
  }
}

}  // namespace

const char* to_string(CaptureFormat f) {
  switch (f) {
    case CaptureFormat::h264:
      return "H264";
    case CaptureFormat::nv12:
      return "NV12";
    case CaptureFormat::yuyv:
      return "YUYV";
    case CaptureFormat::mjpeg:
      return "MJPEG";
  }
  return "?";
}

bool h264_has_idr(std::span<const std::uint8_t> au) {
  for (std::size_t i = 0; i + 3 < au.size(); ++i) {
    if (au[i] == 0 && au[i + 1] == 0 && au[i + 2] == 1 && (au[i + 3] & 0x1f) == 5) return true;
  }
  return false;
}

FrameConverter::FrameConverter() = default;

FrameConverter::~FrameConverter() {
  if (jpeg_) tjDestroy(static_cast<tjhandle>(jpeg_));
}

std::optional<std::string> FrameConverter::convert(const FrameLayout& l, std::span<const std::uint8_t> buffer,
                                                   Picture& out) {
  if (l.width <= 0 || l.height <= 0 || l.width % 2 || l.height % 2 || l.width > kMaxDimension ||
      l.height > kMaxDimension) {
    return "unusable frame size " + size_text(l.width, l.height);
  }
  if (l.stride < 0 || l.stride > 4 * kMaxDimension) return "unusable line length " + std::to_string(l.stride);
  if (buffer.empty()) return std::string(to_string(l.format)) + " frame is empty";
  const auto w = static_cast<std::size_t>(l.width), h = static_cast<std::size_t>(l.height);
  switch (l.format) {
    case CaptureFormat::h264: {
      // Annex-B starts with a start code (00 00 01, possibly after more zeros); anything else is not H.264.
      std::size_t zeros = 0;
      while (zeros < buffer.size() && buffer[zeros] == 0) ++zeros;
      if (zeros < 2 || zeros == buffer.size() || buffer[zeros] != 1) return "H.264 buffer has no Annex-B start code";
      out.width = l.width;
      out.height = l.height;
      out.format = PixelFormat::h264;
      out.keyframe = h264_has_idr(buffer);
      out.data.assign(buffer.begin(), buffer.end());
      return std::nullopt;
    }
    case CaptureFormat::yuyv: {
      const auto stride = static_cast<std::size_t>(l.stride ? l.stride : l.width * 2);
      if (stride < w * 2) return "YUYV stride " + std::to_string(stride) + " is shorter than a line";
      const std::size_t need = stride * (h - 1) + w * 2;
      if (buffer.size() < need) return short_text(l.format, buffer.size(), need);
      out.allocate(l.width, l.height);
      yuyv_to_i420(FrameLayout{l.format, l.width, l.height, static_cast<int>(stride)}, buffer.data(), out);
      return std::nullopt;
    }
    case CaptureFormat::nv12: {
      const auto stride = static_cast<std::size_t>(l.stride ? l.stride : l.width);
      if (stride < w) return "NV12 stride " + std::to_string(stride) + " is shorter than a line";
      const std::size_t need = stride * h + stride * (h / 2 - 1) + w;
      if (buffer.size() < need) return short_text(l.format, buffer.size(), need);
      out.allocate(l.width, l.height);
      nv12_to_i420(FrameLayout{l.format, l.width, l.height, static_cast<int>(stride)}, buffer.data(), out);
      return std::nullopt;
    }
    case CaptureFormat::mjpeg:
      return convert_mjpeg(l, buffer, out);
  }
  return "unknown capture format";
}

std::optional<std::string> FrameConverter::convert_mjpeg(const FrameLayout& l, std::span<const std::uint8_t> buffer,
                                                         Picture& out) {
  if (!jpeg_) {
    jpeg_ = tjInitDecompress();
    if (!jpeg_) return "cannot start the JPEG decoder";
  }
  auto* tj = static_cast<tjhandle>(jpeg_);
  // The header is read first so that nothing is decoded (or allocated) for a picture of the wrong size.
  int jw = 0, jh = 0, subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(tj, buffer.data(), buffer.size(), &jw, &jh, &subsamp, &colorspace) != 0) {
    return std::string("unreadable JPEG header: ") + tjGetErrorStr2(tj);
  }
  if (jw <= 0 || jh <= 0) return std::string("JPEG has no picture in it (no frame header)");
  if (jw != l.width || jh != l.height) {
    return "JPEG is " + size_text(jw, jh) + ", " + size_text(l.width, l.height) + " expected";
  }
  if (colorspace != TJCS_YCbCr && colorspace != TJCS_GRAY) {
    return "JPEG colour space " + std::to_string(colorspace) + " is not YCbCr";
  }
  out.allocate(l.width, l.height);
  const int cw = l.width / 2, ch = l.height / 2;
  // A warning (truncated data, corrupt entropy codes) stops decoding: the frame is dropped rather than shown with
  // grey or garbled blocks. LIMITSCANS bounds the work a hostile progressive JPEG can cause.
  const int flags = TJFLAG_FASTDCT | TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS;
  unsigned char* planes[3] = {out.y(), nullptr, nullptr};
  int strides[3] = {l.width, 0, 0};
  if (subsamp == TJSAMP_420) {
    planes[1] = out.u();
    planes[2] = out.v();
    strides[1] = strides[2] = cw;
  } else if (subsamp != TJSAMP_GRAY) {
    const int pw = tjPlaneWidth(1, l.width, subsamp), ph = tjPlaneHeight(1, l.height, subsamp);
    if (pw <= 0 || ph <= 0) return "unsupported JPEG subsampling " + std::to_string(subsamp);
    const auto plane = static_cast<std::size_t>(pw) * ph;
    scratch_.resize(2 * plane);
    planes[1] = scratch_.data();
    planes[2] = scratch_.data() + plane;
    strides[1] = strides[2] = pw;
  }
  if (tjDecompressToYUVPlanes(tj, buffer.data(), buffer.size(), planes, l.width, strides, l.height, flags) != 0) {
    return std::string("corrupt JPEG: ") + tjGetErrorStr2(tj);
  }
  if (subsamp == TJSAMP_GRAY) {
    std::memset(out.u(), 128, static_cast<std::size_t>(cw) * ch * 2);
  } else if (subsamp != TJSAMP_420) {
    const int pw = strides[1], ph = tjPlaneHeight(1, l.height, subsamp);
    resample_plane(planes[1], pw, ph, out.u(), cw, ch);
    resample_plane(planes[2], pw, ph, out.v(), cw, ch);
  }
  return std::nullopt;
}

}  // namespace freehold::hal
