// Overlapped flushes (WalOptions::overlap_min_bytes, docs/format.md
// "Overlapped flushes"): while flush A syncs, the pages of the next group B
// after its first page are already written; B's first page, its
// double-write copy and its sync come after A's sync. On the simulated disk
// the pair is made deterministic: the hook holds A's data write until B is
// queued. What must hold: the steps happen in exactly that order, ACKs come
// in LSN order, a failed sync of A fails B too (fail-stop, B's first page
// never written), and a crash, a tear or garbage at any step of the pair
// loses no acknowledged record and is never taken for corruption.
#include <gtest/gtest.h>

#include <condition_variable>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "testing/sim_disk.h"
#include "wal/wal.h"
#include "wal_test_util.h"

namespace sidewal::wal {
namespace {

using testing::make_payload;
using testing::read_all;

constexpr size_t kRecordBytes = 5000;  // A ends inside page 1; B spans 4 pages

WalOptions overlap_options(std::shared_ptr<IoBackend> io) {
  WalOptions o;
  o.dir = "/data/wal";
  o.segment_bytes = 1 << 20;
  o.max_record_bytes = 16 * 1024;
  o.overlap_min_bytes = 4096;
  o.io = std::move(io);
  return o;
}

// Holds the first write to a segment file after arm() until release():
// that is flush A's data write, so B can be queued behind it.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool armed = false;     // guarded by mu
  bool reached = false;   // guarded by mu: the hook is holding A's write
  bool released = false;  // guarded by mu
  bool a_done = false;    // guarded by mu: A's callback ran

