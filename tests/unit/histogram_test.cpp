// SPDX-License-Identifier: GPL-3.0-or-later
#include "core/histogram.hpp"

#include <gtest/gtest.h>

namespace freehold {
namespace {

TEST(LatencyHistogram, PercentilesAreExactBelowAMillisecondAndBucketedAbove) {
  LatencyHistogram h;
  EXPECT_EQ(h.summary().count, 0u);
  EXPECT_EQ(h.summary().p99_us, 0);
  for (int i = 1; i <= 100; ++i) h.record(i);  // 1..100 µs
  auto s = h.summary();
  EXPECT_EQ(s.count, 100u);
  EXPECT_EQ(s.p50_us, 50);
  EXPECT_EQ(s.p99_us, 99);
  EXPECT_EQ(s.max_us, 100);
  h.record(2345);     // 10 µs buckets: 2340
  h.record(54321);    // 100 µs buckets: 54300
  h.record(5000000);  // overflow: reported as 100 ms, max exact
  h.record(-3);       // a clock step back counts as 0
  s = h.summary();
  EXPECT_EQ(s.count, 104u);
  EXPECT_EQ(s.max_us, 5000000);
  EXPECT_EQ(s.p99_us, 54300) << "rank 103 of 104: the 100 µs bucket of 54321";
}

}  // namespace
}  // namespace freehold
