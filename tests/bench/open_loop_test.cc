#include "open_loop.h"

#include <gtest/gtest.h>

namespace sidewal::bench {
namespace {

TEST(OpenLoopSchedule, SendTimesAreEvenlySpacedFromStart) {
  const OpenLoopSchedule s(1'000'000, 100'000, 4);  // 100k/s: every 10 µs
  EXPECT_EQ(s.send_time(0), 1'000'000u);
  EXPECT_EQ(s.send_time(1), 1'010'000u);
  EXPECT_EQ(s.send_time(100'000), 1'000'000u + 1'000'000'000u);
}

TEST(OpenLoopSchedule, DoesNotDriftOverLongRunsOrOddRates) {
  // 3 per second: 333,333,333.3 ns apart; an accumulated 333,333,333 ns step
  // would be 1 ns short per request, here the error never exceeds 1 ns.
  const OpenLoopSchedule s(0, 3, 1);
  EXPECT_EQ(s.send_time(3), 1'000'000'000u);
  EXPECT_EQ(s.send_time(3 * 86400ull * 365), 86400ull * 365 * 1'000'000'000u);
  // A year at 10M/s: i * 1e12 would overflow 64 bits; 128-bit math does not.
  const OpenLoopSchedule fast(0, 10'000'000, 1);
  EXPECT_EQ(fast.send_time(10'000'000ull * 86400 * 365), 86400ull * 365 * 1'000'000'000u);
}

TEST(OpenLoopSchedule, DueCountIsTheNumberOfSendTimesNotAfterNow) {
  for (double rate : {1.0, 3.0, 7.5, 1000.0, 100'000.0, 333'333.0}) {
    const OpenLoopSchedule s(5'000, rate, 1);
    EXPECT_EQ(s.due_count(4'999), 0u);
    for (uint64_t i = 0; i < 2000; ++i) {
      const uint64_t t = s.send_time(i);
      // Exactly at its send time request i is due (i + 1 requests), one
      // nanosecond before it is not.
      ASSERT_EQ(s.due_count(t), i + 1) << rate << " " << i;
      if (i > 0 && t > s.send_time(i - 1)) {
        ASSERT_EQ(s.due_count(t - 1), i) << rate << " " << i;
      }
    }
  }
}

TEST(OpenLoopSchedule, ConnectionsInterleaveOnOneClock) {
  const OpenLoopSchedule s(0, 1000, 3);  // 1 ms apart over all connections
  EXPECT_EQ(s.global_index(0, 0), 0u);
  EXPECT_EQ(s.global_index(2, 0), 2u);
  EXPECT_EQ(s.global_index(1, 5), 16u);
  EXPECT_EQ(s.send_time(1, 5), 16'000'000u);
  // Per-connection due counts add up to the global one at every instant.
  for (uint64_t now = 0; now < 50'000'000; now += 250'000) {
    uint64_t sum = 0;
    for (uint32_t c = 0; c < 3; ++c) {
      const uint64_t due = s.due_count(c, now);
      sum += due;
      // Connection c's due requests are exactly those whose time has come.
      if (due > 0) {
        ASSERT_LE(s.send_time(c, due - 1), now);
      }
      ASSERT_GT(s.send_time(c, due), now);
    }
    ASSERT_EQ(sum, s.due_count(now)) << now;
  }
}

TEST(OpenLoopSchedule, LatencyOfALateRequestCountsFromItsScheduledTime) {
  // A request scheduled at 10 µs that could only be sent at 2 ms (pipeline
  // full during a stall) and was ACKed at 2.1 ms has 2.09 ms of latency, not
  // 0.1 ms: the scheduled time, not the send time, is the origin.
  const OpenLoopSchedule s(0, 100'000, 1);
  const uint64_t scheduled = s.send_time(1);
  const uint64_t ack = 2'100'000;
  EXPECT_EQ(ack - scheduled, 2'090'000u);
  // And by 2 ms, 201 requests were due: the backlog the stall built up.
  EXPECT_EQ(s.due_count(2'000'000), 201u);
}

}  // namespace
}  // namespace sidewal::bench