  // From the hook (SimDisk's lock held: waits for the test only).
  void at_write(const SimDisk::StepInfo& s) {
    std::unique_lock<std::mutex> g(mu);
    if (!armed || reached || s.op != "write" || !s.path.ends_with(".wal")) return;
    reached = true;
    cv.notify_all();
    cv.wait(g, [&] { return released; });
  }
  void arm() {
    std::lock_guard<std::mutex> g(mu);
    armed = true;
  }
  // Until the hook holds A's write (true), or A completed without getting
  // there (false: a crash came first).
  bool wait_reached() {
    std::unique_lock<std::mutex> g(mu);
    cv.wait(g, [&] { return reached || a_done; });
    return reached;
  }
  void release() {
    std::lock_guard<std::mutex> g(mu);
    released = true;
    cv.notify_all();
  }
  void mark_a_done() {
    std::lock_guard<std::mutex> g(mu);
    a_done = true;
    cv.notify_all();
  }
};

struct PairOutcome {
  bool opened = false;
  Status a = Status::IoError("not appended"), b = Status::IoError("not appended");
  uint64_t a_lsn = 0, b_lsn = 0;
  std::vector<char> order;  // callbacks as they ran: 'A', 'B'
  uint64_t overlapped = 0;
  std::vector<std::vector<uint8_t>> payloads;  // A's record, then B's three
  std::vector<SimDisk::StepInfo> steps;        // every step the hook saw (after a crash: none)
};

std::vector<RecordIn> as_records(const std::vector<std::vector<uint8_t>>& p, size_t from,
                                 size_t n) {
  std::vector<RecordIn> v(n);
  for (size_t i = 0; i < n; ++i) v[i].payload = p[from + i];
  return v;
}

// Opens the log, appends A (one record), waits until its write is held,
// appends B (three records), lets the write go, waits for both callbacks.
// `fault` (may be empty) decides each step after open.
PairOutcome run_pair(const std::shared_ptr<SimDisk>& disk,
                     std::function<SimDisk::Fault(const SimDisk::StepInfo&)> fault) {
  PairOutcome out;
  for (uint64_t i = 0; i < 4; ++i) out.payloads.push_back(make_payload(100 + i, kRecordBytes));
  auto gate = std::make_shared<Gate>();
  auto seen = std::make_shared<std::vector<SimDisk::StepInfo>>();  // under SimDisk's lock
  disk->set_fault_hook([gate, fault, seen](const SimDisk::StepInfo& s) {
    seen->push_back(s);
    SimDisk::Fault f = fault ? fault(s) : SimDisk::Fault::none();
    if (f.kind == SimDisk::Fault::kNone) gate->at_write(s);
    return f;
  });
  auto opened = Wal::open(overlap_options(disk), nullptr);
  if (!opened.ok()) {
    disk->set_fault_hook({});
    return out;
  }
  out.opened = true;
  std::unique_ptr<Wal> wal = std::move(opened).value();
  gate->arm();
  std::mutex mu;
  std::condition_variable cv;
  int done = 0;
  // A batch's callback: records its outcome and the order callbacks ran in.
  auto note = [&](char which, Status* st_out, uint64_t* lsn_out) {
    return [&, which, st_out, lsn_out](const Status& st, uint64_t lsn) {
      {
        std::lock_guard<std::mutex> g(mu);
        *st_out = st;
        *lsn_out = lsn;
        out.order.push_back(which);
        ++done;
        cv.notify_all();
      }
      if (which == 'A') gate->mark_a_done();
    };
  };
  std::vector<RecordIn> a = as_records(out.payloads, 0, 1);
  wal->append(a, note('A', &out.a, &out.a_lsn));
  gate->wait_reached();
  std::vector<RecordIn> b = as_records(out.payloads, 1, 3);
  wal->append(b, note('B', &out.b, &out.b_lsn));
  gate->release();
  {
    std::unique_lock<std::mutex> g(mu);
    cv.wait(g, [&] { return done == 2; });
  }
  out.overlapped = wal->status().overlapped_flushes;
  (void)wal->close();
  disk->set_fault_hook({});
  out.steps = *seen;
  return out;
}

// The segment-file steps of a run, as the hook saw them.
std::vector<SimDisk::StepInfo> segment_steps(const std::vector<SimDisk::StepInfo>& all) {
  std::vector<SimDisk::StepInfo> v;
  for (const SimDisk::StepInfo& s : all) {
    if (s.path.ends_with(".wal") && (s.op == "write" || s.op == "fdatasync")) v.push_back(s);
  }
  return v;
}

TEST(WalOverlap, TheNextGroupsBulkIsWrittenWhileThePreviousFlushSyncs) {
  auto disk = std::make_shared<SimDisk>(21);
  PairOutcome out = run_pair(disk, {});
  ASSERT_TRUE(out.opened);
  ASSERT_TRUE(out.a.ok()) << out.a.ToString();
  ASSERT_TRUE(out.b.ok()) << out.b.ToString();
  EXPECT_EQ(out.a_lsn, 1u);
  EXPECT_EQ(out.b_lsn, 2u);
  EXPECT_EQ(out.order, (std::vector<char>{'A', 'B'}));
  EXPECT_EQ(out.overlapped, 1u);

  // A: 24 + 5000 bytes after the 16-byte preamble end inside page 1, so B's
  // first page is page 1 and its bulk starts at page 2.
  std::vector<SimDisk::StepInfo> steps = segment_steps(out.steps);
  auto find = [&](const std::string& op, uint64_t offset, uint64_t len, size_t from) {
    for (size_t i = from; i < steps.size(); ++i) {
      const SimDisk::StepInfo& t = steps[i];
      if (t.op == op && (op != "write" || (t.offset == offset && (len == 0 || t.len == len)))) {
        return i;
      }
    }
    return steps.size();
  };
  std::string all;
  for (const SimDisk::StepInfo& t : steps) {
    all += "#" + std::to_string(t.index) + " " + t.op + " " + std::to_string(t.offset) + " " +
           std::to_string(t.len) + "\n";
  }
  const size_t a_write = find("write", 0, 8192, 0);
  ASSERT_LT(a_write, steps.size()) << all;
  const size_t b_bulk = find("write", 8192, 0, a_write + 1);
  const size_t a_sync = find("fdatasync", 0, 0, a_write + 1);
  ASSERT_LT(b_bulk, steps.size()) << all;
  ASSERT_LT(a_sync, steps.size()) << all;
  EXPECT_LT(b_bulk, a_sync) << "B's bulk goes out before A's sync\n" << all;
  const size_t b_first = find("write", 4096, 4096, a_sync + 1);
  ASSERT_LT(b_first, steps.size()) << "B's first page comes after A's sync\n" << all;
  const size_t b_sync = find("fdatasync", 0, 0, b_first + 1);
  EXPECT_LT(b_sync, steps.size()) << all;
  // Nothing of B's first page before A's sync.
  for (size_t i = a_write + 1; i < a_sync; ++i) {
    EXPECT_FALSE(steps[i].op == "write" && steps[i].offset == 4096) << all;
  }

  // Power loss after both ACKs: all four records come back.
  disk->restart();
  RecoveryReport rep;
  auto wal = testing::must_open(overlap_options(disk), &rep);
  EXPECT_FALSE(rep.corruption);
  std::vector<Record> got = read_all(*wal);
  ASSERT_EQ(got.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(got[i].payload, out.payloads[i]) << i;
}

TEST(WalOverlap, AFailedSyncUnderAStartedBulkFailsBothGroupsAndWritesNoMore) {
  auto disk = std::make_shared<SimDisk>(22);
  auto armed = std::make_shared<bool>(false);
  PairOutcome out = run_pair(disk, [armed](const SimDisk::StepInfo& s) {
    // The first sync of a segment after the first data write: A's.
    if (s.op == "write" && s.path.ends_with(".wal") && s.offset == 0 && s.len == 8192) {
      *armed = true;
    }
    if (*armed && s.op == "fdatasync" && s.path.ends_with(".wal")) {
      *armed = false;
      return SimDisk::Fault::fail(EIO);
    }
    return SimDisk::Fault::none();
  });
  ASSERT_TRUE(out.opened);
  EXPECT_EQ(out.overlapped, 1u);
  EXPECT_FALSE(out.a.ok());
  EXPECT_FALSE(out.b.ok()) << "B was started under A's failed sync: it must fail too";
  EXPECT_EQ(out.order, (std::vector<char>{'A', 'B'}));
  std::vector<SimDisk::StepInfo> steps = segment_steps(out.steps);
  size_t failed_sync = steps.size();
  bool a_written = false;  // A's data write: 2 pages at offset 0
  for (size_t i = 0; i < steps.size(); ++i) {
    a_written =
        a_written || (steps[i].op == "write" && steps[i].offset == 0 && steps[i].len == 8192);
    if (a_written && steps[i].op == "fdatasync") {
      failed_sync = i;
      break;
    }
  }
  ASSERT_LT(failed_sync, steps.size());
  for (size_t i = failed_sync + 1; i < steps.size(); ++i) {
    EXPECT_NE(steps[i].op, "write") << "a write after the failed sync, at " << steps[i].offset;
    EXPECT_NE(steps[i].op, "fdatasync")
        << "a sync retried after the failed one: " << steps[i].path << " step " << steps[i].index;
  }
}

// Every step of the pair (and a few after it), every crash model: a crash
// there, or a tear at every sector boundary, or garbage in the torn sector.
TEST(WalOverlap, CrashOrTearAtEveryStepOfAnOverlappedPairLosesNoAckedRecord) {
  auto counting = std::make_shared<SimDisk>(23);
  PairOutcome base = run_pair(counting, {});
  ASSERT_TRUE(base.a.ok() && base.b.ok());
  ASSERT_EQ(base.overlapped, 1u);
  const uint64_t steps = counting->io_count() + 4;
  int runs = 0;
  for (uint64_t k = 0; k < steps; ++k) {
    for (int variant = 0; variant < 12; ++variant) {
      SimDisk::CrashModel model = SimDisk::CrashModel::kRandom;
      SimDisk::Fault at_k = SimDisk::Fault::crash();
      if (variant < 4) {
        model = static_cast<SimDisk::CrashModel>(variant);
      } else if (variant < 8) {
        at_k = SimDisk::Fault::tear(static_cast<uint32_t>(1 + (variant - 4) * 2));
      } else {
        at_k = SimDisk::Fault::tear_garbage(static_cast<uint32_t>((variant - 8) * 2 + 1));
      }
      SCOPED_TRACE("step " + std::to_string(k) + " variant " + std::to_string(variant));
      auto disk = std::make_shared<SimDisk>(1000 + k * 16 + variant, model);
      PairOutcome out = run_pair(disk, [k, at_k](const SimDisk::StepInfo& s) {
        return s.index == k ? at_k : SimDisk::Fault::none();
      });
      disk->restart();
      ++runs;
      RecoveryReport rep;
      auto opened = Wal::open(overlap_options(disk), &rep);
      ASSERT_TRUE(opened.ok()) << opened.status().ToString();
      EXPECT_FALSE(rep.corruption) << rep.corruption_at;
      std::vector<Record> got = read_all(**opened);
      // A prefix of what was appended, whole batches only (1, then 3).
      ASSERT_TRUE(got.size() == 0 || got.size() == 1 || got.size() == 4) << got.size();
      for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].payload, base.payloads[i]) << i;
      if (out.a.ok()) {
        EXPECT_GE(got.size(), 1u) << "A was acknowledged";
      }
      if (out.b.ok()) {
        EXPECT_EQ(got.size(), 4u) << "B was acknowledged";
      }
      if (::testing::Test::HasFailure()) return;
    }
  }
  std::fprintf(stderr, "%d crash runs over %llu steps\n", runs,
               static_cast<unsigned long long>(steps));
}

}  // namespace
}  // namespace sidewal::wal
