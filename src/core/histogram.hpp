// SPDX-License-Identifier: GPL-3.0-or-later
// A latency histogram for counters a user can read (p50/p99 of the RTSP send path): fixed memory, O(1) record,
// 1 µs resolution below 1 ms, 10 µs to 10 ms, 100 µs to 100 ms, everything slower in one overflow bucket.
// Not thread-safe: one owner thread records and reads.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>

namespace freehold {

struct LatencySummary {
  std::uint64_t count = 0;
  std::int64_t p50_us = 0, p99_us = 0, max_us = 0;
};

class LatencyHistogram {
 public:
  void record(std::int64_t us) {
    us = std::max<std::int64_t>(us, 0);
    ++buckets_[index(us)];
    ++count_;
    max_ = std::max(max_, us);
  }

  // Each percentile is the lower edge of its bucket (exact below 1 ms).
  [[nodiscard]] LatencySummary summary() const {
    return {count_, percentile(50), percentile(99), max_};
  }

 private:
  static constexpr std::size_t kFine = 1000, kMid = 900, kCoarse = 900;  // 0-1 ms, 1-10 ms, 10-100 ms
  static std::size_t index(std::int64_t us) {
    if (us < 1000) return static_cast<std::size_t>(us);
    if (us < 10000) return kFine + static_cast<std::size_t>((us - 1000) / 10);
    if (us < 100000) return kFine + kMid + static_cast<std::size_t>((us - 10000) / 100);
    return kFine + kMid + kCoarse;
  }
  static std::int64_t lower_edge(std::size_t i) {
    if (i < kFine) return static_cast<std::int64_t>(i);
    if (i < kFine + kMid) return 1000 + static_cast<std::int64_t>(i - kFine) * 10;
    if (i < kFine + kMid + kCoarse) return 10000 + static_cast<std::int64_t>(i - kFine - kMid) * 100;
    return 100000;
  }
  [[nodiscard]] std::int64_t percentile(int p) const {
    if (count_ == 0) return 0;
    const std::uint64_t rank = (count_ * static_cast<std::uint64_t>(p) + 99) / 100;  // ceil, >= 1
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < buckets_.size(); ++i) {
      seen += buckets_[i];
      if (seen >= rank) return std::min(lower_edge(i), max_);
    }
    return max_;
  }

  std::array<std::uint32_t, kFine + kMid + kCoarse + 1> buckets_{};
  std::uint64_t count_ = 0;
  std::int64_t max_ = 0;
};

}  // namespace freehold
