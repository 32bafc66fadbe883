// The engine on real O_DIRECT files in the build tree: append, group commit,
// reopen and recover, rollover, truncation, corruption vs. torn tail.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/endian.h"
#include "wal/codecs/format.h"
#include "wal/dir_lock.h"
#include "wal/wal.h"
#include "wal_test_util.h"

namespace sidewal::wal {
namespace {

using testing::append_one;
using testing::must_open;
using testing::make_payload;
using testing::read_all;
using testing::ScratchDir;

WalOptions small_options(const std::string& dir) {
  WalOptions o;
  o.dir = dir;
  o.segment_bytes = 64 * 1024;
  o.max_record_bytes = 4096;
  o.backend = BackendKind::kPwrite;
  return o;
}

// Overwrites bytes of a closed segment file (buffered I/O; the engine is not running).
void poke(const std::string& path, uint64_t offset, const std::vector<uint8_t>& bytes) {
  int fd = ::open(path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset)),
            static_cast<ssize_t>(bytes.size()));
  ::fsync(fd);
  ::close(fd);
}

std::vector<uint8_t> peek(const std::string& path, uint64_t offset, size_t n) {
  std::vector<uint8_t> b(n);
  int fd = ::open(path.c_str(), O_RDONLY);
  EXPECT_GE(fd, 0) << path;
  EXPECT_EQ(::pread(fd, b.data(), n, static_cast<off_t>(offset)), static_cast<ssize_t>(n));
  ::close(fd);
  return b;
}

std::string seg_path(const std::string& dir, uint64_t first_lsn) {
  return dir + "/" + format::segment_file_name(first_lsn);
}

TEST(WalEngine, FreshLogAppendsReadsAndReopens) {
  ScratchDir d;
  WalOptions o = small_options(d.log());
  o.backend = BackendKind::kAuto;
  RecoveryReport rep;
  auto wal = must_open(o, &rep);
  ASSERT_TRUE(wal);
  EXPECT_EQ(rep.durable_lsn, 0u);
  EXPECT_FALSE(rep.backend.empty());
  EXPECT_EQ(wal->status().state, LogState::kReady);
  for (uint64_t i = 1; i <= 50; ++i) {
    auto lsn = append_one(*wal, make_payload(i, 10 + i * 3), static_cast<uint16_t>(i), 100 + i);
    ASSERT_TRUE(lsn.ok()) << lsn.status().ToString();
    EXPECT_EQ(*lsn, i);
  }
  EXPECT_EQ(wal->durable_lsn(), 50u);
  auto check = [&](Wal& w) {
    auto all = read_all(w);
    ASSERT_EQ(all.size(), 50u);
    for (uint64_t i = 1; i <= 50; ++i) {
      EXPECT_EQ(all[i - 1].lsn, i);
      EXPECT_EQ(all[i - 1].type, i);
      EXPECT_EQ(all[i - 1].tenant, 100 + i);
      EXPECT_EQ(all[i - 1].payload, make_payload(i, 10 + i * 3));
    }
  };
  check(*wal);
  ASSERT_TRUE(wal->close().ok());
  wal.reset();
  auto again = must_open(o, &rep);
  ASSERT_TRUE(again);
  EXPECT_EQ(rep.durable_lsn, 50u);
  EXPECT_EQ(rep.records, 50u);
  EXPECT_EQ(rep.discarded_bytes, 0u);
  EXPECT_TRUE(rep.discarded_why.empty()) << rep.discarded_why;
  check(*again);
  // Appends continue at the next LSN, in the same segment.
  auto lsn = append_one(*again, make_payload(51, 5));
  ASSERT_TRUE(lsn.ok());
  EXPECT_EQ(*lsn, 51u);
  EXPECT_EQ(again->status().segments, 1u);
}

TEST(WalEngine, BatchCallbackGetsFirstLsnAndRecordsAreConsecutive) {
  ScratchDir d;
  auto wal = must_open(small_options(d.log()));
  ASSERT_TRUE(wal);
  std::vector<std::vector<uint8_t>> payloads;
  for (int i = 0; i < 5; ++i) payloads.push_back(make_payload(i, 20));
  std::vector<RecordIn> batch(5);
  for (int i = 0; i < 5; ++i) batch[i].payload = payloads[i];
  auto a = wal->append_sync(batch);
  auto b = wal->append_sync(batch);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, 1u);
  EXPECT_EQ(*b, 6u);
  auto all = read_all(*wal);
  ASSERT_EQ(all.size(), 10u);
  EXPECT_EQ(all[4].flags & format::kFlagBatchEnd, format::kFlagBatchEnd);
  EXPECT_EQ(all[3].flags & format::kFlagBatchEnd, 0);
}

