// The engine on the simulated disk: power loss after directory changes, an
// empty last segment, O_DIRECT refusal, EIO/ENOSPC fail-stop, ENOSPC while
// pre-creating a segment, and the bound on queued bytes.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>
#include <cerrno>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "testing/sim_disk.h"
#include "wal/codecs/format.h"
#include "wal/wal.h"
#include "wal_test_util.h"

namespace sidewal::wal {
namespace {

using testing::append_one;
using testing::must_open;
using testing::make_payload;
using testing::read_all;
using testing::wait_until;

constexpr const char* kDir = "/data/wal";

WalOptions sim_options(std::shared_ptr<IoBackend> io) {
  WalOptions o;
  o.dir = kDir;
  o.segment_bytes = 32 * 1024;
  o.max_record_bytes = 2048;
  o.io = std::move(io);
  return o;
}

// Opens a log and waits until its next segment is pre-created, so the I/O
// steps that follow come from the appends alone (deterministic).
std::unique_ptr<Wal> open_quiet(const WalOptions& o) {
  auto wal = must_open(o);
  if (wal) {
    EXPECT_TRUE(wait_until([&] { return wal->status().next_segment_ready; }));
  }
  return wal;
}

TEST(WalOnSimDisk, RefusedODirectIsUnsupportedNotBufferedIo) {
  auto disk = std::make_shared<SimDisk>(1);
  disk->refuse_direct(true);
  auto r = Wal::open(sim_options(disk), nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnsupported) << r.status().ToString();
  EXPECT_EQ(disk->io_count(), 2u) << "only the directory may be created before the refusal";
}

TEST(WalOnSimDisk, FirstSegmentSurvivesPowerLossRightAfterOpen) {
  auto disk = std::make_shared<SimDisk>(2, SimDisk::CrashModel::kDropUnsynced);
  {
    auto wal = must_open(sim_options(disk));
    ASSERT_TRUE(wal);
    ASSERT_TRUE(append_one(*wal, make_payload(1, 50)).ok());
    disk->restart();  // power loss while the log is open
  }
  EXPECT_TRUE(disk->durable_exists(std::string(kDir) + "/" + format::segment_file_name(1)));
  auto wal = must_open(sim_options(disk));
  ASSERT_TRUE(wal);
  auto all = read_all(*wal);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].payload, make_payload(1, 50));
}

TEST(WalOnSimDisk, NewSegmentSurvivesPowerLossAfterRollover) {
  auto disk = std::make_shared<SimDisk>(3, SimDisk::CrashModel::kDropUnsynced);
  WalOptions o = sim_options(disk);
  uint64_t acked = 0;
  {
    auto wal = must_open(o);
    ASSERT_TRUE(wal);
    while (wal->status().segments < 3) {
      auto lsn = append_one(*wal, make_payload(acked + 1, 1000));
      ASSERT_TRUE(lsn.ok()) << lsn.status().ToString();
      acked = *lsn;
    }
    // Power loss: only what was synced (files and directory entries) stays.
    disk->restart();
  }
  RecoveryReport rep;
  auto wal = must_open(o, &rep);
  ASSERT_TRUE(wal);
  EXPECT_EQ(rep.durable_lsn, acked);
  EXPECT_EQ(rep.segments, 3u);
  auto all = read_all(*wal);
  ASSERT_EQ(all.size(), acked);
  for (uint64_t i = 1; i <= acked; ++i) EXPECT_EQ(all[i - 1].payload, make_payload(i, 1000));
}

