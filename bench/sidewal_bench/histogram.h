// LatencyHistogram: a fixed-size, log-linear histogram of non-negative
// integer values (nanoseconds here), in the manner of HdrHistogram.
//
// Why log-linear: latencies span six orders of magnitude (a few µs to
// seconds), and we want every percentile to within a fixed relative error
// without storing every sample. Values below 2*kSubBuckets are counted
// exactly; above that each power-of-two range [2^m, 2^(m+1)) is split into
// kSubBuckets equal buckets, so a bucket's width is at most 1/kSubBuckets of
// its lower bound: with 256 sub-buckets every reported value is within
// 0.4% of a recorded one.
//
// Recording is one count increment (no allocation); merging adds counts.
// Not thread-safe: each connection keeps its own and they are merged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sidewal::bench {

class LatencyHistogram {
 public:
  static constexpr int kSubBits = 8;
  static constexpr uint64_t kSubBuckets = uint64_t{1} << kSubBits;  // 256
  // Enough buckets for every uint64_t value: exact part + 56 scaled ranges.
  static constexpr size_t kBuckets = 2 * kSubBuckets + (64 - kSubBits - 1) * kSubBuckets;

  LatencyHistogram();

  void record(uint64_t value) { record_n(value, 1); }
  void record_n(uint64_t value, uint64_t n);
  void merge(const LatencyHistogram& other);
  void clear();

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ ? min_ : 0; }  // exact
  uint64_t max() const { return max_; }               // exact
  double mean() const {
    return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0;
  }

  // The smallest recorded value v (to bucket precision: the top of v's
  // bucket, never above max()) such that at least `percentile`% of the
  // samples are <= v. percentile in [0, 100]; 0 samples -> 0.
  uint64_t value_at_percentile(double percentile) const;

  // Bucket arithmetic, public for tests.
  static size_t bucket_of(uint64_t value);
  static uint64_t bucket_low(size_t bucket);   // smallest value in the bucket
  static uint64_t bucket_high(size_t bucket);  // largest value in the bucket

 private:
  std::vector<uint64_t> counts_;  // size kBuckets; counts_[bucket_of(v)] counts v
  uint64_t count_ = 0;            // == sum of counts_
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
  unsigned __int128 sum_ = 0;  // for the mean; 128 bits cannot overflow here
};

}  // namespace sidewal::bench