TEST(WalEngine, EachConcurrentCallerGetsItsOwnLsn) {
  ScratchDir d;
  WalOptions o = small_options(d.log());
  o.segment_bytes = 1 << 20;
  auto wal = must_open(o);
  ASSERT_TRUE(wal);
  constexpr int kThreads = 8, kPer = 100;
  std::mutex mu;
  std::map<uint64_t, uint64_t> lsn_to_tag;  // guarded by mu
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < kPer; ++i) {
        uint64_t tag = static_cast<uint64_t>(t) * 1000 + i;
        auto lsn = append_one(*wal, make_payload(tag, 100));
        ASSERT_TRUE(lsn.ok()) << lsn.status().ToString();
        std::lock_guard<std::mutex> g(mu);
        EXPECT_TRUE(lsn_to_tag.emplace(*lsn, tag).second) << "lsn " << *lsn << " given twice";
      }
    });
  }
  for (auto& t : ts) t.join();
  ASSERT_EQ(lsn_to_tag.size(), static_cast<size_t>(kThreads * kPer));
  EXPECT_EQ(lsn_to_tag.begin()->first, 1u);
  EXPECT_EQ(lsn_to_tag.rbegin()->first, static_cast<uint64_t>(kThreads * kPer));
  auto all = read_all(*wal);
  ASSERT_EQ(all.size(), lsn_to_tag.size());
  for (const Record& r : all) EXPECT_EQ(r.payload, make_payload(lsn_to_tag[r.lsn], 100));
}

TEST(WalEngine, GroupCommitPutsManyRecordsInOneFlush) {
  struct Counter : WalObserver {
    std::atomic<uint64_t> flushes{0}, records{0}, batches{0};
    void on_flush(uint32_t r, uint32_t b, uint64_t bytes, double) override {
      EXPECT_EQ(bytes % 4096, 0u);
      flushes++;
      records += r;
      batches += b;
    }
  } counter;
  ScratchDir d;
  WalOptions o = small_options(d.log());
  o.segment_bytes = 4 << 20;
  o.observer = &counter;
  auto wal = must_open(o);
  ASSERT_TRUE(wal);
  // 2000 asynchronous appends queued at once: the flusher must group them.
  std::atomic<int> done{0};
  std::vector<uint8_t> payload = make_payload(1, 100);
  uint64_t last_lsn = 0;
  std::mutex mu;
  for (int i = 0; i < 2000; ++i) {
    RecordIn r;
    r.payload = payload;
    wal->append(std::span<const RecordIn>(&r, 1), [&](const Status& st, uint64_t lsn) {
      EXPECT_TRUE(st.ok()) << st.ToString();
      std::lock_guard<std::mutex> g(mu);
      EXPECT_GT(lsn, last_lsn) << "callbacks must run in LSN order";
      last_lsn = lsn;
      done++;
    });
  }
  ASSERT_TRUE(testing::wait_until([&] { return done.load() == 2000; }));
  // The observer hears of a flush after its callbacks ran.
  ASSERT_TRUE(testing::wait_until([&] { return counter.records.load() == 2000; }));
  EXPECT_EQ(counter.batches.load(), 2000u);
  EXPECT_LT(counter.flushes.load(), 1000u) << "no grouping happened";
}

TEST(WalEngine, DurableListenerSeesEveryFlush) {
  ScratchDir d;
  auto wal = must_open(small_options(d.log()));
  ASSERT_TRUE(wal);
  std::atomic<uint64_t> seen{0};
  uint64_t id = wal->add_durable_listener([&](uint64_t lsn) { seen = lsn; });
  ASSERT_TRUE(append_one(*wal, make_payload(1, 10)).ok());
  ASSERT_TRUE(append_one(*wal, make_payload(2, 10)).ok());
  // Listeners run after the append callbacks of the same flush.
  EXPECT_TRUE(testing::wait_until([&] { return seen.load() == 2; })) << seen.load();
  wal->remove_durable_listener(id);
  ASSERT_TRUE(append_one(*wal, make_payload(3, 10)).ok());
  ASSERT_TRUE(wal->close().ok());  // the flusher is done: no listener call is in flight
  EXPECT_EQ(seen.load(), 2u);
}

