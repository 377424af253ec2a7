// SPDX-License-Identifier: GPL-3.0-or-later
#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>
#include <thread>
#include <vector>

#include "hal/source.hpp"

namespace freehold::hal {
namespace {

// The burned-in data: row 0 holds the frame counter (32 bits), row 1 the UTC time in milliseconds (48 bits),
// MSB first, one square block per bit (dark 0, bright 1) so that it survives lossy compression. A block is 1/80 of
// the picture's width, so the pattern survives scaling too (a sub stream scaled from the main capture).
constexpr int kCounterBits = 32;
constexpr int kClockBits = 48;
constexpr std::uint8_t kDark = 16, kBright = 235;

double block_size(int width) { return width / 80.0; }
int at(double x) { return static_cast<int>(x + 0.5); }

// 3x5 digit glyphs for the human-readable caption (bit 2 = left column).
constexpr std::uint8_t kDigits[12][5] = {
    {7, 5, 5, 5, 7}, {2, 6, 2, 2, 7}, {7, 1, 7, 4, 7}, {7, 1, 7, 1, 7}, {5, 5, 7, 1, 1}, {7, 4, 7, 1, 7},
    {7, 4, 7, 5, 7}, {7, 1, 1, 1, 1}, {7, 5, 7, 5, 7}, {7, 5, 7, 1, 7}, {0, 2, 0, 2, 0}, {0, 0, 0, 0, 2}};

void fill_rect(Picture& p, int x0, int y0, int w, int h, std::uint8_t luma) {
  for (int y = std::max(0, y0); y < std::min(p.height, y0 + h); ++y) {
    std::memset(p.y() + static_cast<std::size_t>(y) * p.width + std::max(0, x0), luma,
                static_cast<std::size_t>(std::max(0, std::min(p.width, x0 + w) - std::max(0, x0))));
  }
}

void draw_bits(Picture& p, int row, std::uint64_t value, int bits, double block) {
  for (int i = 0; i < bits; ++i) {
    const bool one = (value >> (bits - 1 - i)) & 1;
    fill_rect(p, at(i * block), at(row * block), at((i + 1) * block) - at(i * block),
              at((row + 1) * block) - at(row * block), one ? kBright : kDark);
  }
}

void draw_text(Picture& p, int x, int y, const char* text, int scale) {
  for (; *text; ++text, x += 4 * scale) {
    int g = *text == ':' ? 10 : *text == '.' ? 11 : (*text >= '0' && *text <= '9') ? *text - '0' : -1;
    fill_rect(p, x - scale, y - scale, 5 * scale, 7 * scale, kDark);
    if (g < 0) continue;
    for (int r = 0; r < 5; ++r) {
      for (int c = 0; c < 3; ++c) {
        if (kDigits[g][r] & (4 >> c)) fill_rect(p, x + c * scale, y + r * scale, scale, scale, kBright);
      }
    }
  }
}

class SyntheticSource final : public Source {
 public:
  explicit SyntheticSource(const SyntheticOptions& o)
      : o_(o), noise_(static_cast<std::size_t>(std::max(o.width, 1)) + 65536), start_(std::chrono::steady_clock::now()) {
    std::uint32_t r = 1;
    for (auto& n : noise_) {
      r = r * 1664525u + 1013904223u;
      n = static_cast<std::int8_t>(static_cast<int>((r >> 16) % 5) - 2);
    }
  }

  std::optional<std::string> next(Picture& p) override {
    const auto due = start_ + std::chrono::microseconds(index_ * 1000000 / static_cast<std::uint64_t>(o_.fps));
    if (o_.realtime) std::this_thread::sleep_until(due);
    p.allocate(o_.width, o_.height);
    p.index = index_;
    // A sensor stamps the instant of exposure, not when we got round to reading it: the picture's time is the
    // instant it was due, so timestamps are exactly periodic (real time: when not pacing).
    using namespace std::chrono;
    const auto now = steady_clock::now();
    const auto at = o_.realtime ? std::min(due, now) : now;
    p.capture_us = duration_cast<microseconds>(at.time_since_epoch()).count();
    p.wallclock_us = duration_cast<microseconds>((system_clock::now() - (now - at)).time_since_epoch()).count();
    render(p);
    ++index_;
    return std::nullopt;
  }
  int width() const override { return o_.width; }
  int height() const override { return o_.height; }
  int fps() const override { return o_.fps; }
  // The bit rows and the caption under them, with a block of margin.
  Overlay overlay() const override {
    const double block = block_size(o_.width);
    const int scale = std::max(2, at(block / 4));
    const double bottom = at(2.5 * block) + 6 * scale + block;
    return {0, 0, std::min(1.0, (kClockBits + 1) * block / o_.width), std::min(1.0, bottom / o_.height)};
  }

