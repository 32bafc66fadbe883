// Leader flush (WalOptions::caller_flushes): an append() that finds the
// flusher idle writes and syncs its group on the calling thread and runs the
// flush's callbacks there, before it returns. What must hold: the flush
// really happens on the caller (and never does with the option off); under
// concurrent appenders every callback still runs once, one at a time, in LSN
// order, and the log reads back exactly (plaintext and encrypted); a failed
// sync on the leader fail-stops the log like one on the flusher.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "testing/sim_disk.h"
#include "wal/codecs/secure_key.h"
#include "wal/codecs/segment_keys.h"
#include "wal/wal.h"
#include "wal_test_util.h"

namespace sidewal::wal {
namespace {

using testing::make_payload;
using testing::read_all;
using testing::ScratchDir;

// Remembers which thread made the last data sync: a write + sync on a
// segment (a .wal file; the preparer's writes go to .spare files).
class SyncThreadRecorder : public testing::ForwardingBackend {
 public:
  using ForwardingBackend::ForwardingBackend;
  Result<FileHandle> open(const std::string& path, const OpenOptions& o) override {
    Result<FileHandle> f = inner_->open(path, o);
    if (f.ok() && path.ends_with(".wal")) {
      std::lock_guard<std::mutex> g(mu_);
      segment_files_.insert(*f);
    }
    return f;
  }
  // A flush's sync (its writes went before it, on the same thread).
  Status sync(FileHandle f) override {
    note(f);
    return inner_->sync(f);
  }
  std::thread::id last_sync_thread() {
    std::lock_guard<std::mutex> g(mu_);
    return last_;
  }

