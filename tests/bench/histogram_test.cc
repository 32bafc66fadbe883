#include "histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace sidewal::bench {
namespace {

TEST(LatencyHistogram, SmallValuesAreCountedExactly) {
  for (uint64_t v = 0; v < 2 * LatencyHistogram::kSubBuckets; ++v) {
    const size_t b = LatencyHistogram::bucket_of(v);
    EXPECT_EQ(LatencyHistogram::bucket_low(b), v);
    EXPECT_EQ(LatencyHistogram::bucket_high(b), v);
  }
}

TEST(LatencyHistogram, BucketsTileTheWholeRangeWithoutGapsOrOverlap) {
  // Consecutive buckets must meet exactly: high(b) + 1 == low(b + 1).
  for (size_t b = 0; b + 1 < LatencyHistogram::kBuckets; ++b) {
    ASSERT_EQ(LatencyHistogram::bucket_high(b) + 1, LatencyHistogram::bucket_low(b + 1)) << b;
  }
  EXPECT_EQ(LatencyHistogram::bucket_of(UINT64_MAX), LatencyHistogram::kBuckets - 1);
  EXPECT_EQ(LatencyHistogram::bucket_high(LatencyHistogram::kBuckets - 1), UINT64_MAX);
}

TEST(LatencyHistogram, EveryValueFallsInsideItsBucketWithinRelativeError) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200000; ++i) {
    const uint64_t v = rng() >> (rng() % 64);
    const size_t b = LatencyHistogram::bucket_of(v);
    const uint64_t lo = LatencyHistogram::bucket_low(b), hi = LatencyHistogram::bucket_high(b);
    ASSERT_LE(lo, v);
    ASSERT_GE(hi, v);
    // Width at most lo / 256: the promised 0.4% precision.
    ASSERT_LE(static_cast<double>(hi - lo), static_cast<double>(lo) / 256.0 + 1e-9) << v;
  }
}

TEST(LatencyHistogram, PercentilesMatchSortedSamplesWithinPrecision) {
  std::mt19937_64 rng(11);
  std::lognormal_distribution<double> dist(11.0, 1.2);  // ~60 µs median, long tail, in ns
  std::vector<uint64_t> samples;
  LatencyHistogram h;
  for (int i = 0; i < 100000; ++i) {
    const uint64_t v = static_cast<uint64_t>(dist(rng));
    samples.push_back(v);
    h.record(v);
  }
  std::sort(samples.begin(), samples.end());
  for (double p : {1.0, 50.0, 90.0, 99.0, 99.9, 99.99}) {
    // 1-based rank of the p-th percentile sample (tolerant of 99.9/100*n rounding).
    const size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * samples.size() - 1e-6));
    const uint64_t exact = samples[rank - 1];
    const uint64_t got = h.value_at_percentile(p);
    EXPECT_GE(got, exact) << p;  // the top of the exact value's bucket
    EXPECT_LE(static_cast<double>(got), static_cast<double>(exact) * (1 + 1.0 / 256) + 1) << p;
  }
  EXPECT_EQ(h.value_at_percentile(100), samples.back());
  EXPECT_EQ(h.max(), samples.back());
  EXPECT_EQ(h.min(), samples.front());
  EXPECT_EQ(h.value_at_percentile(0), samples.front());
  EXPECT_EQ(h.count(), samples.size());
}

TEST(LatencyHistogram, MergeEqualsRecordingEverythingInOne) {
  LatencyHistogram a, b, all;
  for (uint64_t v = 1; v < 100000; v += 7) {
    (v % 3 ? a : b).record(v * 13);
    all.record(v * 13);
  }
  a.merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.min(), all.min());
  EXPECT_EQ(a.max(), all.max());
  EXPECT_DOUBLE_EQ(a.mean(), all.mean());
  for (double p : {10.0, 50.0, 99.0, 99.9}) {
    EXPECT_EQ(a.value_at_percentile(p), all.value_at_percentile(p)) << p;
  }
}

TEST(LatencyHistogram, EmptyAndClearedReportZero) {
  LatencyHistogram h;
  EXPECT_EQ(h.value_at_percentile(99), 0u);
  EXPECT_EQ(h.min(), 0u);
  h.record_n(5000, 3);
  EXPECT_EQ(h.count(), 3u);
  EXPECT_EQ(h.value_at_percentile(50), 5000u);  // clamped to max, not the bucket top
  h.clear();
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.value_at_percentile(50), 0u);
}

TEST(LatencyHistogram, OneSlowRequestInAThousandIsTheP999) {
  LatencyHistogram h;
  h.record_n(50'000, 999);  // 50 µs
  h.record(20'000'000);     // one 20 ms stall
  EXPECT_LE(h.value_at_percentile(99.9), 50'000u + 50'000u / 256);
  EXPECT_EQ(h.value_at_percentile(99.95), 20'000'000u);
  EXPECT_EQ(h.max(), 20'000'000u);
}

}  // namespace
}  // namespace sidewal::bench
