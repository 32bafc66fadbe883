// Crash at every I/O step (SimDisk): concurrent appenders with small random
// batches, a crash after the k-th I/O for every k of the run, power loss,
// recovery, then the two promises:
//   (a) every acknowledged record is present, byte-identical, at its LSN;
//   (b) the recovered log is a prefix of what was appended: contiguous LSNs
//       from 1, every record one that some thread appended, no partial batch.
// Then the recovered log must take a new append at the next LSN that itself
// survives another power loss (recovery left no stale bytes behind).
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "common/endian.h"
#include "testing/sim_disk.h"
#include "wal/codecs/format.h"
#include "wal/wal.h"
#include "wal_test_util.h"

namespace sidewal::wal {
namespace {

using testing::read_all;

constexpr int kThreads = 4;
constexpr int kBatchesPerThread = 30;
constexpr size_t kTagBytes = 12;

// A record's payload says who appended it: thread, batch, index, batch size,
// then bytes derived from those, so recovery output can be checked without
// knowing the LSNs of unacknowledged records.
std::vector<uint8_t> record_payload(uint32_t thread, uint32_t batch, uint16_t index, uint16_t count,
                                    size_t len) {
  std::vector<uint8_t> p = testing::make_payload((static_cast<uint64_t>(thread) << 40) ^
                                                     (static_cast<uint64_t>(batch) << 20) ^ index,
                                                 len);
  put_u32(p.data(), thread);
  put_u32(p.data() + 4, batch);
  put_u16(p.data() + 8, index);
  put_u16(p.data() + 10, count);
  return p;
}

struct Acked {
  std::mutex mu;
  std::map<uint64_t, std::vector<uint8_t>> by_lsn;  // guarded by mu
};

// Each crash test runs three times: with every flush on the flusher thread,
// with leader flush (WalOptions::caller_flushes), where an appender that
// finds the flusher idle writes and syncs on its own thread, and with
// overlapped flushes (WalOptions::overlap_min_bytes at its smallest, so every
// group of two pages or more has its pages after the first written before
// the previous flush's sync: docs/format.md "Overlapped flushes"). Leader
// flush starts only once flushes come one batch at a time, so that run's
// workload is one thread appending as many batches as the four threads do.
enum class Flushes { kFlusherThread, kLeaderFlush, kOverlapped };

WalOptions crash_options(std::shared_ptr<SimDisk> disk, Flushes mode) {
  WalOptions o;
  o.caller_flushes = mode == Flushes::kLeaderFlush;
  o.overlap_min_bytes = mode == Flushes::kOverlapped ? 1 : 0;
  o.dir = "/crash/wal";
  o.segment_bytes = 32 * 1024;  // 16 KiB of records (+ the DWB slots): several rollovers per run
  o.max_record_bytes = 512;
  o.io = std::move(disk);
  return o;
}

// Runs the workload until it finishes or the log fails. *overlapped (when
// set) receives how many flushes were overlapped.
void run_workload(const std::shared_ptr<SimDisk>& disk, uint64_t seed, Flushes mode, Acked* acked,
                  uint64_t* overlapped = nullptr) {
  const bool caller_flushes = mode == Flushes::kLeaderFlush;
  auto opened = Wal::open(crash_options(disk, mode), nullptr);
  if (!opened.ok()) return;  // crashed during open: nothing acknowledged
  std::unique_ptr<Wal> wal = std::move(opened).value();
  std::vector<std::thread> threads;
  // Overlapped: four times the threads (the same batches in all), so that
  // groups of two pages and more wait while a flush is written.
  const int thread_count =
      caller_flushes ? 1 : (mode == Flushes::kOverlapped ? 4 * kThreads : kThreads);
  const int batches = kThreads * kBatchesPerThread / thread_count;
  for (int t = 0; t < thread_count; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(seed * 131 + t);
      for (int b = 0; b < batches; ++b) {
        const uint16_t n = static_cast<uint16_t>(1 + rng() % 4);
        std::vector<std::vector<uint8_t>> payloads;
        std::vector<RecordIn> batch(n);
        for (uint16_t i = 0; i < n; ++i) {
          payloads.push_back(record_payload(t, b, i, n, kTagBytes + rng() % 300));
        }
        for (uint16_t i = 0; i < n; ++i) {
          batch[i].type = static_cast<uint16_t>(t);
          batch[i].tenant = static_cast<uint32_t>(b);
          batch[i].payload = payloads[i];
        }
        auto first = wal->append_sync(batch);
        if (!first.ok()) return;
        std::lock_guard<std::mutex> g(acked->mu);
        for (uint16_t i = 0; i < n; ++i) acked->by_lsn[*first + i] = payloads[i];
      }
    });
  }
  for (auto& th : threads) th.join();
  if (overlapped != nullptr) *overlapped = wal->status().overlapped_flushes;
  (void)wal->close();
}

