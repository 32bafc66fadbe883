// The double-write buffer (docs/format.md "Double-write buffer") on the
// simulated disk, under the tear model that can damage acknowledged bytes:
// the sector at the tear point gets garbage (neither old nor new bytes).
//
// A sequential workload (one batch per flush, so every flush boundary is
// known) of mixed record sizes runs across several segments; for EVERY flush
// and EVERY 512-byte tear point of the page it rewrites, and of its slot
// write, the disk crashes there, restarts, and recovery must return every
// acknowledged record byte for byte, LSNs contiguous from 1, batches whole.
// The same loop with the DWB off must lose an acknowledged record somewhere:
// proof that the loop can fail.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/endian.h"
#include "testing/sim_disk.h"
#include "wal/codecs/format.h"
#include "wal/codecs/secure_key.h"
#include "wal/dwb.h"
#include "wal/wal.h"
#include "wal_test_util.h"

namespace sidewal::wal {
namespace {

using testing::read_all;

constexpr size_t kAlign = 4096;
constexpr uint64_t kSegmentBytes = 32 * 1024;  // 16 KiB of records: a rollover every ~15 flushes
constexpr int kBatches = 48;
constexpr size_t kTagBytes = 8;
const char* const kDir = "/dwb/wal";

// A record's payload names its batch, index and batch size, then bytes
// derived from them.
std::vector<uint8_t> record_payload(uint32_t batch, uint16_t index, uint16_t count, size_t len) {
  std::vector<uint8_t> p =
      testing::make_payload((static_cast<uint64_t>(batch) << 20) ^ index ^ 0xD3B, len);
  put_u32(p.data(), batch);
  put_u16(p.data() + 4, index);
  put_u16(p.data() + 6, count);
  return p;
}

// The workload: batch b has 1-3 records of 8..700 payload bytes, fixed by
// the seed, so most flushes end in a partly filled page.
struct Batch {
  std::vector<std::vector<uint8_t>> payloads;
};
std::vector<Batch> make_batches(uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Batch> out(kBatches);
  for (uint32_t b = 0; b < kBatches; ++b) {
    const auto n = static_cast<uint16_t>(1 + rng() % 3);
    for (uint16_t i = 0; i < n; ++i) {
      out[b].payloads.push_back(record_payload(b, i, n, kTagBytes + rng() % 700));
    }
  }
  return out;
}

// Where each flush lands, from the format's rules (one batch per flush):
// the page it rewrites and how many durable bytes that page already held.
struct FlushPlan {
  uint64_t segment = 0;  // index of the segment (0 = first)
  uint64_t page = 0;     // offset of the first page the flush writes
  uint64_t carry = 0;    // durable bytes of that page before the flush
};
std::vector<FlushPlan> plan_flushes(const std::vector<Batch>& batches) {
  const uint64_t end = dwb::records_end(kSegmentBytes, kAlign);
  std::vector<FlushPlan> plans;
  uint64_t seg = 0, pos = format::kPreambleBytes;
  for (const Batch& b : batches) {
    uint64_t bytes = 0;
    for (const auto& p : b.payloads) bytes += format::record_bytes(p.size());
    if (pos + bytes > end) {
      ++seg;
      pos = format::kPreambleBytes;
    }
    FlushPlan f;
    f.segment = seg;
    f.page = format::round_down(pos, kAlign);
    f.carry = pos - f.page;
    plans.push_back(f);
    pos += bytes;
  }
  return plans;
}

WalOptions options(std::shared_ptr<SimDisk> disk, bool dwb) {
  WalOptions o;
  o.dir = kDir;
  o.segment_bytes = kSegmentBytes;
  o.max_record_bytes = 1024;
  o.dwb = dwb;
  o.io = std::move(disk);
  return o;
}

// Appends the batches one at a time until one fails (the crash); returns the
// acknowledged records by LSN.
std::map<uint64_t, std::vector<uint8_t>> run_workload(const std::shared_ptr<SimDisk>& disk,
                                                      const std::vector<Batch>& batches, bool dwb) {
  std::map<uint64_t, std::vector<uint8_t>> acked;
  auto opened = Wal::open(options(disk, dwb), nullptr);
  if (!opened.ok()) return acked;
  std::unique_ptr<Wal> wal = std::move(opened).value();
  for (uint32_t b = 0; b < batches.size(); ++b) {
    std::vector<RecordIn> recs(batches[b].payloads.size());
    for (size_t i = 0; i < recs.size(); ++i) {
      recs[i].type = 3;
      recs[i].tenant = b;
      recs[i].payload = batches[b].payloads[i];
    }
    auto first = wal->append_sync(recs);
    if (!first.ok()) break;
    for (size_t i = 0; i < recs.size(); ++i) acked[*first + i] = batches[b].payloads[i];
  }
  (void)wal->close();
  return acked;
}

// What recovery gave back, against what was acknowledged.
struct Outcome {
  bool opened = false;
  std::string open_error;
  RecoveryReport report;
  uint64_t lost_acked = 0;            // acknowledged records missing or changed
  std::vector<std::string> problems;  // anything else wrong with the recovered log
};

Outcome recover_and_check(const std::shared_ptr<SimDisk>& disk, bool dwb,
                          const std::map<uint64_t, std::vector<uint8_t>>& acked) {
  Outcome out;
  auto opened = Wal::open(options(disk, dwb), &out.report);
  if (!opened.ok()) {
    out.open_error = opened.status().ToString();
    out.lost_acked = acked.size();
    return out;
  }
  out.opened = true;
  std::unique_ptr<Wal> wal = std::move(opened).value();
  if (out.report.corruption) out.problems.push_back("corruption: " + out.report.corruption_at);
  const std::vector<Record> all = read_all(*wal);
  std::set<uint32_t> batches_seen;
  for (size_t j = 0; j < all.size();) {
    if (all[j].lsn != j + 1)
      out.problems.push_back("lsn " + std::to_string(all[j].lsn) + " at position " +
                             std::to_string(j));
    if (all[j].payload.size() < kTagBytes) {
      out.problems.push_back("short payload at lsn " + std::to_string(all[j].lsn));
      break;
    }
    const uint32_t b = get_u32(all[j].payload.data());
    const uint16_t n = get_u16(all[j].payload.data() + 6);
    if (!batches_seen.insert(b).second) out.problems.push_back("batch twice: " + std::to_string(b));
    for (uint16_t i = 0; i < n; ++i) {
      if (j + i >= all.size()) {
        out.problems.push_back("partial batch " + std::to_string(b));
        break;
      }
      const Record& r = all[j + i];
      if (r.payload != record_payload(b, i, n, r.payload.size()) || r.tenant != b ||
          ((r.flags & format::kFlagBatchEnd) != 0) != (i + 1 == n)) {
        out.problems.push_back("lsn " + std::to_string(r.lsn) + " is not record " +
                               std::to_string(i) + " of batch " + std::to_string(b));
      }
    }
    j += n;
  }
  for (const auto& [lsn, payload] : acked) {
    if (lsn > all.size() || all[lsn - 1].payload != payload) ++out.lost_acked;
  }
  return out;
}

bool is_wal(const std::string& path) {
  return path.size() > 4 && path.compare(path.size() - 4, 4, ".wal") == 0;
}

// A fault plan keyed on the flush, not on step numbers (the preparer thread
// moves those): the k-th data write to a .wal file (offset in the record
// area) is flush k's; the write after it to the slot area is its slot write.
struct FlushFault {
  uint64_t flush = 0;
  SimDisk::Fault data = SimDisk::Fault::none();
  SimDisk::Fault slot = SimDisk::Fault::none();
  bool crash_at_sync = false;  // crash at the fdatasync after flush k's writes
};

void install(SimDisk& disk, const FlushFault& f) {
  const uint64_t records_end = dwb::records_end(kSegmentBytes, kAlign);
  auto state =
      std::make_shared<std::pair<uint64_t, bool>>(0, false);  // data writes seen, in flush k
  disk.set_fault_hook([f, records_end, state](const SimDisk::StepInfo& s) {
    if (!is_wal(s.path)) return SimDisk::Fault::none();
    if (s.op == "write" && s.offset < records_end) {
      const uint64_t k = state->first++;
      state->second = k == f.flush;
      return state->second ? f.data : SimDisk::Fault::none();
    }
    if (!state->second) return SimDisk::Fault::none();
    if (s.op == "write") return f.slot;
    if (s.op == "fdatasync") {
      state->second = false;
      if (f.crash_at_sync) return SimDisk::Fault::crash();
    }
    return SimDisk::Fault::none();
  });
}

struct Totals {
  uint64_t cases = 0;
  uint64_t losing_cases = 0;  // cases where an acknowledged record did not come back
  uint64_t cut_acked = 0;     // of those, cases where the log opened and cut acked records
  uint64_t restores = 0;
  uint64_t restored_records = 0;
};

// One case: fault plan, power loss, recovery, checks.
Outcome run_case(const std::vector<Batch>& batches, bool dwb, const FlushFault& f,
                 SimDisk::CrashModel model, uint64_t seed) {
  auto disk = std::make_shared<SimDisk>(seed, model);
  install(*disk, f);
  auto acked = run_workload(disk, batches, dwb);
  disk->restart();
  return recover_and_check(disk, dwb, acked);
}

std::string describe(const FlushFault& f, const char* what, uint32_t sector) {
  return std::string(what) + " of flush " + std::to_string(f.flush) + " torn at sector " +
         std::to_string(sector);
}

// Every flush x every tear point; with dwb on, asserts that nothing acked is
// lost and the log is sound; returns the totals either way. With dwb off it
// stops at the first case that loses an acknowledged record (the proof that
// the loop can fail; the rest would only repeat it).
Totals every_flush_every_tear(bool dwb, uint64_t seed) {
  const std::vector<Batch> batches = make_batches(seed);
  const std::vector<FlushPlan> plans = plan_flushes(batches);
  Totals t;
  const uint32_t page_sectors = kAlign / SimDisk::kSectorBytes;
  const uint32_t slot_sectors = dwb::kSlotPages * kAlign / SimDisk::kSectorBytes;
  for (uint64_t k = 0; k < plans.size(); ++k) {
    const FlushPlan& plan = plans[k];
    auto check = [&](const Outcome& o, const std::string& what) {
      ++t.cases;
      t.restores += o.report.dwb_restores;
      t.restored_records += o.report.dwb_restored_records;
      if (o.lost_acked > 0) ++t.losing_cases;
      if (o.lost_acked > 0 && o.opened) ++t.cut_acked;
      if (!dwb) {
        if (o.lost_acked > 0) {
          std::fprintf(stderr, "dwb off: %s lost %llu acknowledged records (%s)\n", what.c_str(),
                       static_cast<unsigned long long>(o.lost_acked),
                       o.opened ? o.report.discarded_why.c_str() : o.open_error.c_str());
        }
        return;
      }
      EXPECT_TRUE(o.opened) << what << ": " << o.open_error;
      EXPECT_EQ(o.lost_acked, 0u) << what << ": acknowledged records lost; "
                                  << o.report.discarded_why;
      for (const std::string& p : o.problems) ADD_FAILURE() << what << ": " << p;
      EXPECT_LE(o.report.dwb_restores, 1u) << what;
    };
    // (a) The data write tears inside the page it rewrites; the slot write
    //     never happens.
    for (uint32_t sector = 0; sector < page_sectors; ++sector) {
      FlushFault f;
      f.flush = k;
      f.data = SimDisk::Fault::tear_garbage(sector);
      const std::string what = describe(f, "data write", sector);
      const Outcome o = run_case(batches, dwb, f, SimDisk::CrashModel::kDropUnsynced, seed + k);
      check(o, what);
      if (dwb && o.opened) {
        // The slot restores exactly when the garbage sector hits durable bytes.
        const bool hits_durable = uint64_t{sector} * SimDisk::kSectorBytes < plan.carry;
        EXPECT_EQ(o.report.dwb_restores, hits_durable ? 1u : 0u)
            << what << " (page " << plan.page << ", " << plan.carry << " durable bytes); "
            << o.report.dwb_why;
        if (hits_durable && plan.carry > format::kPreambleBytes) {
          EXPECT_GE(o.report.dwb_restored_records, 1u) << what << "; " << o.report.dwb_why;
        }
      }
      if (::testing::Test::HasFailure() || (!dwb && t.cut_acked > 0)) return t;
    }
    // (b) Both writes in flight when power fails at the sync: the data write
    //     tears with garbage, the slot write lands whole.
    for (uint32_t sector = 0; sector < page_sectors; ++sector) {
      FlushFault f;
      f.flush = k;
      f.data = SimDisk::Fault::tear_later(sector, /*garbage=*/true);
      f.slot = SimDisk::Fault::tear_later(slot_sectors, /*garbage=*/false);
      f.crash_at_sync = true;
      check(run_case(batches, dwb, f, SimDisk::CrashModel::kDropUnsynced, seed + k),
            describe(f, "data write (slot landed)", sector));
      if (::testing::Test::HasFailure() || (!dwb && t.cut_acked > 0)) return t;
    }
    // (c) The slot write tears with garbage at every sector of the slot, the
    //     data write (in flight) tears with garbage too.
    for (uint32_t sector = 0; sector < slot_sectors; ++sector) {
      FlushFault f;
      f.flush = k;
      f.data = SimDisk::Fault::tear_later(sector % page_sectors, /*garbage=*/true);
      f.slot = SimDisk::Fault::tear_garbage(sector);
      check(run_case(batches, dwb, f, SimDisk::CrashModel::kDropUnsynced, seed + k),
            describe(f, "slot write", sector));
      if (::testing::Test::HasFailure() || (!dwb && t.cut_acked > 0)) return t;
    }
  }
  return t;
}

TEST(Dwb, PlanCoversPartialPagesAndRollovers) {
  const std::vector<FlushPlan> plans = plan_flushes(make_batches(11));
  uint64_t partial = 0;
  for (const FlushPlan& p : plans) partial += p.carry > format::kPreambleBytes ? 1 : 0;
  EXPECT_GE(plans.back().segment, 2u) << "the run must roll over at least twice";
  EXPECT_GE(partial, plans.size() / 2) << "most flushes must rewrite a partly filled page";
}

// The required test: every flush, every tear point, nothing acknowledged lost.
TEST(Dwb, EveryTearOfEveryFlushKeepsEveryAckedRecord) {
  const Totals t = every_flush_every_tear(/*dwb=*/true, 11);
  std::fprintf(stderr, "dwb on: %llu cases, %llu pages restored, %llu records restored\n",
               static_cast<unsigned long long>(t.cases),
               static_cast<unsigned long long>(t.restores),
               static_cast<unsigned long long>(t.restored_records));
  EXPECT_EQ(t.losing_cases, 0u);
  EXPECT_GT(t.restores, 0u) << "the tears must have needed the slots";
  EXPECT_GT(t.restored_records, 0u);
}

// The same loop without the DWB: the garbage sector destroys acknowledged
// records, so the loop must catch a loss (it can fail): a torn preamble makes
// the log refuse to open, a torn record page is cut as a torn tail.
TEST(Dwb, WithoutDwbTheSameTearsLoseAckedRecords) {
  const Totals t = every_flush_every_tear(/*dwb=*/false, 11);
  std::fprintf(stderr, "dwb off: %llu cases, %llu lost acknowledged records\n",
               static_cast<unsigned long long>(t.cases),
               static_cast<unsigned long long>(t.losing_cases));
  EXPECT_GT(t.losing_cases, 0u);
  EXPECT_GT(t.cut_acked, 0u) << "a torn page's acknowledged records cut by a log that opened";
  EXPECT_EQ(t.restores, 0u) << "dwb off writes no slot (none to restore from)";
}

// Concurrent appenders, every unsynced write torn with garbage at a seeded
// sector, crash after each I/O step of the run.
TEST(Dwb, ConcurrentAppendersSurviveGarbageTearsAtEveryStep) {
  // Counting run.
  uint64_t steps = 0;
  {
    auto disk = std::make_shared<SimDisk>(1);
    auto acked = run_workload(disk, make_batches(5), true);
    ASSERT_FALSE(acked.empty());
    steps = disk->io_count();
  }
  for (uint64_t k = 0; k < steps + 4; ++k) {
    auto disk = std::make_shared<SimDisk>(100 + k, SimDisk::CrashModel::kTearGarbage);
    disk->crash_after_io(k);
    std::map<uint64_t, std::vector<uint8_t>> acked;
    std::mutex mu;
    {
      auto opened = Wal::open(options(disk, true), nullptr);
      if (opened.ok()) {
        std::unique_ptr<Wal> wal = std::move(opened).value();
        const std::vector<Batch> batches = make_batches(5);
        std::vector<std::thread> threads;
        for (int th = 0; th < 3; ++th) {
          threads.emplace_back([&, th] {
            for (uint32_t b = th; b < batches.size(); b += 3) {
              std::vector<RecordIn> recs(batches[b].payloads.size());
              for (size_t i = 0; i < recs.size(); ++i) {
                recs[i].tenant = b;
                recs[i].payload = batches[b].payloads[i];
              }
              auto first = wal->append_sync(recs);
              if (!first.ok()) return;
              std::lock_guard<std::mutex> g(mu);
              for (size_t i = 0; i < recs.size(); ++i) acked[*first + i] = batches[b].payloads[i];
            }
          });
        }
        for (auto& th : threads) th.join();
        (void)wal->close();
      }
    }
    disk->restart();
    const Outcome o = recover_and_check(disk, true, acked);
    ASSERT_TRUE(o.opened) << "crash after step " << k << ": " << o.open_error;
    EXPECT_EQ(o.lost_acked, 0u) << "crash after step " << k << "; " << o.report.discarded_why;
    for (const std::string& p : o.problems) ADD_FAILURE() << "crash after step " << k << ": " << p;
    if (::testing::Test::HasFailure()) return;
  }
}

// An encrypted segment (40-byte preamble): the first flush tears page 0 with
// garbage in the preamble's sector; the spare's copy restores it and the
// records decrypt.
TEST(Dwb, EncryptedSegmentsPreambleIsRestored) {
  std::array<uint8_t, 32> raw;
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<uint8_t>(i * 7 + 1);
  auto key = SecureKey::from_bytes(raw, "dwb test key");
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  auto ring = std::make_shared<KeyRing>();
  ASSERT_TRUE(ring->add(1, std::move(*key)).ok());
  ASSERT_TRUE(ring->set_current(1).ok());
  const std::vector<Batch> batches = make_batches(21);
  for (uint64_t flush : {0u, 1u}) {
    auto disk = std::make_shared<SimDisk>(9, SimDisk::CrashModel::kDropUnsynced);
    FlushFault f;
    f.flush = flush;
    f.data = SimDisk::Fault::tear_garbage(0);
    install(*disk, f);
    WalOptions o = options(disk, true);
    o.keys = ring;
    std::map<uint64_t, std::vector<uint8_t>> acked;
    {
      auto wal = Wal::open(o, nullptr);
      ASSERT_TRUE(wal.ok()) << wal.status().ToString();
      for (uint32_t b = 0; b < batches.size(); ++b) {
        std::vector<RecordIn> recs(batches[b].payloads.size());
        for (size_t i = 0; i < recs.size(); ++i) {
          recs[i].tenant = b;
          recs[i].payload = batches[b].payloads[i];
        }
        auto first = (*wal)->append_sync(recs);
        if (!first.ok()) break;
        for (size_t i = 0; i < recs.size(); ++i) acked[*first + i] = batches[b].payloads[i];
      }
    }
    ASSERT_EQ(acked.size(), flush == 0 ? 0u : batches[0].payloads.size());
    disk->restart();
    RecoveryReport rep;
    auto wal = Wal::open(o, &rep);
    ASSERT_TRUE(wal.ok()) << "flush " << flush << ": " << wal.status().ToString();
    EXPECT_EQ(rep.dwb_restores, 1u) << rep.dwb_why;
    const std::vector<Record> all = read_all(**wal);
    ASSERT_GE(all.size(), acked.size());
    for (const auto& [lsn, payload] : acked) EXPECT_EQ(all[lsn - 1].payload, payload);
  }
}

// ---- Slot choice: newest valid wins, a bad CRC is ignored. ----

// Two flushes into page 0: flush 1 leaves its copy in slot 1 (start() put
// page 0 in slot 0), flush 2 its copy in slot 0 with a higher sequence.
struct TwoFlushes {
  std::shared_ptr<SimDisk> disk = std::make_shared<SimDisk>(7);
  std::string path;
  std::vector<uint8_t> a = record_payload(0, 0, 1, 300), b = record_payload(1, 0, 1, 200);
  TwoFlushes() {
    auto wal = Wal::open(options(disk, true), nullptr);
    EXPECT_TRUE(wal.ok());
    EXPECT_EQ(testing::append_one(**wal, a).value(), 1u);
    EXPECT_EQ(testing::append_one(**wal, b).value(), 2u);
    EXPECT_TRUE((*wal)->close().ok());
    path = std::string(kDir) + "/" + format::segment_file_name(1);
  }
  std::vector<uint8_t> bytes() { return disk->durable_content(path).value(); }
};

TEST(Dwb, SlotsHoldTheLastPageOfEachFlush) {
  TwoFlushes t;
  const std::vector<uint8_t> file = t.bytes();
  ASSERT_EQ(file.size(), kSegmentBytes);
  dwb::SlotHeader h0, h1;
  std::vector<uint8_t> p0, p1;
  std::string why;
  const uint64_t end = dwb::records_end(kSegmentBytes, kAlign);
  ASSERT_TRUE(dwb::decode_slot(file.data() + dwb::slot_offset(kSegmentBytes, kAlign, 0), kAlign, 0,
                               end, &h0, &p0, &why))
      << why;
  ASSERT_TRUE(dwb::decode_slot(file.data() + dwb::slot_offset(kSegmentBytes, kAlign, 1), kAlign, 0,
                               end, &h1, &p1, &why))
      << why;
  EXPECT_EQ(h0.seq, 2u);  // flush 2
  EXPECT_EQ(h1.seq, 1u);  // flush 1
  EXPECT_EQ(h0.target, 0u);
  EXPECT_EQ(h1.target, 0u);
  EXPECT_TRUE(std::equal(p0.begin(), p0.end(), file.begin())) << "slot 0 is page 0 now";
  EXPECT_GT(h0.image_bytes, h1.image_bytes);
  // A flipped bit anywhere in the image fails the slot's CRC.
  std::vector<uint8_t> bad(file.begin() + dwb::slot_offset(kSegmentBytes, kAlign, 0),
                           file.begin() + dwb::slot_offset(kSegmentBytes, kAlign, 0) +
                               dwb::kSlotPages * kAlign);
  bad[dwb::kSlotHeaderBytes + 100] ^= 4;
  EXPECT_FALSE(dwb::decode_slot(bad.data(), kAlign, 0, end, &h0, &p0, &why));
  EXPECT_EQ(why, "slot crc mismatch");
}

TEST(Dwb, NewestValidSlotRestoresADamagedPage) {
  TwoFlushes t;
  // Record 1 (acknowledged) rots in place: recovery stops there.
  ASSERT_TRUE(t.disk->flip_bit_at_rest(t.path, format::kPreambleBytes + 40, 3).ok());
  t.disk->restart();
  RecoveryReport rep;
  auto wal = Wal::open(options(t.disk, true), &rep);
  ASSERT_TRUE(wal.ok()) << wal.status().ToString();
  EXPECT_EQ(rep.dwb_restores, 1u);
  EXPECT_EQ(rep.dwb_restored_records, 2u);
  EXPECT_NE(rep.dwb_why.find("slot 0 (sequence 2)"), std::string::npos) << rep.dwb_why;
  const std::vector<Record> all = read_all(**wal);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].payload, t.a);
  EXPECT_EQ(all[1].payload, t.b);
  // Repaired on disk: the next open restores nothing.
  wal->reset();
  t.disk->restart();
  RecoveryReport again;
  ASSERT_TRUE(Wal::open(options(t.disk, true), &again).ok());
  EXPECT_EQ(again.dwb_restores, 0u) << again.dwb_why;
  EXPECT_EQ(again.durable_lsn, 2u);
}

