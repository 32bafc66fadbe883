// WalOptions::staging_bytes: the size of each staging buffer, so the most
// one flush carries and the largest batch append() takes.
#include <gtest/gtest.h>

#include <vector>

#include "wal/wal.h"
#include "wal_test_util.h"

namespace sidewal::wal {
namespace {

using testing::make_payload;
using testing::must_open;
using testing::read_all;
using testing::ScratchDir;

WalOptions options(const std::string& dir, uint64_t staging_bytes) {
  WalOptions o;
  o.dir = dir;
  o.max_record_bytes = 64 * 1024;
  o.backend = BackendKind::kPwrite;
  o.staging_bytes = staging_bytes;
  return o;
}

// `n` records of `each` payload bytes as one batch; its encoded size is
// n x (24 + each) with `each` a multiple of 8.
Status append_batch(Wal& wal, size_t n, size_t each, std::vector<std::vector<uint8_t>>* payloads) {
  payloads->clear();
  std::vector<RecordIn> batch(n);
  for (size_t i = 0; i < n; ++i) payloads->push_back(make_payload(i, each));
  for (size_t i = 0; i < n; ++i) batch[i].payload = (*payloads)[i];
  auto r = wal.append_sync(batch);
  return r.status();
}

TEST(WalStaging, TheBufferSizeBoundsTheLargestBatchAndRaisesIt) {
  ScratchDir small_dir, large_dir;
  auto small = must_open(options(small_dir.log(), 1u << 20));
  auto large = must_open(options(large_dir.log(), 8u << 20));
  ASSERT_TRUE(small && large);
  EXPECT_EQ(small->max_batch_bytes(), 1u << 20);
  EXPECT_EQ(large->max_batch_bytes(), 8u << 20);

  // 20 records of 64 KiB - 24 - 8: 20 x 65,528 B encoded, 1.25 MiB: too big
  // for the 1 MiB buffers, refused whole; taken by the 8 MiB ones.
  std::vector<std::vector<uint8_t>> payloads;
  Status refused = append_batch(*small, 20, 65536 - 32, &payloads);
  EXPECT_EQ(refused.code(), Code::kInvalidArgument) << refused.ToString();
  EXPECT_TRUE(read_all(*small).empty());
  ASSERT_TRUE(append_batch(*large, 20, 65536 - 32, &payloads).ok());
  auto back = read_all(*large);
  ASSERT_EQ(back.size(), 20u);
  for (size_t i = 0; i < 20; ++i) EXPECT_EQ(back[i].payload, payloads[i]) << i;
}

TEST(WalStaging, TwoOfTheLargestRecordsAlwaysFit) {
  ScratchDir d;
  WalOptions o = options(d.log(), 1u << 20);
  o.max_record_bytes = 1u << 20;  // two such records exceed the 1 MiB asked for
  auto wal = must_open(o);
  ASSERT_TRUE(wal);
  EXPECT_GE(wal->max_batch_bytes(), 2 * (24 + (1u << 20)));
  std::vector<std::vector<uint8_t>> payloads;
  ASSERT_TRUE(append_batch(*wal, 2, 1u << 20, &payloads).ok());
  EXPECT_EQ(read_all(*wal).size(), 2u);
}

}  // namespace
}  // namespace sidewal::wal
