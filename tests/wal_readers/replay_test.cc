// extract_tombstones(): one headers-only pass gives the same ReplayState as
// feeding every record, fully read, to ReplayState; ranges and the
// is-dead query by the leading-collection-name convention.
#include <gtest/gtest.h>

#include "readers_test_util.h"
#include "wal/control/control_records.h"
#include "wal/control/replay.h"

namespace sidewal::wal::testing {
namespace {

class ReplayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    io_ = make_counting_io();
    auto w = Wal::open(small_log(dir_.log(), io_), nullptr);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    Wal& wal = **w;
    // 300 application records in collections "c0".."c3" (by convention),
    // with control records sprinkled in.
    for (uint64_t i = 0; i < 300; ++i) {
      std::vector<uint8_t> payload;
      ASSERT_TRUE(encode_leading_collection_name("c" + std::to_string(i % 4),
                                                 make_payload(i, 100 + i * 37 % 5000), &payload)
                      .ok());
      append(wal, 1, static_cast<uint32_t>(i % 2), payload);
      std::vector<uint8_t> c;
      if (i == 100) {
        ASSERT_TRUE(encode_collection_tombstone({0, "c2", wal.durable_lsn() + 1}, &c).ok());
        append(wal, kTypeCollectionTombstone, 0, c);
      } else if (i % 50 == 25) {
        ASSERT_TRUE(
            encode_calvin_applied({i / 50, static_cast<uint32_t>(i), uint32_t(i % 3)}, &c).ok());
        append(wal, kTypeCalvinApplied, 0, c);
      } else if (i == 200 || i == 250) {
        ASSERT_TRUE(encode_temporal_purge({1, EngineTag::kRowStore, "c1", int64_t(i), i}, &c).ok());
        append(wal, kTypeTemporalPurge, 0, c);
      }
    }
    all_ = read_all(wal, 1);
    ASSERT_TRUE(wal.close().ok());
  }
  static void append(Wal& wal, uint16_t type, uint32_t tenant, const std::vector<uint8_t>& p) {
    RecordIn r{.type = type, .flags = 0, .tenant = tenant, .payload = p};
    ASSERT_TRUE(wal.append_sync(std::span<const RecordIn>(&r, 1)).ok());
  }

  ScratchDir dir_;
  std::shared_ptr<CountingIo> io_;
  std::vector<Record> all_;
};

TEST_F(ReplayTest, OneHeadersOnlyPassEqualsFeedingEveryFullRecord) {
  ReplayState want;
  for (const Record& r : all_) ASSERT_TRUE(want.add(r).ok());
  ReaderStats stats;
  Result<ReplayState> got = extract_tombstones(io_.get(), dir_.log(), ReplayRange{}, &stats);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->records(), all_.size());
  EXPECT_EQ(got->control_records(), want.control_records());
  EXPECT_EQ(got->control_records(), 1u + 6u + 2u);
  EXPECT_EQ(got->tombstones().size(), 1u);
  EXPECT_EQ(got->tombstones().purge_lsn(0, "c2"), want.tombstones().purge_lsn(0, "c2"));
  EXPECT_EQ(got->calvin_markers(), want.calvin_markers());
  EXPECT_EQ(got->temporal_purges(), want.temporal_purges());
  EXPECT_EQ(got->temporal_purges().size(), 2u);
  EXPECT_EQ(stats.records, all_.size());
  // Dead records by the convention: tenant 0, c2, below the tombstone.
  uint64_t dead = 0;
  for (const Record& r : all_) {
    Result<bool> d = got->is_dead_by_convention(r);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    dead += *d;
  }
  // i in [0, 100] with i % 4 == 2 and tenant i % 2 == 0: 2, 6, ..., 98.
  EXPECT_EQ(dead, 25u);
}

TEST_F(ReplayTest, ARangeSeesOnlyItsControlRecords) {
  const uint64_t tomb_lsn = [&] {
    for (const Record& r : all_) {
      if (r.type == kTypeCollectionTombstone) return r.lsn;
    }
    return uint64_t{0};
  }();
  ASSERT_GT(tomb_lsn, 0u);
  Result<ReplayState> before =
      extract_tombstones(io_.get(), dir_.log(), ReplayRange{1, tomb_lsn - 1});
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  EXPECT_EQ(before->tombstones().size(), 0u);
  EXPECT_EQ(before->records(), tomb_lsn - 1);
  Result<ReplayState> from =
      extract_tombstones(io_.get(), dir_.log(), ReplayRange{tomb_lsn, UINT64_MAX});
  ASSERT_TRUE(from.ok());
  EXPECT_EQ(from->tombstones().size(), 1u);
  EXPECT_EQ(from->records(), all_.size() - tomb_lsn + 1);
}

}  // namespace
}  // namespace sidewal::wal::testing
