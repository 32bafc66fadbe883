// The tail window: a follower at the head is served from memory (zero disk
// reads, counted by CountingIo); older positions fall back to the O_DIRECT
// reader and return the very same records; the window's memory is bounded.
#include <gtest/gtest.h>

#include "readers_test_util.h"
#include "wal/codecs/format.h"
#include "wal/readers/tail_window.h"

namespace sidewal::wal::testing {
namespace {

TEST(TailWindow, AFollowerAtTheHeadReadsWithZeroDiskReads) {
  ScratchDir dir;
  auto io = make_counting_io();
  auto w = Wal::open(small_log(dir.log(), io), nullptr);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  Wal& wal = **w;
  fill(wal, 0, 20);
  std::vector<Record> got;
  uint64_t next = 0;
  ASSERT_TRUE(wal.read(1, ReadLimits{}, &got, &next).ok());  // from the window too
  const uint64_t reads_before = io->reads();
  const uint64_t opens_before = io->opens_for_read();
  // The follower: after every append, read from where it stopped. Several
  // segments roll over meanwhile (64 KiB each).
  uint64_t follower = next;
  for (uint64_t n = 20; n < 300; n += 3) {
    fill(wal, n, 3);
    ASSERT_TRUE(wal.read(follower, ReadLimits{}, &got, &next).ok());
    ASSERT_EQ(got.size(), 3u);
    for (const Record& r : got) ASSERT_EQ(r.payload, nth_payload(r.lsn - 1));
    follower = next;
  }
  EXPECT_EQ(follower, wal.durable_lsn() + 1);
  EXPECT_GT(follower, 290u);
  EXPECT_GE(wal.status().segments, 4u);
  EXPECT_EQ(io->reads(), reads_before) << "a follower at the head touched the disk";
  EXPECT_EQ(io->opens_for_read(), opens_before);
  ASSERT_TRUE(wal.close().ok());
}

TEST(TailWindow, OlderPositionsFallBackToDiskWithTheSameRecords) {
  ScratchDir dir;
  auto io = make_counting_io();
  WalOptions o = small_log(dir.log(), io);
  o.tail_window_bytes = 32 * 1024;  // holds only the last few flushes
  auto w = Wal::open(o, nullptr);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  Wal& wal = **w;
  fill(wal, 0, 200);
  // Everything, read once: the old part from disk, the newest from memory.
  const uint64_t r0 = io->reads();
  std::vector<Record> first = read_all(wal, 1);
  EXPECT_GT(io->reads(), r0) << "positions below the window must come from disk";
  ASSERT_EQ(first.size(), 200u);
  // A fresh log with the window disabled, same appends: byte-for-byte the
  // same records (header fields and the log's flags included).
  ScratchDir dir2;
  WalOptions o2 = small_log(dir2.log(), make_counting_io());
  o2.tail_window_bytes = 0;
  auto w2 = Wal::open(o2, nullptr);
  ASSERT_TRUE(w2.ok());
  fill(**w2, 0, 200);
  EXPECT_EQ(read_all(**w2, 1), first);
  ASSERT_TRUE(wal.close().ok());
  ASSERT_TRUE((*w2)->close().ok());
}

// Encodes records lsn first..last (payload of `len` bytes each) as a flush.
std::vector<uint8_t> encoded(uint64_t first, uint64_t last, size_t len) {
  std::vector<uint8_t> out;
  for (uint64_t lsn = first; lsn <= last; ++lsn) {
    std::vector<uint8_t> p = make_payload(lsn, len);
    size_t at = out.size();
    out.resize(at + format::record_bytes(len));
    format::encode_record(1, lsn, 5, format::kFlagBatchEnd, 9, p, out.data() + at);
  }
  return out;
}

TEST(TailWindow, MemoryStaysUnderTheCapacityAndTheOldestFlushesGo) {
  TailWindow tw(10000);
  for (uint64_t f = 0; f < 50; ++f) {
    std::vector<uint8_t> b = encoded(f * 4 + 1, f * 4 + 4, 200);  // ~900 bytes a flush
    tw.add_flush(f * 4 + 1, f * 4 + 4, b);
    ASSERT_LE(tw.stats().bytes, 10000u);
  }
  TailWindowStats s = tw.stats();
  EXPECT_EQ(s.last_lsn, 200u);
  EXPECT_GT(s.first_lsn, 150u);
  std::vector<Record> out;
  uint64_t next = 0;
  EXPECT_FALSE(tw.read(1, 200, ReadLimits{}, &out, &next));
  ASSERT_TRUE(tw.read(s.first_lsn + 1, 199, ReadLimits{}, &out, &next));
  EXPECT_EQ(out.size(), 199 - s.first_lsn);
  EXPECT_EQ(next, 200u);
  EXPECT_EQ(out.front().payload, make_payload(s.first_lsn + 1, 200));
  // Limits as Wal::read: at least one record, then stop before the byte limit.
  ASSERT_TRUE(
      tw.read(s.first_lsn, 200, ReadLimits{.max_records = 0, .max_bytes = 450}, &out, &next));
  EXPECT_EQ(out.size(), 2u);
  EXPECT_EQ(next, s.first_lsn + 2);
  // A flush larger than the window empties it (it must stay contiguous).
  std::vector<uint8_t> big = encoded(201, 260, 200);
  tw.add_flush(201, 260, big);
  EXPECT_EQ(tw.stats().bytes, 0u);
  EXPECT_FALSE(tw.read(201, 260, ReadLimits{}, &out, &next));
}

}  // namespace
}  // namespace sidewal::wal::testing
