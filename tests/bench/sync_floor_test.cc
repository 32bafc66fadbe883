#include "sync_floor.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "scratch_dir.h"

namespace sidewal::bench {
namespace {

TEST(SyncFloor, EachRequestRidesTheFirstCycleThatStartsAtOrAfterIt) {
  // Cycles [0,100] [100,200] [250,300] [300,1300] (ns); a request every
  // 50 ns (rate 2e7/s) from 0 up to 400.
  const std::vector<SyncCycle> cycles = {{0, 100}, {100, 200}, {250, 300}, {300, 1300}};
  LatencyHistogram h;
  const uint64_t n = record_ideal_acks(cycles, 2e7, 0, 400, &h);
  // At 0 -> cycle at 0 (100); 50, 100 -> cycle at 100 (150, 100); 150, 200,
  // 250 -> cycle at 250 (150, 100, 50); 300 -> cycle at 300 (1000); 350 has
  // no cycle starting after it and is not recorded.
  EXPECT_EQ(n, 7u);
  EXPECT_EQ(h.count(), 7u);
  EXPECT_EQ(h.min(), 50u);
  EXPECT_EQ(h.max(), 1000u);
  EXPECT_EQ(h.value_at_percentile(50), 100u);
  // The stalled cycle's 1000 ns is the one sample above 150.
  EXPECT_EQ(h.value_at_percentile(6.0 / 7.0 * 100), 150u);
}

TEST(SyncFloor, NoCyclesOrNoRateRecordsNothing) {
  LatencyHistogram h;
  EXPECT_EQ(record_ideal_acks({}, 1000, 0, 1'000'000'000, &h), 0u);
  const std::vector<SyncCycle> one = {{0, 10}};
  EXPECT_EQ(record_ideal_acks(one, 0, 0, 1'000'000'000, &h), 0u);
  EXPECT_EQ(h.count(), 0u);
}

TEST(SyncFloor, MeasuresRealCyclesAndLeavesNoFileBehind) {
  ScratchDir dir("sync_floor_test");
  ASSERT_FALSE(dir.path.empty());
  auto r = run_sync_floor(
      SyncFloorOptions{.rate = 20000, .duration_s = 0.3, .warmup_s = 0.05, .dir = dir.path});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GT(r->cycles, 0u);
  EXPECT_EQ(r->cycle.count(), r->cycles);
  EXPECT_GT(r->cycles_per_s, 0);
  // Requests every 50 us over the window, all carried by a cycle but those
  // after the last one's start.
  EXPECT_GT(r->ack.count(), 0u);
  EXPECT_LE(static_cast<double>(r->ack.count()), 20000 * (r->window_s + 0.3) + 1);
  // A request waits at least for the end of a whole cycle that starts
  // after it.
  EXPECT_GE(r->ack.min(), r->cycle.min());
  EXPECT_TRUE(std::filesystem::is_empty(dir.path));
}

TEST(SyncFloor, ADirectoryThatDoesNotExistIsAnError) {
  auto r = run_sync_floor(SyncFloorOptions{
      .rate = 1000, .duration_s = 0.1, .warmup_s = 0, .dir = "/nonexistent/sync-floor-dir"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("/nonexistent/sync-floor-dir"), std::string::npos);
}

TEST(SyncFloor, BadOptionsAreRefused) {
  EXPECT_FALSE(run_sync_floor(SyncFloorOptions{.rate = 0}).ok());
  EXPECT_FALSE(run_sync_floor(SyncFloorOptions{.rate = 1000, .duration_s = 0}).ok());
}

}  // namespace
}  // namespace sidewal::bench