TEST(WalEngine, RolloverCreatesSegmentsNamedByFirstLsnAndReadsSpanThem) {
  ScratchDir d;
  WalOptions o = small_options(d.log());  // 64 KiB segments
  auto wal = must_open(o);
  ASSERT_TRUE(wal);
  const int n = 300;  // 300 x ~1 KiB: about 5 segments
  for (int i = 1; i <= n; ++i) ASSERT_TRUE(append_one(*wal, make_payload(i, 1000)).ok());
  WalStatus st = wal->status();
  EXPECT_GE(st.segments, 4u);
  ASSERT_EQ(st.segment_paths.size(), st.segments);
  EXPECT_TRUE(std::is_sorted(st.segment_paths.begin(), st.segment_paths.end()));
  EXPECT_EQ(st.segment_paths[0], seg_path(o.dir, 1));
  auto check = [&](Wal& w) {
    auto all = read_all(w);
    ASSERT_EQ(all.size(), static_cast<size_t>(n));
    for (int i = 1; i <= n; ++i) EXPECT_EQ(all[i - 1].payload, make_payload(i, 1000));
    // A read starting in the middle of a later segment (via the sparse index).
    std::vector<Record> part;
    uint64_t next = 0;
    ASSERT_TRUE(w.read(250, ReadLimits{3, 0}, &part, &next).ok());
    ASSERT_EQ(part.size(), 3u);
    EXPECT_EQ(part[0].lsn, 250u);
    EXPECT_EQ(next, 253u);
  };
  check(*wal);
  ASSERT_TRUE(wal->close().ok());
  wal.reset();
  // Every non-last segment ends in zero padding; recovery reads through it.
  RecoveryReport rep;
  auto again = must_open(o, &rep);
  ASSERT_TRUE(again);
  EXPECT_EQ(rep.durable_lsn, static_cast<uint64_t>(n));
  EXPECT_EQ(rep.segments, st.segments);
  EXPECT_EQ(rep.discarded_bytes, 0u);
  check(*again);
  // No .spare leftovers are visible as segments; names are all 20 digits
  // (besides the one-writer LOCK file, which is not part of the log).
  for (const std::string& name : testing::wal_files(o.dir)) {
    if (name == DirLock::kFileName) continue;
    uint64_t v = 0;
    EXPECT_TRUE(format::parse_segment_file_name(name, &v) ||
                format::parse_spare_file_name(name, &v))
        << name;
  }
}

TEST(WalEngine, ReadLimitsAndBeyondDurable) {
  ScratchDir d;
  auto wal = must_open(small_options(d.log()));
  ASSERT_TRUE(wal);
  for (int i = 1; i <= 10; ++i) ASSERT_TRUE(append_one(*wal, make_payload(i, 100)).ok());
  std::vector<Record> out;
  uint64_t next = 0;
  ASSERT_TRUE(wal->read(3, ReadLimits{0, 250}, &out, &next).ok());
  EXPECT_EQ(out.size(), 2u);  // 100 + 100 <= 250 < 300
  EXPECT_EQ(next, 5u);
  ASSERT_TRUE(wal->read(3, ReadLimits{0, 10}, &out, &next).ok());
  EXPECT_EQ(out.size(), 1u) << "at least one record";
  ASSERT_TRUE(wal->read(11, ReadLimits{}, &out, &next).ok());
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(next, 11u);
  EXPECT_EQ(wal->read(0, ReadLimits{}, &out, &next).code(), Code::kInvalidArgument);
}

TEST(WalEngine, TruncateBeforeDeletesWholeSegmentsOnly) {
  ScratchDir d;
  WalOptions o = small_options(d.log());
  auto wal = must_open(o);
  ASSERT_TRUE(wal);
  for (int i = 1; i <= 300; ++i) ASSERT_TRUE(append_one(*wal, make_payload(i, 1000)).ok());
  WalStatus before = wal->status();
  ASSERT_GE(before.segments, 4u);
  // Segment 2's first LSN: truncating before it deletes exactly segment 1.
  uint64_t seg2_first = 0;
  ASSERT_TRUE(
      format::parse_segment_file_name(std::filesystem::path(before.segment_paths[1]).filename(),
                                      &seg2_first));
  auto first = wal->truncate_before(seg2_first + 1);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(*first, seg2_first);
  EXPECT_FALSE(std::filesystem::exists(before.segment_paths[0]));
  EXPECT_EQ(wal->status().first_lsn, seg2_first);
  std::vector<Record> out;
  uint64_t next = 0;
  EXPECT_EQ(wal->read(seg2_first - 1, ReadLimits{}, &out, &next).code(), Code::kTruncated);
  ASSERT_TRUE(wal->read(seg2_first, ReadLimits{1, 0}, &out, &next).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].payload, make_payload(seg2_first, 1000));
  // Truncating everything keeps the last segment.
  first = wal->truncate_before(UINT64_MAX);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(wal->status().segments, 1u);
  ASSERT_TRUE(wal->close().ok());
  wal.reset();
  RecoveryReport rep;
  auto again = must_open(o, &rep);
  ASSERT_TRUE(again);
  EXPECT_EQ(rep.first_lsn, *first);
  EXPECT_EQ(rep.durable_lsn, 300u);
  auto lsn = append_one(*again, make_payload(301, 10));
  ASSERT_TRUE(lsn.ok());
  EXPECT_EQ(*lsn, 301u);
}

