// The tail window: a follower at the head is served from memory (zero disk
// reads, counted by CountingIo); older positions fall back to the O_DIRECT
// reader and return the very same records; the window's memory is bounded.
#include <gtest/gtest.h>

#include "readers_test_util.h"
#include "wal/codecs/format.h"
#include "wal/readers/tail_window.h"

namespace sidewal::wal::testing {
namespace {

// A follower at the head: appends records [from_n, to_n) three at a time
// and, after each append, reads from `follower` and checks it got exactly
// those three. Returns where the follower stopped.
uint64_t follow_at_the_head(Wal& wal, uint64_t follower, uint64_t from_n, uint64_t to_n) {
  std::vector<Record> got;
  uint64_t next = 0;
  for (uint64_t n = from_n; n < to_n; n += 3) {
    fill(wal, n, 3);
    EXPECT_TRUE(wal.read(follower, ReadLimits{}, &got, &next).ok());
    EXPECT_EQ(got.size(), 3u);
    for (const Record& r : got) EXPECT_EQ(r.payload, nth_payload(r.lsn - 1));
    follower = next;
  }
  return follower;
}

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
  const uint64_t follower = follow_at_the_head(wal, next, 20, 300);
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
  // Everything, read once: from disk (positions below the window, and the
  // window went dormant: nobody read while 200 records went in).
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
  std::vector<Record> out;
  uint64_t next = 0;
  for (uint64_t f = 0; f < 50; ++f) {
    std::vector<uint8_t> b = encoded(f * 4 + 1, f * 4 + 4, 200);  // ~900 bytes a flush
    tw.add_flush(f * 4 + 1, f * 4 + 4, b);
    ASSERT_LE(tw.stats().bytes, 10000u);
    // A follower at the head keeps the window copying flushes in.
    ASSERT_TRUE(tw.read(f * 4 + 1, f * 4 + 4, ReadLimits{}, &out, &next));
    ASSERT_EQ(out.size(), 4u);
  }
  TailWindowStats s = tw.stats();
  EXPECT_EQ(s.last_lsn, 200u);
  EXPECT_GT(s.first_lsn, 150u);
  EXPECT_EQ(s.skipped, 0u);
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

TEST(TailWindow, WithNobodyReadingItStopsCopyingUntilTheNextRead) {
  TailWindow tw(10000);
  uint64_t lsn = 1;
  auto flush = [&] {  // four records, ~900 bytes; returns the bytes it adds
    std::vector<uint8_t> b = encoded(lsn, lsn + 3, 200);
    tw.add_flush(lsn, lsn + 3, b);
    lsn += 4;
    return b.size() + 4 * sizeof(uint32_t);  // the records and their index
  };
  // A window's worth of flushes nobody reads, then no more copies.
  uint64_t added = 0;
  int flushes = 0;
  while (!tw.stats().dormant) {
    added += flush();
    ASSERT_LT(++flushes, 20) << "never went dormant";
  }
  EXPECT_GE(added, 10000u) << "dormant before a window's worth went in";
  EXPECT_LT(added - 1000, 10000u) << "copied on past a window's worth";
  const TailWindowStats held = tw.stats();
  for (int i = 0; i < 30; ++i) flush();
  TailWindowStats s = tw.stats();
  EXPECT_EQ(s.skipped, 30u);
  EXPECT_EQ(s.last_lsn, held.last_lsn) << "a dormant window copied a flush";
  EXPECT_EQ(s.bytes, held.bytes);
  // What it holds is still served (durable records, contiguous).
  std::vector<Record> out;
  uint64_t next = 0;
  ASSERT_TRUE(tw.read(held.last_lsn, held.last_lsn, ReadLimits{}, &out, &next));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].payload, make_payload(held.last_lsn, 200));
  // A read, hit or miss, wakes it: it misses the skipped records (the reader
  // goes to disk for them), and the next flush restarts the window there.
  EXPECT_FALSE(tw.read(held.last_lsn + 1, lsn - 1, ReadLimits{}, &out, &next));
  EXPECT_FALSE(tw.stats().dormant);
  const uint64_t restart = lsn;
  flush();
  s = tw.stats();
  EXPECT_EQ(s.first_lsn, restart);
  EXPECT_EQ(s.last_lsn, restart + 3);
  EXPECT_EQ(s.skipped, 30u);
  ASSERT_TRUE(tw.read(restart, restart + 3, ReadLimits{}, &out, &next));
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[3].payload, make_payload(restart + 3, 200));
}

TEST(TailWindow, AFollowerBackFromAnIdleSpellReadsEveryRecordThenFollowsFromMemory) {
  ScratchDir dir;
  auto io = make_counting_io();
  WalOptions o = small_log(dir.log(), io);
  o.tail_window_bytes = 16 * 1024;
  auto w = Wal::open(o, nullptr);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  Wal& wal = **w;
  // Far more than the window while nobody reads: it goes dormant.
  fill(wal, 0, 200);
  std::vector<Record> got;
  uint64_t next = 0;
  uint64_t follower = 1;
  // The follower comes back: everything, in order, from disk.
  std::vector<Record> caught_up = read_all(wal, follower);
  ASSERT_EQ(caught_up.size(), 200u);
  for (const Record& r : caught_up) ASSERT_EQ(r.payload, nth_payload(r.lsn - 1));
  follower = caught_up.back().lsn + 1;
  // Then it follows at the head: after the first flush it reads from memory.
  fill(wal, 200, 1);
  ASSERT_TRUE(wal.read(follower, ReadLimits{}, &got, &next).ok());
  ASSERT_EQ(got.size(), 1u);
  follower = next;
  const uint64_t reads_before = io->reads();
  follower = follow_at_the_head(wal, follower, 201, 260);
  EXPECT_EQ(follower, wal.durable_lsn() + 1);
  EXPECT_EQ(io->reads(), reads_before) << "a follower back at the head touched the disk";
  ASSERT_TRUE(wal.close().ok());
}

}  // namespace
}  // namespace sidewal::wal::testing
