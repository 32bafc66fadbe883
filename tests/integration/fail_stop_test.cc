// Fail-stop: once a write fails, appends get IO_FAILED, durable data can
// still be read, /readyz is 503 and /healthz 500 (so Kubernetes restarts the
// container); a restart recovers every acknowledged record.
//
// The failure is real: the test lowers the running daemon's RLIMIT_FSIZE
// with prlimit(), so the kernel refuses the log's next write beyond it with
// EFBIG (sidewald ignores SIGXFSZ).
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <csignal>
#include <map>

#include "tests/support/daemon_harness.h"

namespace sidewal::it {
namespace {

TEST(FailStop, AfterAWriteErrorAppendsFailReadsWorkAndProbesReportIt) {
  TempDir dir;
  DaemonConfig cfg;
  cfg.set("wal", "segment_bytes", "1MiB");
  cfg.set("wal", "max_record_bytes", "64KiB");
  Daemon d(dir.path(), cfg);
  d.start_ready();
  RawClient c(d.socket_path());
  std::map<uint64_t, std::vector<uint8_t>> acked;
  for (uint64_t i = 0; i < 3; ++i) {
    auto p = make_payload(4, i, 1000);
    acked[expect_ack(c.append({TestRecord{.type = 1, .payload = p}})).first_lsn] = p;
  }

  const rlimit lim{256 * 1024, 256 * 1024};
  ASSERT_EQ(::prlimit(d.pid(), RLIMIT_FSIZE, &lim, nullptr), 0) << strerror(errno);

  // Appends succeed until a write crosses the limit, then fail for good.
  std::optional<proto::ErrorReply> first_error;
  for (uint64_t i = 3; i < 200 && !first_error; ++i) {
    auto p = make_payload(4, i, 60 * 1024);
    Frame f = c.append({TestRecord{.type = 1, .payload = p}});
    if (f.opcode() == proto::Opcode::kAck) {
      acked[expect_ack(f).first_lsn] = p;
    } else {
      first_error = expect_error(f);
    }
  }
  ASSERT_TRUE(first_error) << "the size limit never produced a write error";
  EXPECT_EQ(first_error->code, proto::ErrorCode::kIoFailed) << first_error->message;
  Frame again = c.append({TestRecord{.type = 1, .payload = make_payload(4, 999, 10)}});
  EXPECT_EQ(expect_error(again).code, proto::ErrorCode::kIoFailed);

  EXPECT_EQ(c.status().state, 2);
  const auto back = c.read_all(1);  // durable data still reads
  ASSERT_GE(back.size(), acked.size());
  for (const auto& [lsn, p] : acked) EXPECT_EQ(back[lsn - 1].payload, p) << "lsn " << lsn;

  EXPECT_EQ(http_get(d.admin_port(), "/readyz").status, 503);
  const HttpResponse health = http_get(d.admin_port(), "/healthz");
  EXPECT_EQ(health.status, 500);
  EXPECT_NE(health.body.find("\"status\":\"failed\""), std::string::npos) << health.body;
  const std::string metrics = http_get(d.admin_port(), "/metrics").body;
  EXPECT_NE(metrics.find("\nsidewal_ready 0"), std::string::npos);
  EXPECT_NE(metrics.find("sidewal_errors_total{code=\"IO_FAILED\"} 2"), std::string::npos);

  // What a liveness failure leads to: a restart, whose recovery keeps every
  // acknowledged record and accepts appends again.
  d.signal(SIGTERM);
  d.wait_exit();
  d.start_ready();
  RawClient c2(d.socket_path());
  const auto after = c2.read_all(1);
  ASSERT_GE(after.size(), acked.size());
  for (const auto& [lsn, p] : acked) EXPECT_EQ(after[lsn - 1].payload, p) << "lsn " << lsn;
  expect_ack(c2.append({TestRecord{.type = 1, .payload = make_payload(4, 1000, 10)}}));
}

}  // namespace
}  // namespace sidewal::it