TEST(WalEngine, TornTailIsCutZeroedAndAppendsContinue) {
  ScratchDir d;
  WalOptions o = small_options(d.log());
  {
    auto wal = must_open(o);
    ASSERT_TRUE(wal);
    for (int i = 1; i <= 5; ++i) ASSERT_TRUE(append_one(*wal, make_payload(i, 100)).ok());
    ASSERT_TRUE(wal->close().ok());
  }
  // Records 1..5 end at 16 + 5 * 128 = 656. A torn, unacknowledged record 6
  // follows: a header whose payload never landed.
  const std::string seg = seg_path(o.dir, 1);
  std::vector<uint8_t> hdr(24, 0);
  put_u64(hdr.data(), 6);
  put_u32(hdr.data() + 16, 100);
  put_u32(hdr.data() + 20, 0xDEADBEEF);
  poke(seg, 656, hdr);
  RecoveryReport rep;
  {
    auto wal = must_open(o, &rep);
    ASSERT_TRUE(wal);
    EXPECT_FALSE(rep.corruption);
    EXPECT_EQ(rep.durable_lsn, 5u);
    EXPECT_GT(rep.discarded_bytes, 0u);
    EXPECT_NE(rep.discarded_why.find("torn"), std::string::npos) << rep.discarded_why;
    // The cut bytes are zero on disk now.
    auto after = peek(seg, 656, 24);
    EXPECT_EQ(after, std::vector<uint8_t>(24, 0));
    auto lsn = append_one(*wal, make_payload(6, 50));
    ASSERT_TRUE(lsn.ok());
    EXPECT_EQ(*lsn, 6u);
    ASSERT_TRUE(wal->close().ok());
  }
  auto wal = must_open(o, &rep);
  ASSERT_TRUE(wal);
  EXPECT_EQ(rep.durable_lsn, 6u);
  EXPECT_EQ(rep.discarded_bytes, 0u);
  auto all = read_all(*wal);
  ASSERT_EQ(all.size(), 6u);
  EXPECT_EQ(all[5].payload, make_payload(6, 50));
}

// A torn flush can leave valid records behind the tear (sectors persisted out
// of order). Recovery must zero them: otherwise new appends that happen to
// reach the same offsets would make a never-acknowledged record look like the
// continuation of the log.
TEST(WalEngine, TornFlushLeftoversAreZeroedSoTheyCannotResurrect) {
  ScratchDir d;
  WalOptions o = small_options(d.log());
  {
    auto wal = must_open(o);
    ASSERT_TRUE(wal);
    for (int i = 1; i <= 5; ++i) ASSERT_TRUE(append_one(*wal, make_payload(i, 100)).ok());
    ASSERT_TRUE(wal->close().ok());
  }
  const std::string seg = seg_path(o.dir, 1);
  const uint64_t seg_id = get_u64(peek(seg, 8, 8).data());
  // The torn flush: batch {6, 7} with 7 lost, then batch {8}, complete.
  std::vector<uint8_t> r6(format::record_bytes(100)), r8(format::record_bytes(100));
  format::encode_record(seg_id, 6, 1, format::kFlagFlushStart, 7, make_payload(66, 100), r6.data());
  format::encode_record(seg_id, 8, 1, format::kFlagBatchEnd, 7, make_payload(88, 100), r8.data());
  poke(seg, 656, r6);
  poke(seg, 656 + 2 * 128, r8);
  RecoveryReport rep;
  {
    auto wal = must_open(o, &rep);
    ASSERT_TRUE(wal);
    EXPECT_FALSE(rep.corruption) << "leftovers of the torn flush are not corruption";
    EXPECT_EQ(rep.durable_lsn, 5u);
    EXPECT_EQ(rep.discarded_records, 1u);
    // Through the end of record 8's payload (its zero padding was never dirty).
    EXPECT_EQ(rep.discarded_bytes, 2u * 128 + 24 + 100);
    std::vector<uint8_t> p6 = make_payload(6, 100), p7 = make_payload(7, 100);
    std::vector<RecordIn> batch(2);
    batch[0].payload = p6;
    batch[1].payload = p7;
    auto first = wal->append_sync(batch);
    ASSERT_TRUE(first.ok());
    EXPECT_EQ(*first, 6u);
    ASSERT_TRUE(wal->close().ok());
  }
  auto wal = must_open(o, &rep);
  ASSERT_TRUE(wal);
  EXPECT_EQ(rep.durable_lsn, 7u) << "record 8 was never acknowledged yet came back";
  EXPECT_EQ(read_all(*wal).size(), 7u);
}

