// SequentialReader: from any LSN, across segments, through the open log's
// segment table and through DirSegments; CRC checked on every record;
// headers-only mode; corruption names segment and offset.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include "readers_test_util.h"
#include "wal/codecs/format.h"
#include "wal/readers/mmap_reader.h"
#include "wal/readers/sequential_reader.h"

namespace sidewal::wal::testing {
namespace {

constexpr uint64_t kRecords = 400;

class SequentialReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    io_ = make_counting_io();
    auto w = Wal::open(small_log(dir_.log(), io_), nullptr);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    wal_ = std::move(*w);
    fill(*wal_, 0, kRecords);
    ASSERT_EQ(wal_->durable_lsn(), kRecords);
    ASSERT_GE(wal_->status().segments, 5u) << "the test wants several segments";
  }
  void close_log() {
    ASSERT_TRUE(wal_->close().ok());
    wal_.reset();
  }
  std::shared_ptr<DirSegments> dir_segments() {
    auto d = DirSegments::open(io_.get(), dir_.log());
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    return *d;
  }

  ScratchDir dir_;
  std::shared_ptr<CountingIo> io_;
  std::unique_ptr<Wal> wal_;
};

void expect_record_n(const Record& r, uint64_t lsn) {
  const uint64_t n = lsn - 1;
  EXPECT_EQ(r.lsn, lsn);
  EXPECT_EQ(r.type, 1 + n % 3);
  EXPECT_EQ(r.tenant, 7u);
  EXPECT_EQ(r.payload, nth_payload(n)) << "lsn " << lsn;
}

TEST_F(SequentialReaderTest, WalReadFromEveryLsnReturnsTheSuffixAcrossSegments) {
  for (uint64_t from = 1; from <= kRecords; from += 37) {
    std::vector<Record> got = read_all(*wal_, from);
    ASSERT_EQ(got.size(), kRecords - from + 1) << "from " << from;
    for (const Record& r : got) expect_record_n(r, r.lsn);
    EXPECT_EQ(got.front().lsn, from);
  }
}

