// Disk faults under the real sidewald, injected by the LD_PRELOAD shim
// (tools/faultshim, control files in a directory). The daemon runs with
// `wal.io_backend: pwrite`: io_uring submissions are raw syscalls the shim
// cannot see. Each test checks what docs/protocol.md and docs/operations.md
// promise for the fault, then restarts the daemon WITHOUT the shim and
// checks the whole log (LogChecker): nothing ACKed lost, nothing invented.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>

#include "log_checker.h"
#include "tests/support/daemon_harness.h"

namespace sidewal::reliability {
namespace {

using it::Daemon;
using it::DaemonConfig;
using it::Frame;
using it::RawClient;
using it::TempDir;
using it::TestRecord;
using it::seconds;

class DiskFaults : public ::testing::Test {
 protected:
  void SetUp() override {
    ctl_ = dir_.path() + "/faults";
    ASSERT_EQ(::mkdir(ctl_.c_str(), 0755), 0);
    cfg_.set("wal", "io_backend", "pwrite");
    cfg_.set("wal", "segment_bytes", "1MiB");
    cfg_.set("wal", "max_record_bytes", "64KiB");
  }

  // Starts sidewald with the shim preloaded (environment set only around
  // the fork: the test process itself is not affected).
  void start_with_shim(Daemon& d) {
    ::setenv("LD_PRELOAD", FAULTSHIM_PATH, 1);
    ::setenv("SIDEWAL_FAULTSHIM_DIR", ctl_.c_str(), 1);
    // Under ASan the preloaded shim comes before the ASan runtime.
    const char* asan = std::getenv("ASAN_OPTIONS");
    const std::string saved_asan = asan ? asan : "";
    ::setenv("ASAN_OPTIONS",
             (saved_asan + (saved_asan.empty() ? "" : ":") + "verify_asan_link_order=0").c_str(),
             1);
    d.start_ready();
    ::unsetenv("LD_PRELOAD");
    ::unsetenv("SIDEWAL_FAULTSHIM_DIR");
    if (asan) {
      ::setenv("ASAN_OPTIONS", saved_asan.c_str(), 1);
    } else {
      ::unsetenv("ASAN_OPTIONS");
    }
  }
  void fault_on(const std::string& name) { std::ofstream(ctl_ + "/" + name) << "on\n"; }
  void fault_off(const std::string& name) { ::unlink((ctl_ + "/" + name).c_str()); }
  // How many times the shim injected `name` (its "injected" log).
  int injected(const std::string& name) {
    std::ifstream in(ctl_ + "/injected");
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
      if (line.rfind(name + " ", 0) == 0) ++n;
    }
    return n;
  }

  // One APPEND of `n` tagged records of `len` bytes; returns the reply.
  // `refusal_never_lands`: an ERROR reply means the records were never
  // written (NO_SPACE before any write), so the next batch may reuse their
  // numbers.
  Frame append(RawClient& c, uint16_t n, size_t len, bool refusal_never_lands = false) {
    std::vector<TestRecord> recs(n);
    for (uint16_t i = 0; i < n; ++i) {
      PayloadTag t{client_, round_, seq_ + i, batch_, i, n};
      recs[i].type = static_cast<uint16_t>(client_);
      recs[i].tenant = round_;
      recs[i].payload = make_tagged_payload(t, len);
    }
    checker_.note_sent({round_, client_}, seq_ + n);
    Frame f = c.append(recs);
    if (f.opcode() == proto::Opcode::kAck) {
      const proto::Ack a = it::expect_ack(f);
      EXPECT_EQ(a.count, n);
      for (uint16_t i = 0; i < n; ++i)
        checker_.note_acked(a.first_lsn + i, round_, client_, seq_ + i);
      seq_ += n;
      ++batch_;
    } else if (!refusal_never_lands) {
      // Refused: the next batch reuses the numbers only if this one can
      // never appear. After a failed flush it may (written, sync failed),
      // so move on to a new sender then.
      ++client_;
      seq_ = 0;
      batch_ = 0;
    }
    return f;
  }

  // Restarts without the shim and checks the whole log.
  void restart_clean_and_check(Daemon& d) {
    if (d.running()) d.kill9();
    d.start_ready();
    RawClient c(d.socket_path());
    const auto st = c.status();
    const auto back = c.read_all(st.first_lsn);
    std::vector<ReadBack> view;
    for (const auto& r : back) view.push_back(ReadBack{r.lsn, r.type, r.tenant, r.payload});
    checker_.restart_scan();
    EXPECT_EQ(checker_.check(1, view), "");
    EXPECT_EQ(back.size(), st.durable_lsn);
    EXPECT_GT(checker_.acked_count(), 0u);
  }