// A valid record that starts a later flush, after a bad one, proves the bad
// bytes were durable once: corruption, not a torn tail.
TEST(WalEngine, BadRecordFollowedByALaterFlushIsCorruptionUnlessSalvaged) {
  ScratchDir d;
  WalOptions o = small_options(d.log());
  // Without the double-write buffer: with it, the last flush's copy of the
  // page would repair the flipped bit (tests/wal/dwb_test.cc).
  o.dwb = false;
  {
    auto wal = must_open(o);
    ASSERT_TRUE(wal);
    for (int i = 1; i <= 10; ++i) ASSERT_TRUE(append_one(*wal, make_payload(i, 100)).ok());
    ASSERT_TRUE(wal->close().ok());
  }
  // Flip one payload bit of record 3 (offset 16 + 2*128 = 272, payload +24).
  const std::string seg = seg_path(o.dir, 1);
  auto b = peek(seg, 272 + 30, 1);
  b[0] ^= 0x10;
  poke(seg, 272 + 30, b);
  RecoveryReport rep;
  auto r = Wal::open(o, &rep);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find(seg), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("offset 272"), std::string::npos) << r.status().message();
  EXPECT_TRUE(rep.corruption);
  // Refusing changed nothing on disk.
  EXPECT_EQ(peek(seg, 272 + 30, 1), b);
  o.salvage = true;
  auto wal = must_open(o, &rep);
  ASSERT_TRUE(wal);
  EXPECT_EQ(rep.durable_lsn, 2u);
  EXPECT_EQ(read_all(*wal).size(), 2u);
  auto lsn = append_one(*wal, make_payload(3, 10));
  ASSERT_TRUE(lsn.ok());
  EXPECT_EQ(*lsn, 3u);
}

TEST(WalEngine, CorruptionInAnEarlierSegmentRefusesToOpen) {
  ScratchDir d;
  WalOptions o = small_options(d.log());
  {
    auto wal = must_open(o);
    ASSERT_TRUE(wal);
    for (int i = 1; i <= 200; ++i) ASSERT_TRUE(append_one(*wal, make_payload(i, 1000)).ok());
    ASSERT_TRUE(wal->close().ok());
  }
  const std::string seg = seg_path(o.dir, 1);
  poke(seg, 16 + 5, {0xFF});  // inside record 1's header
  auto r = Wal::open(o, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find(seg), std::string::npos) << r.status().message();
  // A bad preamble is corruption naming the file too.
  poke(seg, 16 + 5, peek(seg, 16 + 5, 1));
  poke(seg, 0, {'X'});
  r = Wal::open(o, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(seg), std::string::npos) << r.status().message();
}