 private:
  void note(FileHandle f) {
    std::lock_guard<std::mutex> g(mu_);
    if (segment_files_.count(f) > 0) last_ = std::this_thread::get_id();
  }
  std::mutex mu_;
  std::set<FileHandle> segment_files_;  // guarded by mu_
  std::thread::id last_;                // guarded by mu_
};

WalOptions sim_options(std::shared_ptr<IoBackend> io, bool caller_flushes) {
  WalOptions o;
  o.dir = "/data/wal";
  o.segment_bytes = 64 * 1024;
  o.max_record_bytes = 2048;
  o.io = std::move(io);
  o.caller_flushes = caller_flushes;
  return o;
}

struct LoneAppends {
  int on_caller = 0;         // callback ran on the appending thread before append() returned
  int synced_by_caller = 0;  // ... and that thread made the flush's sync
};

// Appends one record at a time, each after the previous one's callback.
LoneAppends append_one_at_a_time(bool caller_flushes, int n) {
  auto recorder = std::make_shared<SyncThreadRecorder>(std::make_shared<SimDisk>(7));
  auto wal = testing::must_open(sim_options(recorder, caller_flushes));
  LoneAppends out;
  for (int i = 0; i < n; ++i) {
    std::vector<uint8_t> payload = make_payload(static_cast<uint64_t>(i), 100);
    RecordIn r;
    r.payload = payload;
    std::promise<std::pair<Status, std::thread::id>> done;
    std::atomic<bool> returned{false};
    std::atomic<bool> ran_before_return{false};
    wal->append(std::span<const RecordIn>(&r, 1), [&](const Status& st, uint64_t) {
      ran_before_return = !returned;
      done.set_value({st, std::this_thread::get_id()});
    });
    returned = true;
    auto [st, thread] = done.get_future().get();
    EXPECT_TRUE(st.ok()) << st.ToString();
    if (thread == std::this_thread::get_id()) {
      EXPECT_TRUE(ran_before_return) << "a callback on the caller runs inside append()";
      ++out.on_caller;
      if (recorder->last_sync_thread() == thread) ++out.synced_by_caller;
    }
  }
  EXPECT_EQ(wal->durable_lsn(), static_cast<uint64_t>(n));
  EXPECT_TRUE(wal->close().ok());
  return out;
}

TEST(WalLeaderFlush, ALoneAppendIsWrittenSyncedAndAcknowledgedOnTheCallingThread) {
  const LoneAppends led = append_one_at_a_time(/*caller_flushes=*/true, 100);
  // After the first leader flush the flusher stays idle, so nearly every
  // append leads; the margin covers appends made while the flusher thread
  // was still on its way back to waiting.
  EXPECT_GE(led.on_caller, 50);
  EXPECT_EQ(led.synced_by_caller, led.on_caller);

  const LoneAppends off = append_one_at_a_time(/*caller_flushes=*/false, 20);
  EXPECT_EQ(off.on_caller, 0) << "without caller_flushes no callback runs inside append()";
  EXPECT_EQ(off.synced_by_caller, 0);
}

std::shared_ptr<const KeyRing> one_key_ring() {
  std::vector<uint8_t> b(kKeyBytes);
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i * 7 + 3);
  auto key = SecureKey::from_bytes(b, "leader flush test key");
  EXPECT_TRUE(key.ok());
  auto ring = std::make_shared<KeyRing>();
  EXPECT_TRUE(ring->add(1, std::move(key).value()).ok());
  EXPECT_TRUE(ring->set_current(1).ok());
  return ring;
}

// Real files (the machine's I/O backend), small segments so flushes roll over.
void concurrent_appenders_round_trip(bool encrypted) {
  ScratchDir dir;
  WalOptions o;
  o.dir = dir.log();
  o.segment_bytes = 256 * 1024;
  o.max_record_bytes = 4096;
  o.caller_flushes = true;
  if (encrypted) o.keys = one_key_ring();
  // Thread 0 commits one batch at a time throughout (so leader flush starts);
  // the others commit at the same time for part of its run, their appends
  // landing during leader flushes and going to the flusher.
  constexpr int kThreads = 4;
  constexpr int kLoneAppends = 400;
  constexpr int kOtherAppends = 60;
  std::mutex mu;
  std::vector<uint64_t> callback_order;  // first LSN of each callback, as run; guarded by mu
  std::map<uint64_t, std::vector<uint8_t>> acked;  // by LSN; guarded by mu
  std::atomic<int> led{0};                         // callbacks that ran inside their own append()
  {
    auto wal = testing::must_open(o);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        std::mt19937 rng(static_cast<uint32_t>(t + 1));
        const int appends = t == 0 ? kLoneAppends : kOtherAppends;
        for (int i = 0; i < appends; ++i) {
          const uint16_t n = static_cast<uint16_t>(1 + rng() % 3);
          std::vector<std::vector<uint8_t>> payloads;
          std::vector<RecordIn> batch(n);
          for (uint16_t k = 0; k < n; ++k) {
            payloads.push_back(make_payload((uint64_t(t) << 32) | (i << 2) | k, 1 + rng() % 600));
            batch[k].payload = payloads.back();
          }
          std::promise<Status> done;
          const std::thread::id caller = std::this_thread::get_id();
          wal->append(batch, [&, n, caller](const Status& st, uint64_t first) {
            if (std::this_thread::get_id() == caller) ++led;  // inside append(): it led
            std::lock_guard<std::mutex> g(mu);
            callback_order.push_back(first);
            if (st.ok()) {
              for (uint16_t k = 0; k < n; ++k) acked[first + k] = payloads[k];
            }
            done.set_value(st);
          });
          const Status st = done.get_future().get();
          ASSERT_TRUE(st.ok()) << st.ToString();
        }
      });
    }
    for (auto& th : threads) th.join();
    ASSERT_EQ(callback_order.size(),
              static_cast<size_t>(kLoneAppends + (kThreads - 1) * kOtherAppends));
    EXPECT_GT(led.load(), 0) << "no append led a flush";
    for (size_t i = 1; i < callback_order.size(); ++i) {
      ASSERT_LT(callback_order[i - 1], callback_order[i]) << "callbacks out of LSN order at " << i;
    }
    EXPECT_EQ(wal->durable_lsn(), acked.size());
    ASSERT_TRUE(wal->close().ok());
  }
  // Reopened: recovery finds exactly what was acknowledged.
  RecoveryReport rep;
  auto wal = testing::must_open(o, &rep);
  EXPECT_EQ(rep.durable_lsn, acked.size());
  EXPECT_EQ(rep.discarded_bytes, 0u) << rep.discarded_why;
  const std::vector<Record> all = read_all(*wal);
  ASSERT_EQ(all.size(), acked.size());
  for (const Record& r : all) EXPECT_EQ(r.payload, acked[r.lsn]) << "lsn " << r.lsn;
}