TEST(WalOnSimDisk, TruncationIsDurableOnceItReturns) {
  auto disk = std::make_shared<SimDisk>(4, SimDisk::CrashModel::kDropUnsynced);
  WalOptions o = sim_options(disk);
  std::string first_seg = std::string(kDir) + "/" + format::segment_file_name(1);
  uint64_t new_first = 0;
  {
    auto wal = must_open(o);
    ASSERT_TRUE(wal);
    uint64_t n = 0;
    while (wal->status().segments < 3) ASSERT_TRUE(append_one(*wal, make_payload(++n, 1000)).ok());
    auto first = wal->truncate_before(wal->durable_lsn());
    ASSERT_TRUE(first.ok()) << first.status().ToString();
    new_first = *first;
    EXPECT_GT(new_first, 1u);
    EXPECT_FALSE(disk->durable_exists(first_seg)) << "directory not fsynced after truncation";
    disk->restart();
  }
  RecoveryReport rep;
  auto wal = must_open(o, &rep);
  ASSERT_TRUE(wal);
  EXPECT_EQ(rep.first_lsn, new_first);
}

// Power fails right after a rollover's directory fsync: the crash hits the
// next I/O step, whichever thread takes it.
class CrashAfterRollover : public testing::ForwardingBackend {
 public:
  CrashAfterRollover(std::shared_ptr<SimDisk> disk)
      : ForwardingBackend(disk), disk_(std::move(disk)) {}
  Status rename(const std::string& a, const std::string& b) override {
    Status st = inner_->rename(a, b);
    if (st.ok()) renamed_ = b;
    return st;
  }
  Status sync_dir(const std::string& dir) override {
    Status st = inner_->sync_dir(dir);
    // The first rename creates segment 1 at open; the second is a rollover.
    if (st.ok() && !renamed_.empty() && ++renames_synced_ == 2) {
      disk_->crash_after_io(disk_->io_count());
    }
    renamed_.clear();
    return st;
  }

 private:
  std::shared_ptr<SimDisk> disk_;
  std::string renamed_;
  int renames_synced_ = 0;
};

TEST(WalOnSimDisk, EmptyLastSegmentReopenContinuesAtItsLsn) {
  auto disk = std::make_shared<SimDisk>(5, SimDisk::CrashModel::kDropUnsynced);
  WalOptions o = sim_options(std::make_shared<CrashAfterRollover>(disk));
  uint64_t last_acked = 0;
  {
    auto wal = must_open(o);
    ASSERT_TRUE(wal);
    for (uint64_t n = 1; n < 1000; ++n) {
      auto lsn = append_one(*wal, make_payload(n, 1000));
      if (!lsn.ok()) break;
      last_acked = *lsn;
    }
    EXPECT_EQ(wal->status().state, LogState::kFailed);
  }
  ASSERT_GT(last_acked, 0u);
  disk->restart();
  const std::string empty_seg = std::string(kDir) + "/" + format::segment_file_name(last_acked + 1);
  ASSERT_TRUE(disk->durable_exists(empty_seg)) << "the renamed segment must be on disk";
  o.io = disk;
  RecoveryReport rep;
  auto wal = must_open(o, &rep);
  ASSERT_TRUE(wal);
  EXPECT_EQ(rep.segments, 2u);
  EXPECT_EQ(rep.durable_lsn, last_acked);
  auto lsn = append_one(*wal, make_payload(last_acked + 1, 1000));
  ASSERT_TRUE(lsn.ok()) << lsn.status().ToString();
  EXPECT_EQ(*lsn, last_acked + 1) << "restarted at the wrong LSN";
  EXPECT_EQ(wal->status().segments, 2u) << "appends go into the empty segment";
  EXPECT_EQ(read_all(*wal).size(), last_acked + 1);
}

struct FailureWatcher : WalObserver {
  std::atomic<int> failed{0};
  Status why;
  void on_flush(uint32_t, uint32_t, uint64_t, double) override {}
  void on_failed(const Status& s) override {
    why = s;
    failed++;
  }
};

// Appends `n` single records asynchronously from one thread; returns the
// acknowledged LSN -> payload tag map and the errors seen.
struct AsyncRun {
  std::mutex mu;
  std::map<uint64_t, uint64_t> acked;  // guarded by mu
  std::vector<Status> errors;          // guarded by mu
  std::atomic<int> done{0};
};

