// The pure parts of sidewal-bench --follow-latency: the index payload and
// the pairing of ACK and delivery times.
#include <gtest/gtest.h>

#include "follow_latency.h"

namespace sidewal::bench {
namespace {

TEST(FollowLatency, PayloadCarriesItsIndexAndHasTheAskedSize) {
  auto p = follow_payload(0x0102030405060708ull, 256);
  EXPECT_EQ(p.size(), 256u);
  EXPECT_EQ(p[0], 0x08);  // little-endian
  auto idx = follow_payload_index(p);
  ASSERT_TRUE(idx.ok());
  EXPECT_EQ(*idx, 0x0102030405060708ull);
  EXPECT_EQ(follow_payload(5, 1).size(), 8u);  // never shorter than the index
  std::vector<uint8_t> short_payload(7, 0);
  EXPECT_EQ(follow_payload_index(short_payload).status().code(), Code::kInvalidArgument);
}

TEST(FollowLatency, PairsTimesCountsEarlyDeliveriesAndMissingRecords) {
  // ns; 0 = never happened.
  const std::vector<uint64_t> ack = {100, 200, 300, 400, 0};
  const std::vector<uint64_t> got = {150, 1200, 250, 0, 900};
  FollowLatency f = pair_follow_times(ack, got);
  EXPECT_EQ(f.histogram.count(), 3u);  // records 0, 1, 2
  EXPECT_EQ(f.histogram.max(), 1000u);
  EXPECT_EQ(f.histogram.min(), 0u);  // record 2 arrived before its ACK callback
  EXPECT_EQ(f.delivered_before_ack, 1u);
  EXPECT_EQ(f.missing, 2u);  // 3 never delivered, 4 never ACKed
  EXPECT_EQ(f.histogram.value_at_percentile(50), 50u);
}

}  // namespace
}  // namespace sidewal::bench