TEST(Dwb, SlotWithBadCrcIsIgnoredAndTheOlderOneUsed) {
  TwoFlushes t;
  ASSERT_TRUE(t.disk->flip_bit_at_rest(t.path, format::kPreambleBytes + 40, 3).ok());
  // Slot 0 (the newest) rots too: its CRC fails, slot 1 (sequence 1) holds
  // record 1, and record 2 is still intact on disk after it.
  ASSERT_TRUE(t.disk
                  ->flip_bit_at_rest(t.path,
                                     dwb::slot_offset(kSegmentBytes, kAlign, 0) +
                                         dwb::kSlotHeaderBytes + 60,
                                     1)
                  .ok());
  t.disk->restart();
  RecoveryReport rep;
  auto wal = Wal::open(options(t.disk, true), &rep);
  ASSERT_TRUE(wal.ok()) << wal.status().ToString();
  EXPECT_EQ(rep.dwb_restores, 1u);
  EXPECT_NE(rep.dwb_why.find("slot 1 (sequence 1)"), std::string::npos) << rep.dwb_why;
  const std::vector<Record> all = read_all(**wal);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].payload, t.a);
  EXPECT_EQ(all[1].payload, t.b);
}

TEST(Dwb, InspectReportsTheRestoreWithoutWriting) {
  TwoFlushes t;
  ASSERT_TRUE(t.disk->flip_bit_at_rest(t.path, format::kPreambleBytes + 40, 3).ok());
  const std::vector<uint8_t> before = t.bytes();
  RecoveryReport rep;
  std::vector<Record> seen;
  ASSERT_TRUE(inspect_dir(
                  kDir, t.disk.get(), {}, [&](const Record& r) { seen.push_back(r); }, &rep)
                  .ok());
  EXPECT_EQ(rep.dwb_restores, 1u);
  EXPECT_EQ(rep.dwb_restored_records, 2u);
  EXPECT_EQ(rep.durable_lsn, 2u);
  EXPECT_EQ(seen.size(), 2u);
  EXPECT_EQ(t.bytes(), before) << "inspect_dir wrote to the log";
}