void append_async(Wal& wal, AsyncRun& run, uint64_t first_tag, int n) {
  for (int i = 0; i < n; ++i) {
    uint64_t tag = first_tag + i;
    auto payload = make_payload(tag, 200);
    RecordIn r;
    r.payload = payload;
    wal.append(std::span<const RecordIn>(&r, 1), [&run, tag](const Status& st, uint64_t lsn) {
      std::lock_guard<std::mutex> g(run.mu);
      if (st.ok()) {
        run.acked[lsn] = tag;
      } else {
        run.errors.push_back(st);
      }
      run.done++;
    });
  }
}

void check_acked_survive(const std::shared_ptr<SimDisk>& disk, const AsyncRun& run,
                         uint64_t segment_bytes) {
  disk->restart();
  RecoveryReport rep;
  WalOptions o = sim_options(disk);
  o.segment_bytes = segment_bytes;
  auto wal = must_open(o, &rep);
  ASSERT_TRUE(wal);
  auto all = read_all(*wal);
  std::map<uint64_t, const Record*> by_lsn;
  for (const Record& r : all) by_lsn[r.lsn] = &r;
  for (const auto& [lsn, tag] : run.acked) {
    ASSERT_TRUE(by_lsn.count(lsn)) << "acknowledged lsn " << lsn << " lost";
    EXPECT_EQ(by_lsn[lsn]->payload, make_payload(tag, 200));
  }
}

void fail_stop_case(int err, Code expected) {
  auto disk = std::make_shared<SimDisk>(6);
  FailureWatcher watcher;
  WalOptions o = sim_options(disk);
  // Big enough for the whole run: no rollover, so the preparer stays idle and
  // the I/O steps below are the flusher's alone.
  o.segment_bytes = 256 * 1024;
  o.observer = &watcher;
  auto wal = open_quiet(o);
  ASSERT_TRUE(wal);
  for (uint64_t i = 1; i <= 3; ++i) ASSERT_TRUE(append_one(*wal, make_payload(i, 200)).ok());
  // Each flush is a write step then a sync step: fail the next sync.
  disk->fail_io(disk->io_count() + 1, err);
  AsyncRun run;
  for (uint64_t i = 1; i <= 3; ++i) run.acked[i] = i;
  append_async(*wal, run, 100, 200);
  ASSERT_TRUE(wait_until([&] { return run.done.load() == 200; }));
  {
    std::lock_guard<std::mutex> g(run.mu);
    ASSERT_FALSE(run.errors.empty());
    for (const Status& e : run.errors) {
      EXPECT_EQ(e.code(), expected) << e.ToString();
      EXPECT_NE(e.message().find(err == ENOSPC ? "NoSpace" : "IoError"), std::string::npos)
          << "the original error must stay visible: " << e.ToString();
    }
    EXPECT_EQ(run.acked.size(), 3u) << "nothing after the failed sync may be acknowledged";
  }
  EXPECT_EQ(wal->status().state, LogState::kFailed);
  EXPECT_FALSE(wal->status().failure.empty());
  EXPECT_TRUE(wait_until([&] { return watcher.failed.load() == 1; }));
  // Later appends fail at once; nothing is retried.
  const uint64_t steps = disk->io_count();
  auto later = append_one(*wal, make_payload(999, 10));
  ASSERT_FALSE(later.ok());
  EXPECT_EQ(later.status().code(), expected);
  EXPECT_EQ(disk->io_count(), steps) << "a failed log must not write again";
  EXPECT_FALSE(wal->close().ok());
  wal.reset();
  check_acked_survive(disk, run, o.segment_bytes);
}

TEST(WalOnSimDisk, EioOnSyncFailStopsAndLosesNoAckedRecord) { fail_stop_case(EIO, Code::kFailed); }

