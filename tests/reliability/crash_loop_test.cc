// Crash loop against the real daemon: 8 connections pipeline APPENDs of 1-8
// self-describing records; the daemon is killed with SIGKILL at a moment the
// seed picks (after a random number of ACKs, right after it became ready, or
// while it is still recovering), restarted, and the log is checked after
// every restart (LogChecker: contiguous LSNs, only records really sent, whole
// batches, per-sender order, every ACKed record at its LSN byte for byte).
// The whole log is checked once more at the end.
//
//   SIDEWAL_CRASH_KILLS=N  kills (default 20; scripts/crash-loop.sh N)
//   SIDEWAL_CRASH_SEED=S   seed (default 1); printed, so a failure reruns
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

#include "log_checker.h"
#include "tests/support/daemon_harness.h"

namespace sidewal::reliability {
namespace {

using it::Daemon;
using it::DaemonConfig;
using it::RawClient;
using it::TempDir;
using it::TestRecord;
using it::seconds;

uint64_t env_u64(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? std::strtoull(v, nullptr, 10) : fallback;
}

struct Loader {
  uint32_t client = 0;
  uint32_t round = 0;
  uint64_t seed = 0;
  std::atomic<uint64_t> sent{0};  // records handed to send() (some may never arrive)
  std::vector<std::pair<uint64_t, uint64_t>> acked;  // (lsn, seq); owned by the thread
  std::string error;                                 // unexpected failure
};

// Pipelines up to 16 APPENDs until the daemon dies under it.
void run_loader(const std::string& socket, Loader* l, std::atomic<uint64_t>* total_acked) {
  try {
    RawClient c(socket);
    std::mt19937_64 rng(l->seed);
    std::deque<std::pair<uint64_t, uint64_t>> outstanding;  // (request id, first seq)
    std::deque<uint16_t> counts;
    uint64_t seq = 0;
    uint64_t batch = 0;
    for (;;) {
      while (outstanding.size() < 16) {
        const uint16_t n = static_cast<uint16_t>(1 + rng() % 8);
        std::vector<TestRecord> recs(n);
        for (uint16_t i = 0; i < n; ++i) {
          PayloadTag t{l->client, l->round, seq + i, batch, i, n};
          recs[i].type = static_cast<uint16_t>(l->client);
          recs[i].tenant = l->round;
          recs[i].payload = make_tagged_payload(t, kMinPayload + rng() % 600);
        }
        const uint64_t id = c.next_id();
        // Counted as sent before send(): a frame cut by the kill may still
        // have reached the daemon whole.
        l->sent.store(seq + n);
        c.send_append(id, recs);  // throws once the daemon is gone
        outstanding.emplace_back(id, seq);
        counts.push_back(n);
        seq += n;
        ++batch;
      }
      auto f = c.read_frame(seconds(30));
      if (!f) return;  // killed
      if (f->header.request_id != outstanding.front().first) {
        l->error = "reply for request " + std::to_string(f->header.request_id) + ", expected " +
                   std::to_string(outstanding.front().first) + " (ACKs out of order)";
        return;
      }
      const proto::Ack a = it::expect_ack(*f);
      if (a.count != counts.front()) {
        l->error = "ACK count " + std::to_string(a.count) + " for a batch of " +
                   std::to_string(counts.front());
        return;
      }
      for (uint32_t i = 0; i < a.count; ++i) {
        l->acked.emplace_back(a.first_lsn + i, outstanding.front().second + i);
      }
      total_acked->fetch_add(a.count);
      outstanding.pop_front();
      counts.pop_front();
    }
  } catch (const std::exception& e) {
    const std::string what = e.what();
    // A loader that had not connected yet when a kill-at-once round (threshold
    // 0) killed the daemon finds nobody listening: it sent nothing, so there
    // is nothing to check, and it is not a failure.
    const bool refused_before_sending =
        l->sent.load() == 0 && what.find("Connection refused") != std::string::npos;
    if (what.find("connection closed") == std::string::npos &&
        what.find("closed mid-frame") == std::string::npos && !refused_before_sending) {
      l->error = what;
    }
  }
}

// Reads [from, end] and checks it; returns one past the last LSN checked.
uint64_t read_and_check(Daemon& d, LogChecker* checker, uint64_t from, std::string* problem) {
  RawClient c(d.socket_path());
  const proto::StatusReply st = c.status();
  if (st.first_lsn != 1) {
    *problem = "first_lsn " + std::to_string(st.first_lsn) + " (nothing was truncated)";
    return from;
  }
  std::vector<TestRecord> back;
  if (from <= st.durable_lsn) back = c.read_all(from);
  std::vector<ReadBack> view;
  view.reserve(back.size());
  for (const auto& r : back) view.push_back(ReadBack{r.lsn, r.type, r.tenant, r.payload});
  *problem = checker->check(from, view);
  if (problem->empty() && from + back.size() != st.durable_lsn + 1) {
    *problem = "READ returned up to " + std::to_string(from + back.size() - 1) +
               ", STATUS says durable_lsn " + std::to_string(st.durable_lsn);
  }
  return from + back.size();
}

// caller_flushes: the daemon's wal.caller_flushes (leader flush);
// overlap_min_bytes: its wal.overlap_min_bytes ("1": every group of two
// pages or more that waits behind a flush is overlapped with its sync).
void sigkill_loop(bool caller_flushes, const char* overlap_min_bytes = "64KiB") {
  const uint64_t kills = env_u64("SIDEWAL_CRASH_KILLS", 20);
  const uint64_t seed = env_u64("SIDEWAL_CRASH_SEED", 1);
  constexpr uint32_t kConns = 8;
  std::printf("crash loop: seed %llu, %llu kills (SIDEWAL_CRASH_SEED=%llu reruns it)\n",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(kills),
              static_cast<unsigned long long>(seed));
  std::fflush(stdout);

  TempDir dir;
  DaemonConfig cfg;
  cfg.set("wal", "segment_bytes", "1MiB");  // rollovers, and kills across them
  cfg.set("wal", "max_record_bytes", "64KiB");
  cfg.set("wal", "caller_flushes", caller_flushes ? "true" : "false");
  cfg.set("wal", "overlap_min_bytes", overlap_min_bytes);
  Daemon d(dir.path(), cfg);
  LogChecker checker;
  std::mt19937_64 rng(seed);
  uint64_t checked_to = 1;  // next LSN to check
  uint64_t sent_total = 0, acked_total = 0, during_recovery = 0;

  for (uint64_t round = 0; round < kills; ++round) {
    const unsigned mode = static_cast<unsigned>(rng() % 10);
    if (mode == 0 && round > 0) {
      // Kill while recovering (or just after): the recovery itself must be
      // crash-safe (it cuts and zeroes the tail).
      d.start();
      d.kill9();
      ++during_recovery;
      continue;
    }
    d.start_ready();
    std::string problem;
    checked_to = read_and_check(d, &checker, checked_to, &problem);
    ASSERT_EQ(problem, "") << "after kill " << round << " (seed " << seed << ")";

    // Mode 1: kill at once (appends in flight in the first flushes); else
    // after a random number of ACKs.
    const uint64_t threshold = mode == 1 ? 0 : rng() % 4000;
    std::atomic<uint64_t> acked{0};
    std::vector<std::unique_ptr<Loader>> loaders;
    std::vector<std::thread> threads;
    for (uint32_t i = 0; i < kConns; ++i) {
      auto l = std::make_unique<Loader>();
      l->client = i;
      l->round = static_cast<uint32_t>(round);
      l->seed = rng();
      threads.emplace_back(run_loader, d.socket_path(), l.get(), &acked);
      loaders.push_back(std::move(l));
    }
    const bool reached = d.wait_until([&] { return acked.load() >= threshold; }, seconds(60));
    d.kill9();
    for (auto& t : threads) t.join();
    ASSERT_TRUE(reached) << "round " << round << ": " << acked.load() << " of " << threshold
                         << " ACKs in 60 s";
    for (const auto& l : loaders) {
      ASSERT_EQ(l->error, "") << "round " << round << " client " << l->client;
      checker.note_sent({l->round, l->client}, l->sent.load());
      sent_total += l->sent.load();
      for (const auto& [lsn, seq] : l->acked) checker.note_acked(lsn, l->round, l->client, seq);
      acked_total += l->acked.size();
    }
  }

  d.start_ready();
  std::string problem;
  checked_to = read_and_check(d, &checker, checked_to, &problem);
  ASSERT_EQ(problem, "") << "after the last kill (seed " << seed << ")";
  // And the whole log once more, from LSN 1, in one pass.
  checker.restart_scan();
  const uint64_t end = read_and_check(d, &checker, 1, &problem);
  ASSERT_EQ(problem, "") << "full re-check (seed " << seed << ")";
  EXPECT_EQ(end, checked_to);
  EXPECT_EQ(checker.acked_count(), acked_total) << "an LSN was ACKed twice";
  std::printf(
      "crash loop: seed %llu: %llu kills survived (%llu during recovery), %llu records sent, "
      "%llu ACKed, %llu in the log, 0 ACKed records lost\n",
      static_cast<unsigned long long>(seed), static_cast<unsigned long long>(kills),
      static_cast<unsigned long long>(during_recovery), static_cast<unsigned long long>(sent_total),
      static_cast<unsigned long long>(acked_total), static_cast<unsigned long long>(end - 1));
  ::testing::Test::RecordProperty("kills", static_cast<int>(kills));
  ::testing::Test::RecordProperty("acked", static_cast<int>(acked_total));
  EXPECT_GT(acked_total, 0u);
}

TEST(CrashLoop, SigkillAtRandomMomentsLosesNoAckedRecord) { sigkill_loop(false); }

TEST(CrashLoop, SigkillAtRandomMomentsLosesNoAckedRecordWithLeaderFlush) { sigkill_loop(true); }

TEST(CrashLoop, SigkillAtRandomMomentsLosesNoAckedRecordWithEveryLargeGroupOverlapped) {
  sigkill_loop(false, "1");
}

}  // namespace
}  // namespace sidewal::reliability
