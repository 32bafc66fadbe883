#include "wake_probe.h"

#include <gtest/gtest.h>

#include <chrono>

namespace sidewal::bench {
namespace {

constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kUs = 1'000;

// Within the histogram's 0.4% bucket precision.
void expect_about(uint64_t got, uint64_t want) {
  EXPECT_NEAR(static_cast<double>(got), static_cast<double>(want),
              static_cast<double>(want) * 0.004 + 1);
}

TEST(WakeProbeRecorder, SummarisesOversleepsAndCountsStallsOverTheThresholdOnly) {
  WakeProbeRecorder r;  // stalls: over 2 ms late
  for (int i = 0; i < 997; ++i) r.record(kMs, kMs + 50 * kUs);
  r.record(kMs, kMs + 2 * kMs);   // exactly 2 ms late: not over the threshold
  r.record(kMs, kMs + 3 * kMs);   // a stall
  r.record(kMs, kMs + 10 * kMs);  // a stall, the worst
  const WakeProbeSummary s = r.summary();
  EXPECT_EQ(s.samples, 1000u);
  expect_about(s.p50_ns, 50 * kUs);
  expect_about(s.p99_ns, 50 * kUs);  // the 990th of 1000 is still 50 µs
  expect_about(s.p999_ns, 3 * kMs);  // the 999th
  EXPECT_EQ(s.max_ns, 10 * kMs);     // exact
  EXPECT_EQ(s.stall_ns, 2 * kMs);
  EXPECT_EQ(s.stalls, 2u);
}

TEST(WakeProbeRecorder, AnEarlyWakeIsNoOversleepAndAnEmptyProbeIsAllZero) {
  WakeProbeRecorder empty;
  const WakeProbeSummary z = empty.summary();
  EXPECT_EQ(z.samples, 0u);
  EXPECT_EQ(z.p50_ns + z.p99_ns + z.p999_ns + z.max_ns + z.stalls, 0u);

  WakeProbeRecorder r(5 * kMs);
  r.record(kMs, kMs / 2);  // cannot oversleep by a negative amount
  r.record(kMs, kMs + 4 * kMs);
  const WakeProbeSummary s = r.summary();
  EXPECT_EQ(s.samples, 2u);
  EXPECT_EQ(s.p50_ns, 0u);
  EXPECT_EQ(s.max_ns, 4 * kMs);
  EXPECT_EQ(s.stalls, 0u);  // 4 ms is under this recorder's 5 ms threshold
}

TEST(WakeProbe, RecordsWholeSleepsUntilStoppedAndStopsOnce) {
  WakeProbe p;
  const auto now = std::chrono::steady_clock::now().time_since_epoch();
  const auto t0 = std::chrono::steady_clock::now();
  p.start(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(now).count()));
  p.stop();
  p.stop();  // idempotent
  const auto took = std::chrono::steady_clock::now() - t0;
  const WakeProbeSummary s = p.summary();
  // The sleep in progress when stop() came is finished and recorded: at
  // least one 1 ms sleep, however soon stop() was called.
  ASSERT_GE(s.samples, 1u);
  EXPECT_GE(took, std::chrono::nanoseconds(WakeProbe::kPeriodNs * s.samples));
  EXPECT_LE(s.p50_ns, s.p99_ns);
  EXPECT_LE(s.p99_ns, s.p999_ns);
  EXPECT_LE(s.p999_ns, s.max_ns);
}

}  // namespace
}  // namespace sidewal::bench