TEST(WalOnSimDisk, EnospcOnDataSyncFailStopsWithNoSpace) { fail_stop_case(ENOSPC, Code::kNoSpace); }

TEST(WalOnSimDisk, EioOnWriteFailStops) {
  auto disk = std::make_shared<SimDisk>(7);
  auto wal = open_quiet(sim_options(disk));
  ASSERT_TRUE(wal);
  ASSERT_TRUE(append_one(*wal, make_payload(1, 200)).ok());
  disk->fail_io(disk->io_count(), EIO);  // the next write
  auto r = append_one(*wal, make_payload(2, 200));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kFailed);
  EXPECT_EQ(wal->status().state, LogState::kFailed);
  wal.reset();
  AsyncRun run;
  run.acked[1] = 1;
  disk->restart();
  auto again = must_open(sim_options(disk));
  ASSERT_TRUE(again);
  auto all = read_all(*again);
  ASSERT_GE(all.size(), 1u);
  EXPECT_EQ(all[0].payload, make_payload(1, 200));
}

// While `full`, creating a .spare fails with ENOSPC (the disk has no room for
// a new segment, but the open ones are preallocated).
class NoRoomForNewSegments : public testing::ForwardingBackend {
 public:
  using ForwardingBackend::ForwardingBackend;
  std::atomic<bool> full{false};
  std::atomic<int> refused{0};
  Result<FileHandle> open(const std::string& path, const OpenOptions& o) override {
    uint64_t id = 0;
    std::string name = std::filesystem::path(path).filename();
    if (o.create && full && format::parse_spare_file_name(name, &id)) {
      refused++;
      return Status::FromErrno(ENOSPC, "open " + path);
    }
    return inner_->open(path, o);
  }
};

// EIO (not ENOSPC) while pre-creating the next segment: the disk is broken,
// so the log fail-stops like after a failed flush, and the observer hears it.
class BrokenSpareCreation : public testing::ForwardingBackend {
 public:
  using ForwardingBackend::ForwardingBackend;
  std::atomic<bool> armed{false};
  Result<FileHandle> open(const std::string& path, const OpenOptions& o) override {
    uint64_t id = 0;
    std::string name = std::filesystem::path(path).filename();
    if (o.create && armed && format::parse_spare_file_name(name, &id)) {
      return Status::FromErrno(EIO, "open " + path);
    }
    return inner_->open(path, o);
  }
};

TEST(WalOnSimDisk, EioWhilePreCreatingASegmentFailStops) {
  auto disk = std::make_shared<SimDisk>(11);
  auto io = std::make_shared<BrokenSpareCreation>(disk);
  FailureWatcher watcher;
  WalOptions o = sim_options(io);
  o.observer = &watcher;
  auto wal = open_quiet(o);
  ASSERT_TRUE(wal);
  io->armed = true;
  uint64_t acked = 0;
  Status err;
  for (int i = 0; i < 1000; ++i) {
    auto lsn = append_one(*wal, make_payload(acked + 1, 1000));
    if (!lsn.ok()) {
      err = lsn.status();
      break;
    }
    acked = *lsn;
  }
  EXPECT_EQ(err.code(), Code::kFailed) << err.ToString();
  EXPECT_NE(err.message().find("IoError"), std::string::npos) << err.ToString();
  EXPECT_GT(acked, 0u);
  EXPECT_EQ(wal->status().state, LogState::kFailed);
  EXPECT_TRUE(wait_until([&] { return watcher.failed.load() == 1; }));
  EXPECT_EQ(watcher.why.code(), Code::kIoError);
  wal.reset();
  disk->restart();
  o.io = disk;
  RecoveryReport rep;
  auto again = must_open(o, &rep);
  ASSERT_TRUE(again);
  EXPECT_GE(rep.durable_lsn, acked);
}