TEST(Dwb, OffWritesNoSlotAndInvalidatesOldOnes) {
  TwoFlushes t;  // written with dwb on: both slots valid
  t.disk->restart();
  {
    auto wal = Wal::open(options(t.disk, false), nullptr);
    ASSERT_TRUE(wal.ok());
    ASSERT_TRUE(testing::append_one(**wal, record_payload(2, 0, 1, 100)).ok());
  }
  const std::vector<uint8_t> file = t.bytes();
  for (size_t i = 0; i < dwb::kSlots; ++i) {
    dwb::SlotHeader h;
    std::vector<uint8_t> p;
    std::string why;
    EXPECT_FALSE(dwb::decode_slot(file.data() + dwb::slot_offset(kSegmentBytes, kAlign, i), kAlign,
                                  0, dwb::records_end(kSegmentBytes, kAlign), &h, &p, &why))
        << "slot " << i << " still valid with dwb off";
  }
}

// Counts what the observer hears.
class DwbCounter : public WalObserver {
 public:
  void on_flush(uint32_t, uint32_t, uint64_t, double) override { ++flushes; }
  void on_dwb_write(uint64_t bytes) override { dwb_bytes += bytes; }
  std::atomic<uint64_t> flushes{0};
  std::atomic<uint64_t> dwb_bytes{0};
};

TEST(Dwb, ObserverCountsSlotBytes) {
  for (bool on : {true, false}) {
    auto disk = std::make_shared<SimDisk>(3);
    DwbCounter counter;
    WalOptions o = options(disk, on);
    o.observer = &counter;
    auto wal = Wal::open(o, nullptr);
    ASSERT_TRUE(wal.ok());
    for (int i = 0; i < 5; ++i) {
      ASSERT_TRUE(testing::append_one(**wal, record_payload(i, 0, 1, 100)).ok());
    }
    ASSERT_TRUE((*wal)->close().ok());
    EXPECT_EQ(counter.flushes.load(), 5u);
    // Each flush ends in a partly filled page: one slot page each.
    EXPECT_EQ(counter.dwb_bytes.load(), on ? 5 * kAlign : 0u) << "dwb " << on;
  }
}

}  // namespace
}  // namespace sidewal::wal
