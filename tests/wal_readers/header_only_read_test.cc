// Wal::read_headers (the daemon's HEADER_ONLY READ path): the same records
// and next LSN as Wal::read, without the payloads, and for large records
// without reading the payload bytes from the disk (counted with CountingIo).
#include <gtest/gtest.h>

#include "readers_test_util.h"
#include "wal/codecs/format.h"
#include "wal/readers/sequential_reader.h"

namespace sidewal::wal::testing {
namespace {

// A log read from the disk only (no tail window), on a counting backend.
struct CountedLog {
  explicit CountedLog(uint32_t max_record_bytes) {
    io = make_counting_io();
    WalOptions o;
    o.dir = dir.log();
    o.segment_bytes = 64ull << 20;
    o.max_record_bytes = max_record_bytes;
    o.tail_window_bytes = 0;  // every read goes to the disk
    o.io = io;
    wal = must_open(o);
  }
  // Appends `count` records of `len` payload bytes, one per batch.
  void fill(uint64_t count, size_t len) {
    for (uint64_t i = 0; i < count; ++i) {
      const std::vector<uint8_t> p = make_payload(i, len);
      RecordIn r{.type = static_cast<uint16_t>(1 + i % 5),
                 .flags = 0,
                 .tenant = static_cast<uint32_t>(i),
                 .payload = p};
      ASSERT_TRUE(wal->append_sync(std::span(&r, 1)).ok());
    }
  }
  ScratchDir dir;
  std::shared_ptr<CountingIo> io;
  std::unique_ptr<Wal> wal;
};

// What read() returns, as headers.
std::vector<RecordHeaderInfo> headers_of(const std::vector<Record>& records) {
  std::vector<RecordHeaderInfo> v;
  for (const Record& r : records) {
    v.push_back(RecordHeaderInfo{.lsn = r.lsn,
                                 .type = r.type,
                                 .flags = r.flags,
                                 .tenant = r.tenant,
                                 .payload_len = static_cast<uint32_t>(r.payload.size())});
  }
  return v;
}

TEST(HeaderOnlyRead, LargeRecordsCostHeaderIoOnly) {
  constexpr uint64_t kCount = 24;
  constexpr size_t kLen = 1u << 20;  // 1 MiB records: 24 MiB of log
  CountedLog log(kLen);
  ASSERT_NE(log.wal, nullptr);
  log.fill(kCount, kLen);
  const uint64_t log_bytes = kCount * format::record_bytes(kLen);

  uint64_t before = log.io->read_bytes();
  std::vector<RecordHeaderInfo> heads;
  uint64_t next_h = 0;
  ASSERT_TRUE(log.wal->read_headers(1, ReadLimits{}, &heads, &next_h).ok());
  const uint64_t header_io = log.io->read_bytes() - before;

  before = log.io->read_bytes();
  std::vector<Record> full;
  uint64_t next_f = 0;
  ASSERT_TRUE(log.wal->read(1, ReadLimits{}, &full, &next_f).ok());
  const uint64_t full_io = log.io->read_bytes() - before;

  ASSERT_EQ(heads.size(), kCount);
  EXPECT_EQ(heads, headers_of(full));
  EXPECT_EQ(next_h, next_f);
  EXPECT_EQ(next_h, kCount + 1);
  for (const RecordHeaderInfo& h : heads) EXPECT_EQ(h.payload_len, kLen);
  // The full read reads every byte; the header scan a page or two per record.
  EXPECT_GE(full_io, log_bytes);
  EXPECT_LE(header_io, log_bytes / 50)
      << "header-only read " << header_io << " of " << log_bytes << " bytes";
  EXPECT_LE(header_io, kCount * 3 * 4096 + (256u << 10));
}

TEST(HeaderOnlyRead, LimitsSelectTheSameRecordsAsAFullRead) {
  // Mixed sizes around the 256 KiB read window, from every LSN, with
  // max_records and max_bytes (counting the stored lengths).
  CountedLog log(1u << 20);
  ASSERT_NE(log.wal, nullptr);
  const size_t sizes[] = {0, 10, 300u << 10, 5000, 1u << 20, 200u << 10, 7, 600u << 10, 64};
  for (size_t i = 0; i < std::size(sizes); ++i) {
    const std::vector<uint8_t> p = make_payload(i, sizes[i]);
    RecordIn r{.type = 1, .flags = 0, .tenant = 9, .payload = p};
    ASSERT_TRUE(log.wal->append_sync(std::span(&r, 1)).ok());
  }
  const uint64_t n = std::size(sizes);
  for (uint64_t from = 1; from <= n; ++from) {
    for (ReadLimits limits : {ReadLimits{}, ReadLimits{.max_records = 2, .max_bytes = 0},
                              ReadLimits{.max_records = 0, .max_bytes = 300u << 10},
                              ReadLimits{.max_records = 3, .max_bytes = 1}}) {
      std::vector<RecordHeaderInfo> heads;
      std::vector<Record> full;
      uint64_t next_h = 0, next_f = 0;
      ASSERT_TRUE(log.wal->read_headers(from, limits, &heads, &next_h).ok());
      ASSERT_TRUE(log.wal->read(from, limits, &full, &next_f).ok());
      EXPECT_EQ(heads, headers_of(full)) << "from " << from;
      EXPECT_EQ(next_h, next_f) << "from " << from;
      ASSERT_FALSE(heads.empty());
      EXPECT_EQ(heads.front().lsn, from);
    }
  }
  // Above the durable end: nothing, like read().
  std::vector<RecordHeaderInfo> heads;
  uint64_t next = 0;
  ASSERT_TRUE(log.wal->read_headers(n + 1, ReadLimits{}, &heads, &next).ok());
  EXPECT_TRUE(heads.empty());
  EXPECT_EQ(next, n + 1);
}

TEST(HeaderOnlyRead, TheTailWindowServesHeadersToo) {
  ScratchDir dir;
  WalOptions o = small_log(dir.log(), make_counting_io());
  auto wal = must_open(o);
  ASSERT_NE(wal, nullptr);
  fill(*wal, 0, 50);
  std::vector<RecordHeaderInfo> heads;
  std::vector<Record> full;
  uint64_t next_h = 0, next_f = 0;
  ASSERT_TRUE(wal->read_headers(3, ReadLimits{.max_records = 20}, &heads, &next_h).ok());
  ASSERT_TRUE(wal->read(3, ReadLimits{.max_records = 20}, &full, &next_f).ok());
  EXPECT_EQ(heads, headers_of(full));
  EXPECT_EQ(next_h, next_f);
}

}  // namespace
}  // namespace sidewal::wal::testing
