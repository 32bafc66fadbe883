#include "histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace sidewal::bench {

LatencyHistogram::LatencyHistogram() : counts_(kBuckets, 0) {}

size_t LatencyHistogram::bucket_of(uint64_t value) {
  if (value < 2 * kSubBuckets) return static_cast<size_t>(value);
  const int msb = 63 - std::countl_zero(value);  // >= kSubBits + 1
  const int shift = msb - kSubBits;              // >= 1
  const uint64_t top = value >> shift;           // in [kSubBuckets, 2*kSubBuckets)
  return static_cast<size_t>(static_cast<uint64_t>(shift) * kSubBuckets + top);
}

uint64_t LatencyHistogram::bucket_low(size_t bucket) {
  if (bucket < 2 * kSubBuckets) return bucket;
  const uint64_t shift = bucket / kSubBuckets - 1;
  const uint64_t top = bucket - shift * kSubBuckets;
  return top << shift;
}

uint64_t LatencyHistogram::bucket_high(size_t bucket) {
  if (bucket < 2 * kSubBuckets) return bucket;
  const uint64_t shift = bucket / kSubBuckets - 1;
  const uint64_t top = bucket - shift * kSubBuckets;
  // For the very last bucket (top+1) << shift wraps to 0 and the result is
  // UINT64_MAX, which is right: that bucket ends at the top of the range.
  return ((top + 1) << shift) - 1;
}

void LatencyHistogram::record_n(uint64_t value, uint64_t n) {
  if (n == 0) return;
  counts_[bucket_of(value)] += n;
  count_ += n;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
  sum_ += static_cast<unsigned __int128>(value) * n;
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

void LatencyHistogram::clear() {
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = 0;
  min_ = UINT64_MAX;
  max_ = 0;
  sum_ = 0;
}

uint64_t LatencyHistogram::value_at_percentile(double percentile) const {
  if (count_ == 0) return 0;
  percentile = std::clamp(percentile, 0.0, 100.0);
  // Rank of the sample we want (1-based): ceil(p% of count), at least 1.
  // The relative nudge keeps binary rounding (99.9 / 100 * 1000 is
  // 999.0000000000001) from pushing the rank one sample too far.
  const double exact = percentile / 100.0 * static_cast<double>(count_);
  uint64_t rank = static_cast<uint64_t>(std::ceil(exact * (1 - 1e-12)));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::clamp(bucket_high(i), min(), max_);
  }
  return max_;  // unreachable: seen reaches count_ >= rank
}

}  // namespace sidewal::bench