 private:
  void render(Picture& p) const {
    const int w = p.width, h = p.height;
    // A diagonal luma ramp that slides with time: every frame differs, so encoders do real work. In the analytics
    // scene it stands still, like the street a fixed camera watches, and only the box moves; sensor noise (±2
    // levels, different in every picture) keeps the encoders working as on a real camera.
    const auto shift = o_.moving_box ? 0 : static_cast<int>(p.index * 4);
    for (int y = 0; y < h; ++y) {
      std::uint8_t* row = p.y() + static_cast<std::size_t>(y) * w;
      if (!o_.moving_box) {
        for (int x = 0; x < w; ++x) row[x] = static_cast<std::uint8_t>(48 + ((x + y + shift) & 127));
        continue;
      }
      std::uint32_t pick = static_cast<std::uint32_t>(p.index) * 2654435761u ^ static_cast<std::uint32_t>(y) * 2246822519u;
      pick ^= pick >> 15;
      const std::int8_t* grain = noise_.data() + pick % (noise_.size() - static_cast<std::size_t>(w));
      for (int x = 0; x < w; ++x) row[x] = static_cast<std::uint8_t>(48 + ((x + y) & 127) + grain[x]);
    }
    // Eight colour bars in the chroma planes.
    static constexpr std::uint8_t bars_u[8] = {128, 16, 166, 54, 202, 90, 240, 128};
    static constexpr std::uint8_t bars_v[8] = {128, 146, 16, 34, 222, 240, 110, 128};
    const int cw = w / 2, ch = h / 2;
    for (int y = 0; y < ch; ++y) {
      for (int x = 0; x < cw; ++x) {
        const int bar = x * 8 / cw;
        p.u()[static_cast<std::size_t>(y) * cw + x] = bars_u[bar];
        p.v()[static_cast<std::size_t>(y) * cw + x] = bars_v[bar];
      }
    }
    if (o_.moving_box) {
      const int bw = w / 8, bh = h / 4;
      const int span = w - bw;
      const int pos = static_cast<int>((synthetic_box_travel(p.index, o_.fps) * 8) % static_cast<std::uint64_t>(2 * span));
      fill_rect(p, pos < span ? pos : 2 * span - pos, h / 2 - bh / 2, bw, bh, kBright);
    }
    const double block = block_size(w);
    const auto ms = static_cast<std::uint64_t>(p.wallclock_us / 1000);
    draw_bits(p, 0, p.index, kCounterBits, block);
    draw_bits(p, 1, ms & ((std::uint64_t{1} << kClockBits) - 1), kClockBits, block);
    // Human-readable: "frame  HH:MM:SS.mmm" under the bit rows.
    std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char text[48];
    std::snprintf(text, sizeof text, "%08llu %02d:%02d:%02d.%03d", static_cast<unsigned long long>(p.index),
                  tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
    draw_text(p, at(block), at(2.5 * block), text, std::max(2, at(block / 4)));
  }

  SyntheticOptions o_;
  std::vector<std::int8_t> noise_;  // -2..2, read at a random offset per row
  std::chrono::steady_clock::time_point start_;
  std::uint64_t index_ = 0;
};

}  // namespace

bool synthetic_box_moving(std::uint64_t index, int fps) {
  const auto half = static_cast<std::uint64_t>(std::max(fps, 1) * kSyntheticMoveSeconds);
  return index % (2 * half) < half;
}

std::uint64_t synthetic_box_travel(std::uint64_t index, int fps) {
  const auto half = static_cast<std::uint64_t>(std::max(fps, 1) * kSyntheticMoveSeconds);
  return index / (2 * half) * half + std::min(index % (2 * half), half);
}

std::unique_ptr<Source> make_synthetic_source(const SyntheticOptions& options) {
  return std::make_unique<SyntheticSource>(options);
}

std::optional<std::uint64_t> read_burned_counter(const std::uint8_t* y, int width, int height) {
  const double block = block_size(width);
  if (block < 2 || height < 2 * block) return std::nullopt;
  std::uint64_t v = 0;
  for (int i = 0; i < kCounterBits; ++i) {
    const std::uint8_t sample = y[static_cast<std::size_t>(block / 2) * width + static_cast<std::size_t>((i + 0.5) * block)];
    if (sample > 96 && sample < 160) return std::nullopt;  // neither dark nor bright: no counter here
    v = (v << 1) | (sample >= 160 ? 1 : 0);
  }
  return v;
}

}  // namespace freehold::hal