TEST(WalLeaderFlush, ConcurrentAppendersGetEveryAckOnceInLsnOrder) {
  concurrent_appenders_round_trip(/*encrypted=*/false);
}

TEST(WalLeaderFlush, ConcurrentAppendersGetEveryAckOnceInLsnOrderEncrypted) {
  concurrent_appenders_round_trip(/*encrypted=*/true);
}

// The first data sync made on the appending thread (so by a leader) fails
// with EIO: that append's callback gets the error (on this thread, or on the
// completer when the flusher was still delivering the flush before it), the
// log is failed, and the next append is refused at once.
TEST(WalLeaderFlush, AFailedSyncOnTheLeaderStopsTheLog) {
  auto disk = std::make_shared<SimDisk>(11);
  const std::thread::id appender = std::this_thread::get_id();
  auto armed = std::make_shared<std::atomic<bool>>(false);  // after open's own syncs
  auto fired = std::make_shared<std::atomic<bool>>(false);
  disk->set_fault_hook([appender, armed, fired](const SimDisk::StepInfo& s) {
    if (!*armed || s.op != "fdatasync" || !s.path.ends_with(".wal")) return SimDisk::Fault::none();
    if (std::this_thread::get_id() != appender || fired->exchange(true)) {
      return SimDisk::Fault::none();
    }
    return SimDisk::Fault::fail(EIO);
  });
  auto wal = testing::must_open(sim_options(disk, /*caller_flushes=*/true));
  *armed = true;
  std::vector<uint8_t> payload = make_payload(1, 64);
  RecordIn r;
  r.payload = payload;
  Status failure;
  for (int i = 0; i < 200 && failure.ok(); ++i) {
    std::promise<std::pair<Status, std::thread::id>> done;
    wal->append(std::span<const RecordIn>(&r, 1), [&](const Status& st, uint64_t) {
      done.set_value({st, std::this_thread::get_id()});
    });
    failure = done.get_future().get().first;
  }
  ASSERT_FALSE(failure.ok()) << "the injected EIO must reach an append";
  EXPECT_TRUE(fired->load()) << "the failed sync was a leader's";
  EXPECT_EQ(wal->state(), LogState::kFailed);
  EXPECT_FALSE(wal->failure().ok());
  std::promise<Status> after;
  std::atomic<bool> returned{false};
  std::atomic<bool> before_return{false};
  wal->append(std::span<const RecordIn>(&r, 1), [&](const Status& st, uint64_t) {
    before_return = !returned;
    after.set_value(st);
  });
  returned = true;
  EXPECT_TRUE(before_return) << "a failed log refuses inside append()";
  EXPECT_FALSE(after.get_future().get().ok());
  (void)wal->close();
}

// append_without_leading() never leads, even for a lone committer.
TEST(WalLeaderFlush, AppendWithoutLeadingLeavesTheFlushToTheFlusher) {
  auto recorder = std::make_shared<SyncThreadRecorder>(std::make_shared<SimDisk>(3));
  auto wal = testing::must_open(sim_options(recorder, /*caller_flushes=*/true));
  std::vector<uint8_t> payload = make_payload(2, 100);
  RecordIn r;
  r.payload = payload;
  for (int i = 0; i < 30; ++i) {
    std::promise<std::thread::id> done;
    wal->append_without_leading(std::span<const RecordIn>(&r, 1), [&](const Status& st, uint64_t) {
      EXPECT_TRUE(st.ok()) << st.ToString();
      done.set_value(std::this_thread::get_id());
    });
    EXPECT_NE(done.get_future().get(), std::this_thread::get_id());
    EXPECT_NE(recorder->last_sync_thread(), std::this_thread::get_id());
  }
  EXPECT_TRUE(wal->close().ok());
}

}  // namespace
}  // namespace sidewal::wal