  TempDir dir_;
  std::string ctl_;
  DaemonConfig cfg_;
  LogChecker checker_;
  uint32_t client_ = 0, round_ = 0;
  uint64_t seq_ = 0, batch_ = 0;
};

uint16_t error_code(const Frame& f) { return static_cast<uint16_t>(it::expect_error(f).code); }

// The failed-fdatasync scenario, with the I/O backend `backend` asks for.
class DiskFaultsSync : public DiskFaults {
 protected:
  void eio_on_fdatasync_fail_stops(const std::string& backend);
};

// pwrite: the backend the other tests here use.
TEST_F(DiskFaultsSync, EioOnFdatasyncFailStopsAsDocumentedAndLosesNothingAcked) {
  eio_on_fdatasync_fail_stops("pwrite");
}

// io_uring writes through its ring, but calls fdatasync(2) itself on the
// flushing thread (io_uring_backend.cc), so the shim reaches it too: the
// default backend's failed flush fail-stops the same way.
TEST_F(DiskFaultsSync, EioOnFdatasyncWithIoUringFailStopsTheSame) {
  eio_on_fdatasync_fail_stops("io_uring");
}

void DiskFaultsSync::eio_on_fdatasync_fail_stops(const std::string& backend) {
  // "auto" for io_uring: where the kernel refuses io_uring the daemon falls
  // back to pwrite, and the test says so instead of failing to start.
  cfg_.set("wal", "io_backend", backend == "io_uring" ? "auto" : backend);
  Daemon d(dir_.path(), cfg_);
  start_with_shim(d);
  // /readyz (start_with_shim waits for it) says ready only once the
  // recovery's metrics are set, the backend's info among them.
  const std::string info = "sidewal_io_backend_info{backend=\"";
  const std::string metrics = it::http_get(d.admin_port(), "/metrics").body;
  ASSERT_NE(metrics.find(info), std::string::npos) << metrics;
  if (metrics.find(info + backend + "\"} 1") == std::string::npos) {
    GTEST_SKIP() << "the daemon did not choose " << backend << " here";
  }
  RawClient c(d.socket_path());
  for (int i = 0; i < 50; ++i) ASSERT_EQ(append(c, 3, 200).opcode(), proto::Opcode::kAck);

  fault_on("fdatasync-eio");
  Frame f = append(c, 2, 200);
  ASSERT_EQ(f.opcode(), proto::Opcode::kError) << it::describe(f);
  EXPECT_EQ(error_code(f), static_cast<uint16_t>(proto::ErrorCode::kIoFailed));
  EXPECT_GE(injected("fdatasync-eio"), 1);
  fault_off("fdatasync-eio");  // the disk is fine again: the log must stay failed

  // Fail-stop (docs/protocol.md, docs/operations.md "Fail-stop behaviour").
  Frame again = append(c, 1, 100);
  ASSERT_EQ(again.opcode(), proto::Opcode::kError);
  EXPECT_EQ(error_code(again), static_cast<uint16_t>(proto::ErrorCode::kIoFailed));
  RawClient other(d.socket_path());  // a new connection sees the same
  Frame f3 = append(other, 1, 100);
  ASSERT_EQ(f3.opcode(), proto::Opcode::kError);
  EXPECT_EQ(error_code(f3), static_cast<uint16_t>(proto::ErrorCode::kIoFailed));
  const auto st = other.status();
  EXPECT_EQ(st.state, 2);
  EXPECT_GE(st.durable_lsn, 150u);
  const auto durable = other.read_all(1);  // reads of durable data still work
  EXPECT_EQ(durable.size(), st.durable_lsn);
  EXPECT_EQ(it::http_get(d.admin_port(), "/readyz").status, 503);
  const auto health = it::http_get(d.admin_port(), "/healthz");
  EXPECT_EQ(health.status, 500);
  EXPECT_NE(health.body.find("failed"), std::string::npos) << health.body;

  restart_clean_and_check(d);
}

TEST_F(DiskFaults, EnospcForNewSegmentsRefusesAppendsKeepsServingAndResumes) {
  Daemon d(dir_.path(), cfg_);
  start_with_shim(d);
  RawClient c(d.socket_path());
  ASSERT_EQ(append(c, 2, 1000).opcode(), proto::Opcode::kAck);
  fault_on("enospc");
  // Fill segments until one is needed that cannot be created (the spare made
  // before the fault may still take one rollover). 16 KiB per APPEND: a
  // 1 MiB segment holds ~60; stop at 8 MiB.
  bool refused = false;
  for (int i = 0; i < 512 && !refused; ++i) {
    Frame f = append(c, 4, 4000, /*refusal_never_lands=*/true);
    if (f.opcode() == proto::Opcode::kError) {
      ASSERT_EQ(error_code(f), static_cast<uint16_t>(proto::ErrorCode::kNoSpace))
          << it::describe(f);
      refused = true;
    }
  }
  ASSERT_TRUE(refused) << "no NO_SPACE after 8 MiB with ENOSPC on every new segment";
  EXPECT_GE(injected("enospc"), 1);

  // The daemon stays up: reads, STATUS (ready), probes.
  const auto st = c.status();
  EXPECT_EQ(st.state, 1);
  EXPECT_EQ(c.read_all(1).size(), st.durable_lsn);
  EXPECT_EQ(it::http_get(d.admin_port(), "/healthz").status, 200);
  EXPECT_EQ(it::http_get(d.admin_port(), "/readyz").status, 200);
  // Still full: the same APPEND is refused again; a small one that still
  // fits in the current segment is ACKed (docs/format.md, ENOSPC policy).
  Frame again = append(c, 4, 4000, /*refusal_never_lands=*/true);
  ASSERT_EQ(again.opcode(), proto::Opcode::kError);
  EXPECT_EQ(error_code(again), static_cast<uint16_t>(proto::ErrorCode::kNoSpace));
  Frame small = append(c, 1, 100);
  EXPECT_EQ(small.opcode(), proto::Opcode::kAck) << it::describe(small);

  // Space returns: appends resume by themselves.
  fault_off("enospc");
  for (int i = 0; i < 80; ++i) {
    Frame f = append(c, 4, 4000);
    ASSERT_EQ(f.opcode(), proto::Opcode::kAck)
        << "APPEND " << i << " after space returned: " << it::describe(f);
  }
  EXPECT_EQ(c.status().state, 1);
  restart_clean_and_check(d);
}

TEST_F(DiskFaults, EnospcOnADataWriteFailStopsWithNoSpace) {
  Daemon d(dir_.path(), cfg_);
  start_with_shim(d);
  RawClient c(d.socket_path());
  for (int i = 0; i < 20; ++i) ASSERT_EQ(append(c, 2, 500).opcode(), proto::Opcode::kAck);
  fault_on("enospc-data");
  Frame f = append(c, 2, 500);
  ASSERT_EQ(f.opcode(), proto::Opcode::kError);
  EXPECT_EQ(error_code(f), static_cast<uint16_t>(proto::ErrorCode::kNoSpace)) << it::describe(f);
  EXPECT_GE(injected("enospc-data"), 1);
  fault_off("enospc-data");
  // docs/operations.md: a failed data write fail-stops; the code says why.
  Frame again = append(c, 1, 100);
  ASSERT_EQ(again.opcode(), proto::Opcode::kError);
  EXPECT_EQ(error_code(again), static_cast<uint16_t>(proto::ErrorCode::kNoSpace));
  EXPECT_EQ(c.status().state, 2);
  EXPECT_EQ(it::http_get(d.admin_port(), "/readyz").status, 503);
  EXPECT_EQ(c.read_all(1).size(), 40u);
  restart_clean_and_check(d);
}

TEST_F(DiskFaults, ShortWritesEagainAndEintrAreResumedNeverReportedAsDone) {
  Daemon d(dir_.path(), cfg_);
  start_with_shim(d);
  RawClient c(d.socket_path());
  fault_on("short");
  fault_on("eagain");
  fault_on("eintr");
  std::mt19937 rng(5);
  for (int i = 0; i < 120; ++i) {
    // Records up to 20 KiB: flushes of several pages, so "short" splits them.
    Frame f = append(c, static_cast<uint16_t>(1 + rng() % 4), kMinPayload + rng() % 20000);
    ASSERT_EQ(f.opcode(), proto::Opcode::kAck) << "APPEND " << i << ": " << it::describe(f);
  }
  EXPECT_GE(injected("short"), 10);
  EXPECT_GE(injected("eagain"), 10);
  EXPECT_GE(injected("eintr"), 10);
  // What the daemon reads back (its pages were written in pieces) is exact.
  {
    const auto back = c.read_all(1);
    std::vector<ReadBack> view;
    for (const auto& r : back) view.push_back(ReadBack{r.lsn, r.type, r.tenant, r.payload});
    EXPECT_EQ(checker_.check(1, view), "");
  }
  restart_clean_and_check(d);
}

}  // namespace
}  // namespace sidewal::reliability