// Checks (a) and (b) on the recovered log; returns its durable LSN.
uint64_t check_recovered(Wal& wal, const RecoveryReport& rep, const Acked& acked) {
  EXPECT_FALSE(rep.corruption) << rep.corruption_at;
  std::vector<Record> all = read_all(wal);
  EXPECT_EQ(all.size(), rep.durable_lsn);
  EXPECT_EQ(wal.durable_lsn(), rep.durable_lsn);
  std::set<std::pair<uint32_t, uint32_t>> batches_seen;
  for (size_t j = 0; j < all.size();) {
    const Record& r = all[j];
    EXPECT_EQ(r.lsn, j + 1) << "LSNs must be contiguous from 1";
    if (r.payload.size() < kTagBytes) {
      ADD_FAILURE() << "lsn " << r.lsn << " has a " << r.payload.size() << "-byte payload";
      return rep.durable_lsn;
    }
    const uint32_t t = get_u32(r.payload.data()), b = get_u32(r.payload.data() + 4);
    const uint16_t n = get_u16(r.payload.data() + 10);
    EXPECT_TRUE(batches_seen.insert({t, b}).second) << "batch " << t << "/" << b << " twice";
    // The whole batch, in order, at consecutive LSNs.
    for (uint16_t i = 0; i < n; ++i) {
      if (j + i >= all.size()) {
        ADD_FAILURE() << "partial batch " << t << "/" << b << " at the end of the log: " << i
                      << " of " << n << " records";
        return rep.durable_lsn;
      }
      const Record& ri = all[j + i];
      EXPECT_EQ(ri.payload, record_payload(t, b, i, n, ri.payload.size()))
          << "lsn " << ri.lsn << " is not what thread " << t << " appended";
      EXPECT_EQ(ri.type, t);
      EXPECT_EQ(ri.tenant, b);
      EXPECT_EQ((ri.flags & format::kFlagBatchEnd) != 0, i + 1 == n) << "lsn " << ri.lsn;
    }
    j += n;
  }
  for (const auto& [lsn, payload] : acked.by_lsn) {
    if (lsn > all.size()) {
      ADD_FAILURE() << "acknowledged lsn " << lsn << " lost (log ends at " << all.size() << ")";
      continue;
    }
    EXPECT_EQ(all[lsn - 1].payload, payload) << "acknowledged lsn " << lsn << " changed";
  }
  return rep.durable_lsn;
}

void crash_checks(const std::shared_ptr<SimDisk>& disk, Flushes mode, Acked& acked);

// One crash run: workload with the fault plan, power loss, recovery, checks,
// one more append, another power loss, recovery.
// Returns how many flushes the workload overlapped before the crash.
uint64_t crash_run(SimDisk::CrashModel model, uint64_t seed, Flushes mode,
                   const std::function<void(SimDisk&)>& plan) {
  auto disk = std::make_shared<SimDisk>(seed, model);
  plan(*disk);
  Acked acked;
  uint64_t overlapped = 0;
  run_workload(disk, seed, mode, &acked, &overlapped);
  crash_checks(disk, mode, acked);
  return overlapped;
}

void crash_checks(const std::shared_ptr<SimDisk>& disk, Flushes mode, Acked& acked) {
  disk->restart();

  RecoveryReport rep;
  auto opened = Wal::open(crash_options(disk, mode), &rep);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  std::unique_ptr<Wal> wal = std::move(opened).value();
  const uint64_t durable = check_recovered(*wal, rep, acked);
  if (::testing::Test::HasFailure()) return;

  auto extra = record_payload(99, 0, 0, 1, 64);
  RecordIn r;
  r.type = 99;
  r.payload = extra;
  auto lsn = wal->append_sync(std::span<const RecordIn>(&r, 1));
  ASSERT_TRUE(lsn.ok()) << lsn.status().ToString();
  ASSERT_EQ(*lsn, durable + 1) << "appends must continue at the next LSN";
  acked.by_lsn[*lsn] = extra;
  wal.reset();
  disk->restart();
  RecoveryReport rep2;
  auto again = Wal::open(crash_options(disk, mode), &rep2);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(rep2.durable_lsn, durable + 1);
  EXPECT_EQ(rep2.discarded_bytes, 0u) << rep2.discarded_why;
  check_recovered(**again, rep2, acked);
}

