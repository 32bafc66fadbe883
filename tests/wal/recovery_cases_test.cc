// The recovery decision tables (src/wal/recovery_cases.h): every combination
// of every table's inputs matches exactly one case, every case is reachable,
// and real on-disk situations for the cases the crash and engine tests do
// not construct end in the case's action.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "common/endian.h"
#include "wal/codecs/format.h"
#include "wal/recovery/recovery_cases.h"
#include "wal/wal.h"
#include "wal_test_util.h"

namespace sidewal::wal {
namespace {

namespace rc = recovery_cases;
using testing::append_one;
using testing::make_payload;
using testing::must_open;
using testing::read_all;
using testing::ScratchDir;

// Calls fn for every combination of input values (input i takes counts[i] values).
template <size_t N>
void for_each_combination(const std::array<size_t, N>& counts,
                          const std::function<void(const std::array<uint8_t, N>&)>& fn) {
  std::array<uint8_t, N> v{};
  for (;;) {
    fn(v);
    size_t i = 0;
    while (i < N && ++v[i] == counts[i]) v[i++] = 0;
    if (i == N) return;
  }
}

std::string show(const uint8_t* v, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    if (i) s += ',';
    s += std::to_string(v[i]);
  }
  return "{" + s + "}";
}

// Exactly one case per combination; every case matched by some combination;
// no pattern allows a value the input does not have.
template <typename Table, size_t N>
void check_table(const Table& table, const std::array<size_t, N>& counts, size_t* combinations) {
  std::vector<size_t> hits(table.size(), 0);
  *combinations = 0;
  for_each_combination<N>(counts, [&](const std::array<uint8_t, N>& v) {
    ++*combinations;
    EXPECT_EQ(rc::count_matches(table, v), 1u) << "inputs " << show(v.data(), N);
    for (size_t c = 0; c < table.size(); ++c) hits[c] += rc::matches(table[c].pattern, v) ? 1 : 0;
  });
  std::set<std::string> labels;
  for (size_t c = 0; c < table.size(); ++c) {
    EXPECT_GT(hits[c], 0u) << table[c].label << " matches no combination";
    EXPECT_TRUE(labels.insert(table[c].label).second) << table[c].label << " twice";
    for (size_t i = 0; i < N; ++i) {
      if (table[c].pattern[i] == rc::kAny) continue;
      EXPECT_EQ(table[c].pattern[i] >> counts[i], 0) << table[c].label << " input " << i;
    }
  }
}

TEST(RecoveryCases, EveryStepInputMatchesExactlyOneCase) {
  size_t n = 0;
  check_table(rc::kStepCases, rc::kStepInputValues, &n);
  EXPECT_EQ(n, 4u * 2 * 2);
}

TEST(RecoveryCases, EverySegmentInputMatchesExactlyOneCase) {
  size_t n = 0;
  check_table(rc::kSegmentCases, rc::kSegmentInputValues, &n);
  EXPECT_EQ(n, 3u * 2 * 2 * 2 * 2 * 2 * 2 * 2);
  // The code names its messages by case id: ids follow the table's order.
  for (size_t c = 0; c < rc::kSegmentCases.size(); ++c) {
    EXPECT_EQ(static_cast<size_t>(rc::kSegmentCases[c].id), c) << rc::kSegmentCases[c].label;
  }
}

TEST(RecoveryCases, EveryRepairInputMatchesExactlyOneCase) {
  size_t n = 0;
  check_table(rc::kRepairCases, rc::kRepairInputValues, &n);
  EXPECT_EQ(n, 3u * 2);
}

// The slots are read only where the step table's answer depends on them:
// damaged bytes in the last segment, nowhere else.
TEST(RecoveryCases, SlotsAreConsultedOnlyForDamageInTheLastSegment) {
  for_each_combination<3>(rc::kStepInputValues, [](const std::array<uint8_t, 3>& v) {
    rc::StepInputs in{static_cast<rc::Found>(v[0]), static_cast<rc::YesNo>(v[1]),
                      static_cast<rc::Slot>(v[2])};
    const bool expect = in.found == rc::Found::kDamaged && in.last == rc::YesNo::kYes;
    EXPECT_EQ(rc::step_depends_on_slot(in), expect) << show(v.data(), 3);
  });
}

// ---- real situations on disk ---------------------------------------------

WalOptions small_options(const std::string& dir) {
  WalOptions o;
  o.dir = dir;
  o.segment_bytes = 64 * 1024;
  o.max_record_bytes = 4096;
  o.backend = BackendKind::kPwrite;
  return o;
}

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

// Writes `records` single-record batches of 1000 bytes (several segments)
// and returns the segment file names in LSN order.
std::vector<std::string> write_log(const WalOptions& o, int records) {
  {
    auto wal = must_open(o);
    EXPECT_TRUE(wal);
    if (!wal) return {};
    for (int i = 1; i <= records; ++i) EXPECT_TRUE(append_one(*wal, make_payload(i, 1000)).ok());
    EXPECT_TRUE(wal->close().ok());
  }
  std::vector<std::string> segs;
  for (const std::string& n : testing::wal_files(o.dir)) {
    uint64_t v = 0;
    if (format::parse_segment_file_name(n, &v)) segs.push_back(n);
  }
  return segs;
}

uint64_t first_lsn_of(const std::string& name) {
  uint64_t v = 0;
  EXPECT_TRUE(format::parse_segment_file_name(name, &v));
  return v;
}

// @S3: a segment whose id does not increase is corruption at its offset 0;
// salvage (@R3) drops it and every later segment.
TEST(RecoveryCases, SegmentIdThatDoesNotIncreaseIsCorruptionAtOffsetZero) {
  ScratchDir d;
  WalOptions o = small_options(d.log());
  std::vector<std::string> segs = write_log(o, 150);
  ASSERT_GE(segs.size(), 3u);
  const std::string seg1 = o.dir + "/" + segs[0], seg2 = o.dir + "/" + segs[1];
  poke(seg2, 8, peek(seg1, 8, 8));  // segment 2 claims segment 1's id
  auto r = Wal::open(o, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  const std::string& m = r.status().message();
  EXPECT_NE(m.find(seg2 + " offset 0: segment id"), std::string::npos) << m;
  EXPECT_NE(m.find("does not increase"), std::string::npos) << m;
  o.salvage = true;
  RecoveryReport rep;
  auto wal = must_open(o, &rep);
  ASSERT_TRUE(wal);
  EXPECT_TRUE(rep.corruption);
  EXPECT_EQ(rep.durable_lsn, first_lsn_of(segs[1]) - 1);
  for (size_t i = 1; i < segs.size(); ++i) {
    EXPECT_FALSE(std::filesystem::exists(o.dir + "/" + segs[i])) << segs[i];
  }
  EXPECT_EQ(read_all(*wal).size(), first_lsn_of(segs[1]) - 1);
}

// @S6: an earlier segment whose last record does not end a batch is
// corruption at its end; salvage (@R4) cuts it at its last BATCH_END.
TEST(RecoveryCases, EarlierSegmentEndingInsideABatchIsCorruption) {
  ScratchDir d;
  WalOptions o = small_options(d.log());
  std::vector<std::string> segs = write_log(o, 150);
  ASSERT_GE(segs.size(), 2u);
  const std::string seg1 = o.dir + "/" + segs[0];
  const uint64_t next_first = first_lsn_of(segs[1]);
  std::vector<uint8_t> bytes = peek(seg1, 0, std::filesystem::file_size(seg1));
  const uint64_t seg_id = get_u64(bytes.data() + 8);
  uint64_t pos = 16, last = 16;
  while (get_u64(bytes.data() + pos) != 0) {
    last = pos;
    pos += format::record_bytes(get_u32(bytes.data() + pos + 16));
  }
  format::RecordHeader h = format::decode_header(bytes.data() + last);
  ASSERT_EQ(h.lsn, next_first - 1);
  ASSERT_TRUE(h.flags & format::kFlagBatchEnd);
  // The same record, CRC and all, without BATCH_END.
  std::vector<uint8_t> rec(format::record_bytes(h.payload_len));
  format::encode_record(seg_id, h.lsn, h.type, h.flags & ~format::kFlagBatchEnd, h.tenant,
                        std::span<const uint8_t>(bytes.data() + last + 24, h.payload_len),
                        rec.data());
  poke(seg1, last, rec);
  auto r = Wal::open(o, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  const std::string& m = r.status().message();
  EXPECT_NE(m.find(seg1 + " offset " + std::to_string(pos)), std::string::npos) << m;
  EXPECT_NE(m.find("does not end a batch, yet " + segs[1] + " follows"), std::string::npos) << m;
  o.salvage = true;
  RecoveryReport rep;
  auto wal = must_open(o, &rep);
  ASSERT_TRUE(wal);
  EXPECT_EQ(rep.durable_lsn, next_first - 2);
  EXPECT_EQ(rep.segments, 1u);
  EXPECT_EQ(peek(seg1, last, rec.size()), std::vector<uint8_t>(rec.size(), 0)) << "cut and zeroed";
  auto lsn = append_one(*wal, make_payload(1, 10));
  ASSERT_TRUE(lsn.ok());
  EXPECT_EQ(*lsn, next_first - 1);
}

// @S1: an unknown format version fails with Unsupported, salvage or not,
// and nothing on disk changes.
TEST(RecoveryCases, UnknownVersionIsUnsupportedEvenWithSalvage) {
  ScratchDir d;
  WalOptions o = small_options(d.log());
  std::vector<std::string> segs = write_log(o, 150);
  ASSERT_GE(segs.size(), 2u);
  const std::string lastp = o.dir + "/" + segs.back();
  poke(lastp, 4, {2});
  const std::vector<uint8_t> before = peek(lastp, 0, std::filesystem::file_size(lastp));
  const std::vector<std::string> names = testing::wal_files(o.dir);
  for (bool salvage : {false, true}) {
    o.salvage = salvage;
    auto r = Wal::open(o, nullptr);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kUnsupported) << r.status().ToString();
    EXPECT_NE(r.status().message().find(lastp), std::string::npos) << r.status().message();
    EXPECT_EQ(testing::wal_files(o.dir), names) << "nothing deleted";
  }
  EXPECT_EQ(peek(lastp, 0, before.size()), before);
}

// @S2 in a middle segment: corruption at offset 0; salvage (@R3) keeps the
// segments before it.
TEST(RecoveryCases, DamagedPreambleOfAnEarlierSegmentIsDroppedBySalvage) {
  ScratchDir d;
  WalOptions o = small_options(d.log());
  std::vector<std::string> segs = write_log(o, 150);
  ASSERT_GE(segs.size(), 3u);
  const std::string seg2 = o.dir + "/" + segs[1];
  poke(seg2, 0, {'X'});
  auto r = Wal::open(o, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find(seg2 + " offset 0"), std::string::npos)
      << r.status().message();
  o.salvage = true;
  RecoveryReport rep;
  auto wal = must_open(o, &rep);
  ASSERT_TRUE(wal);
  EXPECT_EQ(rep.durable_lsn, first_lsn_of(segs[1]) - 1);
  EXPECT_FALSE(std::filesystem::exists(seg2));
  EXPECT_TRUE(std::filesystem::exists(o.dir + "/" + segs[0]));
}

// @E then @S2 and @R3 for the first (and last) segment: no double-write slot
// repairs page 0, so salvage drops every segment and the log restarts at the
// first segment's name.
TEST(RecoveryCases, DamagedPreambleWithoutSlotDropsTheWholeLogOnSalvage) {
  ScratchDir d;
  WalOptions o = small_options(d.log());
  o.dwb = false;  // no slot holds page 0
  std::vector<std::string> segs = write_log(o, 5);
  ASSERT_EQ(segs.size(), 1u);
  const std::string seg = o.dir + "/" + segs[0];
  poke(seg, 0, {'X'});
  auto r = Wal::open(o, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  o.salvage = true;
  RecoveryReport rep;
  auto wal = must_open(o, &rep);
  ASSERT_TRUE(wal);
  EXPECT_TRUE(rep.corruption);
  EXPECT_EQ(rep.durable_lsn, 0u);
  EXPECT_NE(rep.discarded_why.find("every segment from"), std::string::npos) << rep.discarded_why;
  auto lsn = append_one(*wal, make_payload(1, 10));
  ASSERT_TRUE(lsn.ok());
  EXPECT_EQ(*lsn, 1u);
}

// @D for page 0 with the slot the open wrote: the same damage is repaired.
TEST(RecoveryCases, DamagedPreambleOfTheLastSegmentIsRestoredFromItsSlot) {
  ScratchDir d;
  WalOptions o = small_options(d.log());
  // Three records end inside page 0 (16 + 3 * 1024 bytes), so the open
  // below copies page 0, preamble included, into a slot.
  std::vector<std::string> segs = write_log(o, 3);
  ASSERT_EQ(segs.size(), 1u);
  const std::string seg = o.dir + "/" + segs[0];
  const std::vector<uint8_t> good = peek(seg, 0, 16);
  poke(seg, 0, {'X'});
  RecoveryReport rep;
  auto wal = must_open(o, &rep);
  ASSERT_TRUE(wal);
  EXPECT_FALSE(rep.corruption);
  EXPECT_EQ(rep.dwb_restores, 1u) << rep.dwb_why;
  EXPECT_EQ(rep.durable_lsn, 3u);
  EXPECT_EQ(peek(seg, 0, 16), good) << "written back";
  EXPECT_EQ(read_all(*wal).size(), 3u);
}

}  // namespace
}  // namespace sidewal::wal
