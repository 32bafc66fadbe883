#include "uds_rtt.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "proto/protocol.h"
#include "scratch_dir.h"

namespace sidewal::bench {
namespace {

TEST(UdsRtt, FramesAreAnAppendOfOneRecordAndItsAck) {
  // Header, one record header, the payload; and a 16-byte ACK body.
  EXPECT_EQ(uds_rtt_request_bytes(100), proto::kHeaderSize + proto::kAppendRecordHeaderSize + 100);
  EXPECT_EQ(uds_rtt_request_bytes(100), 128u);
  EXPECT_EQ(uds_rtt_request_bytes(1), 29u);
  EXPECT_EQ(uds_rtt_reply_bytes(), proto::kHeaderSize + 16);
  EXPECT_EQ(uds_rtt_reply_bytes(), 32u);
}

TEST(UdsRtt, MeasuresEveryRoundTripOfTheWindowAndLeavesNoSocketBehind) {
  ScratchDir dir("uds_rtt_test");
  ASSERT_FALSE(dir.path.empty());
  auto r = run_uds_rtt(UdsRttOptions{
      .record_bytes = 100, .duration_s = 0.05, .warmup_s = 0.01, .tmp_dir = dir.path});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const UdsRttResult& u = r.value();
  EXPECT_EQ(u.request_bytes, 128u);
  EXPECT_EQ(u.reply_bytes, 32u);
  ASSERT_GT(u.round_trips, 0u);
  EXPECT_EQ(u.latency.count(), u.round_trips);
  EXPECT_GT(u.latency.min(), 0u);
  EXPECT_LE(u.latency.value_at_percentile(50), u.latency.max());
  // The window runs until the first round trip that ends after it.
  EXPECT_GE(u.window_s, 0.05);
  EXPECT_NEAR(u.round_trips_per_s, static_cast<double>(u.round_trips) / u.window_s, 1e-6);
  // The socket and its directory are gone.
  EXPECT_TRUE(std::filesystem::is_empty(dir.path));
}

TEST(UdsRtt, ARecordLargerThanTheServersBufferCrossesWhole) {
  // 1 MiB: more than the socket holds and than the server's first buffer;
  // the client's send() and the server's read()s overlap, and every round
  // trip still carries the whole frame.
  ScratchDir dir("uds_rtt_test");
  auto r = run_uds_rtt(UdsRttOptions{
      .record_bytes = 1 << 20, .duration_s = 0.02, .warmup_s = 0, .tmp_dir = dir.path});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r.value().request_bytes, (1u << 20) + 28);
  EXPECT_GT(r.value().round_trips, 0u);
}

TEST(UdsRtt, RefusesANonPositiveDuration) {
  auto r = run_uds_rtt(UdsRttOptions{.duration_s = 0});
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace sidewal::bench