TEST_F(SequentialReaderTest, WalReadLimitsStopBeforeTheRecordThatWouldCrossMaxBytes) {
  std::vector<Record> out;
  uint64_t next = 0;
  ASSERT_TRUE(wal_->read(10, ReadLimits{.max_records = 7, .max_bytes = 0}, &out, &next).ok());
  ASSERT_EQ(out.size(), 7u);
  EXPECT_EQ(next, 17u);
  // A byte limit below the first record still returns that one record.
  ASSERT_TRUE(wal_->read(10, ReadLimits{.max_records = 0, .max_bytes = 1}, &out, &next).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(next, 11u);
  uint64_t limit = nth_payload(9).size() + nth_payload(10).size();
  ASSERT_TRUE(wal_->read(10, ReadLimits{.max_records = 0, .max_bytes = limit}, &out, &next).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(next, 12u);
}

TEST_F(SequentialReaderTest, OfflineReaderOverTheDirectoryReadsEveryRecordAndEnds) {
  close_log();
  auto segs = dir_segments();
  SequentialReader reader(io_.get(), 4096, segs->locator());
  ASSERT_TRUE(reader.seek(123).ok());
  uint64_t lsn = 123;
  for (;;) {
    RecordRef r;
    bool got = false;
    ASSERT_TRUE(reader.next(&r, &got).ok());
    if (!got) break;
    ASSERT_EQ(r.header.lsn, lsn);
    EXPECT_TRUE(r.crc_checked);
    EXPECT_EQ(std::vector<uint8_t>(r.payload, r.payload + r.header.payload_len),
              nth_payload(lsn - 1));
    ++lsn;
  }
  EXPECT_EQ(lsn, kRecords + 1);
  EXPECT_EQ(reader.stats().crc_checked, kRecords - 122);
}

TEST_F(SequentialReaderTest, HeadersOnlyChecksCrcInTheBufferAndSkipsRecordsBeyondIt) {
  close_log();
  auto segs = dir_segments();
  // A window of one page: most records with payloads over ~4 KiB cannot be
  // in the buffer, small ones mostly are.
  SequentialReaderOptions o;
  o.headers_only = true;
  o.window_bytes = 4096;
  SequentialReader reader(io_.get(), 4096, segs->locator(), o);
  ASSERT_TRUE(reader.seek(1).ok());
  uint64_t records = 0, loaded = 0;
  for (;;) {
    RecordRef r;
    bool got = false;
    ASSERT_TRUE(reader.next(&r, &got).ok());
    if (!got) break;
    ++records;
    EXPECT_EQ(r.crc_checked, r.payload != nullptr);
    if (!r.crc_checked && r.header.lsn % 2 == 0) {
      ASSERT_TRUE(reader.load_payload(&r).ok());
      ++loaded;
      EXPECT_TRUE(r.crc_checked);
      EXPECT_EQ(std::vector<uint8_t>(r.payload, r.payload + r.header.payload_len),
                nth_payload(r.header.lsn - 1));
    }
  }
  EXPECT_EQ(records, kRecords);
  const ReaderStats& s = reader.stats();
  EXPECT_GT(s.payloads_skipped, 0u);
  EXPECT_GT(s.crc_checked, loaded);
  EXPECT_EQ(s.crc_checked + s.payloads_skipped - loaded, kRecords);
  EXPECT_EQ(s.payload_loads, loaded);
}

// Flips one byte of the payload of `lsn` in its segment file (found by
// walking headers), returning the segment path and the record's offset.
std::pair<std::string, uint64_t> corrupt_payload_of(IoBackend* io, DirSegments& segs,
                                                    uint64_t lsn) {
  SequentialReaderOptions o;
  o.headers_only = true;
  SequentialReader reader(io, 4096, segs.locator(), o);
  EXPECT_TRUE(reader.seek(lsn).ok());
  RecordRef r;
  bool got = false;
  EXPECT_TRUE(reader.next(&r, &got).ok());
  EXPECT_TRUE(got);
  EXPECT_GT(r.header.payload_len, 0u);
  const std::string path = *r.segment;
  const uint64_t at = r.offset + format::kHeaderBytes + r.header.payload_len / 2;
  int fd = ::open(path.c_str(), O_RDWR);
  EXPECT_GE(fd, 0);
  uint8_t b = 0;
  EXPECT_EQ(::pread(fd, &b, 1, static_cast<off_t>(at)), 1);
  b ^= 0x40;
  EXPECT_EQ(::pwrite(fd, &b, 1, static_cast<off_t>(at)), 1);
  ::close(fd);
  return {path, r.offset};
}

TEST_F(SequentialReaderTest, ACorruptPayloadIsCorruptionNamingSegmentAndOffset) {
  close_log();
  auto segs = dir_segments();
  auto [path, offset] = corrupt_payload_of(io_.get(), *segs, 200);
  SequentialReader reader(io_.get(), 4096, segs->locator());
  ASSERT_TRUE(reader.seek(150).ok());
  Status st;
  uint64_t seen = 0;
  for (;;) {
    RecordRef r;
    bool got = false;
    st = reader.next(&r, &got);
    if (!st.ok() || !got) break;
    ++seen;
  }
  EXPECT_EQ(st.code(), Code::kCorruption) << st.ToString();
  EXPECT_EQ(seen, 50u);
  EXPECT_NE(st.message().find(path), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("offset " + std::to_string(offset)), std::string::npos)
      << st.message();
  EXPECT_NE(st.message().find("crc mismatch"), std::string::npos) << st.message();
}

TEST_F(SequentialReaderTest, ReadBelowTheFirstLsnIsTruncated) {
  ASSERT_TRUE(wal_->truncate_before(300).ok());
  const uint64_t first = wal_->status().first_lsn;
  ASSERT_GT(first, 1u);
  std::vector<Record> out;
  uint64_t next = 0;
  EXPECT_EQ(wal_->read(first - 1, ReadLimits{}, &out, &next).code(), Code::kTruncated);
  ASSERT_TRUE(wal_->read(first, ReadLimits{}, &out, &next).ok());
  ASSERT_FALSE(out.empty());
  expect_record_n(out.front(), first);
}

TEST_F(SequentialReaderTest, MmapReplayReturnsTheSameRecordsAndGivesItsPagesBack) {
  close_log();
  std::vector<Record> want = [&] {
    auto segs = dir_segments();
    SequentialReader reader(io_.get(), 4096, segs->locator());
    EXPECT_TRUE(reader.seek(77).ok());
    std::vector<Record> out;
    EXPECT_TRUE(reader.read(ReadLimits{}, &out).ok());
    return out;
  }();
  std::vector<Record> got;
  MmapReaderStats stats;
  Status st = mmap_replay(
      dir_.log(), 77, UINT64_MAX,
      [&](const MmapRecord& m) {
        Record& r = got.emplace_back();
        r.lsn = m.header.lsn;
        r.type = m.header.type;
        r.flags = m.header.flags;
        r.tenant = m.header.tenant;
        r.payload.assign(m.payload, m.payload + m.header.payload_len);
        return true;
      },
      &stats, /*release_bytes=*/16 * 1024);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(got, want);
  // Every segment it mapped was given back (whole files, page-rounded).
  EXPECT_GE(stats.bytes_released, (stats.segments - 1) * 64 * 1024);
  EXPECT_EQ(mmap_replay(
                dir_.log(), 1, 0, [](const MmapRecord&) { return true; }, &stats)
                .code(),
            Code::kOk);
}

}  // namespace
}  // namespace sidewal::wal::testing