// Zero padding ends every non-last segment; what tells it from lost records is
// the next segment's name. Zeroing the last record of segment 1 must read as
// corruption, not as a clean end; salvage cuts there and drops later segments.
TEST(WalEngine, PaddingIsCheckedAgainstTheNextSegmentsFirstLsn) {
  ScratchDir d;
  WalOptions o = small_options(d.log());
  {
    auto wal = must_open(o);
    ASSERT_TRUE(wal);
    for (int i = 1; i <= 150; ++i) ASSERT_TRUE(append_one(*wal, make_payload(i, 1000)).ok());
    ASSERT_TRUE(wal->close().ok());
  }
  std::vector<std::string> segs;
  for (const std::string& n : testing::wal_files(o.dir)) {
    uint64_t v = 0;
    if (format::parse_segment_file_name(n, &v)) segs.push_back(n);
  }
  ASSERT_GE(segs.size(), 2u);
  uint64_t next_first = 0;
  ASSERT_TRUE(format::parse_segment_file_name(segs[1], &next_first));
  // Find the last record of segment 1 and zero it (header and payload).
  const std::string seg1 = o.dir + "/" + segs[0];
  std::vector<uint8_t> bytes = peek(seg1, 0, std::filesystem::file_size(seg1));
  uint64_t pos = 16, last = 16;
  while (get_u64(bytes.data() + pos) != 0) {
    last = pos;
    pos += format::record_bytes(get_u32(bytes.data() + pos + 16));
  }
  ASSERT_EQ(get_u64(bytes.data() + last), next_first - 1);
  poke(seg1, last, std::vector<uint8_t>(pos - last, 0));
  auto r = Wal::open(o, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find(segs[1]), std::string::npos) << r.status().message();
  o.salvage = true;
  RecoveryReport rep;
  auto wal = must_open(o, &rep);
  ASSERT_TRUE(wal);
  EXPECT_TRUE(rep.corruption);
  EXPECT_EQ(rep.durable_lsn, next_first - 2);
  EXPECT_EQ(rep.segments, 1u);
  EXPECT_FALSE(std::filesystem::exists(o.dir + "/" + segs[1]));
  auto lsn = append_one(*wal, make_payload(1, 10));
  ASSERT_TRUE(lsn.ok());
  EXPECT_EQ(*lsn, next_first - 1);
}

TEST(WalEngine, InspectDirIsReadOnlyAndReportsWhatRecoveryWouldDo) {
  ScratchDir d;
  WalOptions o = small_options(d.log());
  {
    auto wal = must_open(o);
    ASSERT_TRUE(wal);
    for (int i = 1; i <= 100; ++i) ASSERT_TRUE(append_one(*wal, make_payload(i, 1000)).ok());
    ASSERT_TRUE(wal->close().ok());
  }
  // A torn record after lsn 100 in the last segment.
  std::string last;
  for (const std::string& n : testing::wal_files(o.dir)) {
    uint64_t v = 0;
    if (format::parse_segment_file_name(n, &v)) last = o.dir + "/" + n;
  }
  ASSERT_FALSE(last.empty());
  auto snapshot = [&] {
    std::map<std::string, std::vector<uint8_t>> m;
    for (const std::string& n : testing::wal_files(o.dir)) {
      m[n] = peek(o.dir + "/" + n, 0, std::filesystem::file_size(o.dir + "/" + n));
    }
    return m;
  };
  // Find the end of the records in the last segment and tear a header there.
  std::vector<uint8_t> seg = peek(last, 0, std::filesystem::file_size(last));
  uint64_t pos = 16;
  while (get_u64(seg.data() + pos) != 0)
    pos += format::record_bytes(get_u32(seg.data() + pos + 16));
  std::vector<uint8_t> hdr(24, 0);
  put_u64(hdr.data(), 101);
  put_u32(hdr.data() + 16, 1000);
  poke(last, pos, hdr);
  auto before = snapshot();

  std::string why;
  auto io = make_backend(BackendKind::kPwrite, &why);
  ASSERT_TRUE(io) << why;
  std::vector<SegmentInfo> segs;
  std::vector<uint64_t> lsns;
  RecoveryReport rep;
  Status st = inspect_dir(
      o.dir, io.get(), [&](const SegmentInfo& s) { segs.push_back(s); },
      [&](const Record& r) {
        lsns.push_back(r.lsn);
        EXPECT_EQ(r.payload, make_payload(r.lsn, 1000));
      },
      &rep);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(lsns.size(), 100u);
  EXPECT_EQ(lsns.front(), 1u);
  EXPECT_EQ(lsns.back(), 100u);
  EXPECT_EQ(rep.durable_lsn, 100u);
  EXPECT_FALSE(rep.corruption);
  EXPECT_GT(rep.discarded_bytes, 0u);
  ASSERT_GE(segs.size(), 2u);
  EXPECT_EQ(segs.back().path, last);
  EXPECT_FALSE(segs.back().problem.empty());
  EXPECT_TRUE(segs.front().problem.empty()) << segs.front().problem;
  EXPECT_EQ(segs.front().first_lsn, 1u);
  EXPECT_EQ(segs[1].first_lsn, segs[0].last_lsn + 1);
  EXPECT_EQ(snapshot(), before) << "inspect_dir modified the directory";
}

}  // namespace
}  // namespace sidewal::wal
