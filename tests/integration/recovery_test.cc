// While the log recovers, the daemon is up but not ready: /readyz is 503,
// STATUS says recovering, appends get NOT_READY; afterwards /readyz is 200.
// The log is made large (hundreds of MB in small segments) so that recovery
// takes long enough to be observed, and the test asserts that it was.
#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <deque>

#include "tests/support/daemon_harness.h"

namespace sidewal::it {
namespace {

// Fills the log with `bytes` of payload over `conns` pipelined connections.
uint64_t fill(const std::string& socket, uint64_t bytes, int conns) {
  std::atomic<uint64_t> records{0};
  std::vector<std::thread> threads;
  std::string error;
  std::mutex mu;
  const uint64_t per_conn = bytes / conns;
  for (int i = 0; i < conns; ++i) {
    threads.emplace_back([&, i] {
      try {
        RawClient c(socket);
        const std::vector<uint8_t> payload = make_payload(i, 0, 256 * 1024);
        std::vector<TestRecord> batch(3, TestRecord{.type = 1, .payload = payload});
        uint64_t sent = 0;
        std::deque<uint64_t> outstanding;
        while (sent < per_conn || !outstanding.empty()) {
          while (sent < per_conn && outstanding.size() < 8) {
            const uint64_t id = c.next_id();
            c.send_append(id, batch);
            outstanding.push_back(id);
            sent += 3 * payload.size();
          }
          auto f = c.read_frame();
          if (!f || f->header.request_id != outstanding.front()) {
            throw std::runtime_error("bad reply while filling");
          }
          records.fetch_add(expect_ack(*f).count);
          outstanding.pop_front();
        }
      } catch (const std::exception& e) {
        std::lock_guard lock(mu);
        error = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  if (!error.empty()) throw std::runtime_error(error);
  return records.load();
}

TEST(Recovery, ReadyzIs503WhileRecoveringALargeLogAnd200After) {
  TempDir dir;
  DaemonConfig cfg;
  cfg.set("wal", "segment_bytes", "4MiB");
  Daemon d(dir.path(), cfg);
  d.start_ready();
  const uint64_t records = fill(d.socket_path(), 256ull << 20, 4);
  d.signal(SIGTERM);
  ASSERT_EQ(d.wait_exit(), 0);

  d.start();  // returns once the socket and the admin port listen
  RawClient c(d.socket_path());
  bool saw_503 = false;
  bool saw_status_recovering = false;
  bool saw_not_ready = false;
  int readyz = 0;
  const auto deadline = Clock::now() + seconds(120);
  // Poll the real state as fast as the daemon answers until it is ready.
  while (Clock::now() < deadline) {
    readyz = http_get(d.admin_port(), "/readyz").status;
    if (readyz == 200) break;
    if (readyz == 503) saw_503 = true;
    const proto::StatusReply st = c.status();
    if (st.state == 0) {
      saw_status_recovering = true;
      EXPECT_EQ(http_get(d.admin_port(), "/healthz").status, 200);  // alive while recovering
      const Frame f = c.append({TestRecord{.type = 1, .payload = make_payload(1, 1, 10)}});
      // The log may finish recovering between STATUS and APPEND.
      if (f.opcode() == proto::Opcode::kError) {
        EXPECT_EQ(expect_error(f).code, proto::ErrorCode::kNotReady);
        saw_not_ready = true;
      }
    }
  }
  ASSERT_EQ(readyz, 200) << d.output();
  EXPECT_TRUE(saw_503) << "recovery finished before /readyz could be observed at 503";
  EXPECT_TRUE(saw_status_recovering);
  EXPECT_TRUE(saw_not_ready);
  const proto::StatusReply st = c.status();
  EXPECT_EQ(st.state, 1);
  EXPECT_GE(st.durable_lsn, records);  // plus at most the APPEND that raced recovery
  EXPECT_LE(st.durable_lsn, records + 1);
  const std::string metrics = http_get(d.admin_port(), "/metrics").body;
  EXPECT_NE(metrics.find("\nsidewal_ready 1"), std::string::npos);
  const std::string key = "\nsidewal_recovery_duration_seconds ";
  const auto at = metrics.find(key);
  ASSERT_NE(at, std::string::npos);
  const double seconds_taken = std::stod(metrics.substr(at + key.size()));
  EXPECT_GT(seconds_taken, 0);
  std::printf("recovery of %llu records took %.3f s\n", static_cast<unsigned long long>(records),
              seconds_taken);
}

}  // namespace
}  // namespace sidewal::it