uint64_t count_steps(uint64_t seed, Flushes mode) {
  auto disk = std::make_shared<SimDisk>(seed);
  Acked acked;
  uint64_t overlapped = 0;
  run_workload(disk, seed, mode, &acked, &overlapped);
  // The run must be big enough to matter: every thread's batches acked,
  // several flushes and rollovers. Whether a flush is overlapped depends on
  // what waits when the one before it is written (thread timing): the crash
  // loops count them over all their runs (expect_overlapped).
  EXPECT_GE(acked.by_lsn.size(), static_cast<size_t>(kThreads * kBatchesPerThread));
  if (mode != Flushes::kOverlapped) {
    EXPECT_EQ(overlapped, 0u);
  }
  std::fprintf(stderr, "counting run: %zu records acked in %llu I/O steps, %llu overlapped\n",
               acked.by_lsn.size(), static_cast<unsigned long long>(disk->io_count()),
               static_cast<unsigned long long>(overlapped));
  return disk->io_count();
}

// The overlapped runs must have overlapped flushes to test anything new.
void expect_overlapped(Flushes mode, uint64_t overlapped, uint64_t runs) {
  if (mode != Flushes::kOverlapped) return;
  std::fprintf(stderr, "%llu flushes overlapped over %llu crash runs\n",
               static_cast<unsigned long long>(overlapped), static_cast<unsigned long long>(runs));
  EXPECT_GT(overlapped, 0u) << "no flush was overlapped in any run: nothing new was tested";
}

void crash_at_every_step(SimDisk::CrashModel model, uint64_t seed, Flushes mode) {
  // Thread interleaving changes the step count a little from run to run; the
  // margin covers runs that take a few more steps than the counting run.
  const uint64_t steps = count_steps(seed, mode) + 8;
  uint64_t overlapped = 0;
  for (uint64_t k = 0; k < steps; ++k) {
    SCOPED_TRACE("crash after I/O step " + std::to_string(k) + ", seed " +
                 std::to_string(seed + k));
    overlapped += crash_run(model, seed + k, mode, [k](SimDisk& d) { d.crash_after_io(k); });
    if (::testing::Test::HasFatalFailure() || ::testing::Test::HasFailure()) return;
  }
  expect_overlapped(mode, overlapped, steps);
}

class WalCrash : public ::testing::TestWithParam<Flushes> {};

TEST_P(WalCrash, RecoveryKeepsEveryAckedRecordWhenCrashAfterEachIo) {
  crash_at_every_step(SimDisk::CrashModel::kRandom, 1000, GetParam());
}

TEST_P(WalCrash, RecoveryKeepsEveryAckedRecordWhenUnsyncedWritesAreDropped) {
  crash_at_every_step(SimDisk::CrashModel::kDropUnsynced, 2000, GetParam());
}

TEST_P(WalCrash, RecoveryKeepsEveryAckedRecordWhenOnlyTheProcessDies) {
  crash_at_every_step(SimDisk::CrashModel::kProcessCrash, 3000, GetParam());
}

// The in-flight write (often the rewrite of the partially filled last page,
// whose first sectors hold acknowledged records) lands only its first N
// 512-byte sectors; N cycles through every boundary of a 4 KiB page as k
// advances. Under this sector-atomic model the rewrite carries identical bytes
// for the acked prefix, so no acknowledged record may be lost
// (docs/format.md "Torn writes").
TEST_P(WalCrash, TornRewriteOfTheLastPageLosesNoAckedRecord) {
  const uint64_t seed = 4000;
  const uint64_t steps = count_steps(seed, GetParam()) + 8;
  uint64_t overlapped = 0;
  for (uint64_t k = 0; k < steps; ++k) {
    const uint32_t sectors = 1 + static_cast<uint32_t>(k % 7);
    SCOPED_TRACE("tear I/O step " + std::to_string(k) + " after " + std::to_string(sectors) +
                 " sectors");
    overlapped += crash_run(SimDisk::CrashModel::kTearLast, seed + k, GetParam(),
                            [k, sectors](SimDisk& d) { d.tear_write_at(k, sectors); });
    if (::testing::Test::HasFailure()) return;
  }
  expect_overlapped(GetParam(), overlapped, steps);
}

// kTearLast with a plain crash: every unsynced write lands except the newest,
// which tears at a seeded sector boundary.
TEST_P(WalCrash, TornLastWriteAtSeededBoundaryLosesNoAckedRecord) {
  crash_at_every_step(SimDisk::CrashModel::kTearLast, 5000, GetParam());
}

INSTANTIATE_TEST_SUITE_P(Flushes, WalCrash,
                         ::testing::Values(Flushes::kFlusherThread, Flushes::kLeaderFlush,
                                           Flushes::kOverlapped),
                         [](const ::testing::TestParamInfo<Flushes>& p) {
                           switch (p.param) {
                             case Flushes::kLeaderFlush: return "LeaderFlush";
                             case Flushes::kOverlapped: return "Overlapped";
                             default: return "FlusherThread";
                           }
                         });

}  // namespace
}  // namespace sidewal::wal
