// Replay is deterministic and idempotent: the same range read twice (from
// disk, from the tail window, after a restart) gives the same records byte
// for byte, and a consumer resuming from its last applied LSN sees exactly
// the records it had not applied.
#include <gtest/gtest.h>

#include <random>

#include "readers_test_util.h"
#include "wal/readers/sequential_reader.h"

namespace sidewal::wal::testing {
namespace {

TEST(ReplayDeterminism, TheSameRangeTwiceAndAfterARestartIsIdentical) {
  ScratchDir dir;
  auto io = make_counting_io();
  std::vector<Record> a, b, c;
  {
    auto w = Wal::open(small_log(dir.log(), io), nullptr);
    ASSERT_TRUE(w.ok());
    fill(**w, 0, 300);
    a = read_all(**w, 40);
    b = read_all(**w, 40);
    ASSERT_TRUE((*w)->close().ok());
  }
  ASSERT_EQ(a.size(), 261u);
  EXPECT_EQ(a, b);
  {
    // After a restart the tail window is empty: everything comes from disk.
    auto w = Wal::open(small_log(dir.log(), io), nullptr);
    ASSERT_TRUE(w.ok());
    c = read_all(**w, 40);
    ASSERT_TRUE((*w)->close().ok());
  }
  EXPECT_EQ(a, c);
  // And the offline reader over the directory agrees.
  auto segs = DirSegments::open(io.get(), dir.log());
  ASSERT_TRUE(segs.ok());
  SequentialReader reader(io.get(), 4096, (*segs)->locator());
  ASSERT_TRUE(reader.seek(40).ok());
  std::vector<Record> d;
  ASSERT_TRUE(reader.read(ReadLimits{}, &d).ok());
  EXPECT_EQ(a, d);
}

TEST(ReplayDeterminism, AConsumerResumesFromItsLastAppliedLsn) {
  ScratchDir dir;
  auto w = Wal::open(small_log(dir.log(), make_counting_io()), nullptr);
  ASSERT_TRUE(w.ok());
  Wal& wal = **w;
  fill(wal, 0, 300);
  const std::vector<Record> all = read_all(wal, 1);
  // The consumer reads in chunks of random limits and "crashes" at random
  // points: what it applied is durable on its side; it restarts from its last
  // applied LSN + 1, never from where the log's READ had reached.
  std::mt19937_64 rng(42);
  std::vector<Record> applied;
  uint64_t last_applied = 0;
  while (last_applied < 300) {
    std::vector<Record> part;
    uint64_t next = 0;
    ReadLimits lim{.max_records = 1 + rng() % 40, .max_bytes = rng() % 2 ? 0 : 1 + rng() % 20000};
    ASSERT_TRUE(wal.read(last_applied + 1, lim, &part, &next).ok());
    ASSERT_FALSE(part.empty());
    // Apply a random prefix, then crash (drop the rest of the chunk).
    const size_t keep = 1 + rng() % part.size();
    for (size_t i = 0; i < keep; ++i) {
      ASSERT_EQ(part[i].lsn, last_applied + 1);
      applied.push_back(part[i]);
      last_applied = part[i].lsn;
    }
  }
  EXPECT_EQ(applied, all);
  ASSERT_TRUE(wal.close().ok());
}

}  // namespace
}  // namespace sidewal::wal::testing