TEST(WalOnSimDisk, EnospcCreatingTheNextSegmentGivesNoSpaceWithoutFailStop) {
  auto disk = std::make_shared<SimDisk>(8);
  auto io = std::make_shared<NoRoomForNewSegments>(disk);
  FailureWatcher watcher;
  WalOptions o = sim_options(io);
  o.observer = &watcher;
  auto wal = open_quiet(o);
  ASSERT_TRUE(wal);
  io->full = true;
  // Fill segment 1, roll into the pre-created segment 2 (fine), fill it too:
  // then the log has nowhere to go.
  uint64_t n = 0;
  Status nospace;
  while (n < 1000) {
    auto lsn = append_one(*wal, make_payload(n + 1, 1000));
    if (!lsn.ok()) {
      nospace = lsn.status();
      break;
    }
    n = *lsn;
  }
  ASSERT_EQ(nospace.code(), Code::kNoSpace) << nospace.ToString();
  EXPECT_EQ(wal->status().segments, 2u);
  EXPECT_GT(io->refused.load(), 0);
  // Not fail-stopped: state ready, reads served, small appends still fail
  // only because they need the new segment.
  WalStatus st = wal->status();
  EXPECT_EQ(st.state, LogState::kReady);
  EXPECT_FALSE(st.next_segment_problem.empty());
  EXPECT_EQ(watcher.failed.load(), 0);
  EXPECT_EQ(read_all(*wal).size(), n);
  EXPECT_EQ(append_one(*wal, make_payload(n + 1, 1000)).status().code(), Code::kNoSpace);
  // Space returns: the next append retries the creation and goes through.
  io->full = false;
  auto lsn = append_one(*wal, make_payload(n + 1, 1000));
  ASSERT_TRUE(lsn.ok()) << lsn.status().ToString();
  EXPECT_EQ(*lsn, n + 1);
  EXPECT_EQ(wal->status().segments, 3u);
  ASSERT_TRUE(wal->close().ok());
}

TEST(WalOnSimDisk, MaxPendingBytesBoundsTheQueueAndEveryAppendCompletes) {
  auto disk = std::make_shared<SimDisk>(9);
  WalOptions o = sim_options(disk);
  o.segment_bytes = 256 * 1024;
  o.max_pending_bytes = 2048;  // about 8 records of 200 bytes
  auto wal = must_open(o);
  ASSERT_TRUE(wal);
  AsyncRun run;
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) ts.emplace_back([&, t] { append_async(*wal, run, t * 1000, 100); });
  for (auto& t : ts) t.join();
  ASSERT_TRUE(wait_until([&] { return run.done.load() == 400; }));
  std::lock_guard<std::mutex> g(run.mu);
  EXPECT_TRUE(run.errors.empty());
  EXPECT_EQ(run.acked.size(), 400u);
}

TEST(WalOnSimDisk, InvalidAppendsAreRejectedBeforeTheQueue) {
  auto disk = std::make_shared<SimDisk>(10);
  auto wal = must_open(sim_options(disk));
  ASSERT_TRUE(wal);
  std::vector<RecordIn> none;
  EXPECT_EQ(wal->append_sync(none).status().code(), Code::kInvalidArgument);
  auto big = make_payload(1, 2049);
  EXPECT_EQ(append_one(*wal, big).status().code(), Code::kInvalidArgument);
  RecordIn flagged;
  flagged.flags = 1;
  EXPECT_EQ(wal->append_sync(std::span<const RecordIn>(&flagged, 1)).status().code(),
            Code::kInvalidArgument);
  // A batch larger than a segment can hold.
  auto p = make_payload(2, 2000);
  std::vector<RecordIn> batch(20);
  for (auto& r : batch) r.payload = p;
  EXPECT_EQ(wal->append_sync(batch).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(wal->durable_lsn(), 0u);
  EXPECT_EQ(wal->status().state, LogState::kReady);
  EXPECT_TRUE(append_one(*wal, make_payload(3, 10)).ok());
}

}  // namespace
}  // namespace sidewal::wal
