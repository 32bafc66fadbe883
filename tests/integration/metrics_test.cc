// /metrics is valid Prometheus text exposition and carries every metric
// operators depend on; /healthz and /readyz answer as documented; the
// daemon's state (sidewal_state{state}) follows its real transitions:
// recovering while the log opens, ready, failed after a real write error,
// draining after SIGTERM, always exactly one of them, and always what
// /readyz says.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/statvfs.h>

#include <csignal>
#include <deque>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "tests/support/daemon_harness.h"

namespace sidewal::it {
namespace {

double sample(const std::string& metrics, const std::string& series) {
  const std::string key = "\n" + series + " ";
  const auto at = metrics.find(key);
  if (at == std::string::npos) throw std::runtime_error("no series " + series);
  return std::stod(metrics.substr(at + key.size()));
}

const char* const kStates[] = {"recovering", "ready", "failed", "draining"};

// The state whose sidewal_state series is 1; fails the test unless exactly
// one of the four is 1 and the others 0, and sidewal_ready agrees.
std::string only_state(const std::string& metrics) {
  std::string current;
  int ones = 0;
  for (const char* st : kStates) {
    const double v = sample(metrics, std::string("sidewal_state{state=\"") + st + "\"}");
    EXPECT_TRUE(v == 0 || v == 1) << st << " = " << v;
    if (v == 1) {
      ++ones;
      current = st;
    }
  }
  EXPECT_EQ(ones, 1) << metrics;
  EXPECT_EQ(sample(metrics, "sidewal_ready"), current == "ready" ? 1 : 0) << current;
  return current;
}

std::string state_now(uint16_t admin_port) {
  const HttpResponse res = http_get(admin_port, "/metrics");
  if (res.status != 200)
    throw std::runtime_error("/metrics answered " + std::to_string(res.status));
  return only_state(res.body);
}

// The "state" field of /readyz's JSON body.
std::string readyz_state(uint16_t admin_port) {
  const std::string body = http_get(admin_port, "/readyz").body;
  std::smatch m;
  if (!std::regex_search(body, m, std::regex(R"re("state":"([a-z]+)")re"))) return "? " + body;
  return m[1];
}

// The `le` values of a histogram's buckets, in exposition order.
std::vector<std::string> bucket_bounds(const std::string& metrics, const std::string& histogram) {
  std::vector<std::string> out;
  const std::regex re("\n" + histogram + R"re(_bucket\{le="([^"]+)"\})re");
  for (auto it = std::sregex_iterator(metrics.begin(), metrics.end(), re);
       it != std::sregex_iterator(); ++it) {
    out.push_back((*it)[1]);
  }
  return out;
}

TEST(Metrics, ExpositionParsesAndCarriesEveryMetric) {
  TempDir dir;
  DaemonConfig cfg;
  cfg.set("wal", "segment_bytes", "4MiB");
  Daemon d(dir.path(), cfg);
  d.start_ready();
  RawClient c(d.socket_path());
  uint64_t payload_bytes = 0;
  for (int i = 0; i < 100; ++i) {
    auto p = make_payload(1, i, 100 + i);
    payload_bytes += p.size();
    expect_ack(c.append({TestRecord{.type = 1, .payload = p}}));
  }
  const HttpResponse res = http_get(d.admin_port(), "/metrics");
  ASSERT_EQ(res.status, 200);
  const std::string& body = res.body;

  // Text exposition format 0.0.4: comments, or `name{labels} value`.
  const std::regex help(R"(# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*)");
  const std::regex type(
      R"(# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram|summary|untyped))");
  const std::regex sample_line(
      R"re([a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*"(,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")*,?\})? (-?[0-9.eE+-]+|\+Inf|-Inf|NaN)( -?[0-9]+)?)re");
  std::set<std::string> names;
  std::istringstream in(body);
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    ++lines;
    if (line.empty()) continue;
    if (line.rfind("# HELP", 0) == 0) {
      EXPECT_TRUE(std::regex_match(line, help)) << line;
    } else if (line.rfind("# TYPE", 0) == 0) {
      EXPECT_TRUE(std::regex_match(line, type)) << line;
      names.insert(line.substr(7, line.find(' ', 7) - 7));
    } else {
      EXPECT_TRUE(std::regex_match(line, sample_line)) << line;
    }
  }
  EXPECT_GT(lines, 50);
  for (const char* m : {"sidewal_append_records_total",
                        "sidewal_append_bytes_total",
                        "sidewal_commit_latency_seconds",
                        "sidewal_flush_duration_seconds",
                        "sidewal_group_commit_records",
                        "sidewal_dwb_bytes_written_total",
                        "sidewal_dwb_restores_total",
                        "sidewal_overlapped_flushes_total",
                        "sidewal_page_cache_bytes",
                        "sidewal_wal_resident_bytes",
                        "sidewal_durable_lsn",
                        "sidewal_first_lsn",
                        "sidewal_segments",
                        "sidewal_disk_bytes",
                        "sidewal_segment_size_bytes",
                        "sidewal_volume_size_bytes",
                        "sidewal_volume_available_bytes",
                        "sidewal_ready",
                        "sidewal_state",
                        "sidewal_recovery_duration_seconds",
                        "sidewal_connections",
                        "sidewal_errors_total",
                        "sidewal_io_backend_info"}) {
    EXPECT_TRUE(names.count(m)) << "missing metric " << m;
  }
  EXPECT_EQ(sample(body, "sidewal_append_records_total"), 100);
  EXPECT_EQ(sample(body, "sidewal_append_bytes_total"), static_cast<double>(payload_bytes));
  EXPECT_EQ(sample(body, "sidewal_commit_latency_seconds_count"), 100);
  EXPECT_GE(sample(body, "sidewal_flush_duration_seconds_count"), 1);
  EXPECT_EQ(sample(body, "sidewal_flush_duration_seconds_count"),
            sample(body, "sidewal_group_commit_records_count"));  // one observation per flush
  EXPECT_EQ(sample(body, "sidewal_group_commit_records_sum"), 100);
  EXPECT_EQ(sample(body, "sidewal_durable_lsn"), 100);
  EXPECT_EQ(sample(body, "sidewal_first_lsn"), 1);
  EXPECT_GE(sample(body, "sidewal_segments"), 1);
  EXPECT_GT(sample(body, "sidewal_disk_bytes"), 0);
  EXPECT_GT(sample(body, "sidewal_page_cache_bytes"), 0);
  EXPECT_EQ(sample(body, "sidewal_ready"), 1);
  EXPECT_EQ(only_state(body), "ready");
  EXPECT_EQ(sample(body, "sidewal_segment_size_bytes"), 4 << 20);
  EXPECT_EQ(sample(body, "sidewal_connections"), 1);
  EXPECT_EQ(sample(body, "sidewal_errors_total{code=\"MALFORMED\"}"), 0);
  EXPECT_TRUE(std::regex_search(
      body, std::regex(R"re(\nsidewal_io_backend_info\{backend="(io_uring|pwrite)"\} 1)re")))
      << body;
  // Both latency histograms bracket 1 ms finely, with 1 ms itself a boundary
  // (the alert counts commits above le="0.001").
  const std::vector<std::string> bounds = {"5e-05",   "0.0001", "0.0002", "0.0003", "0.0004",
                                           "0.0005",  "0.0007", "0.0008", "0.0009", "0.001",
                                           "0.00125", "0.0015", "0.002",  "0.0025", "0.003",
                                           "0.004",   "0.005",  "0.01",   "0.025",  "0.05",
                                           "0.1",     "0.25",   "0.5",    "1",      "+Inf"};
  EXPECT_EQ(bucket_bounds(body, "sidewal_commit_latency_seconds"), bounds);
  EXPECT_EQ(bucket_bounds(body, "sidewal_flush_duration_seconds"), bounds);
  EXPECT_LE(sample(body, "sidewal_commit_latency_seconds_bucket{le=\"0.001\"}"), 100);

  // The volume's capacity is statvfs of the data directory: the size is the
  // file system's, free space is what an unprivileged writer may allocate.
  struct statvfs v {};
  ASSERT_EQ(::statvfs(d.data_dir().c_str(), &v), 0);
  EXPECT_EQ(sample(body, "sidewal_volume_size_bytes"),
            static_cast<double>(v.f_blocks) * v.f_frsize);
  const double available = sample(body, "sidewal_volume_available_bytes");
  EXPECT_GT(available, 0);
  EXPECT_LE(available, sample(body, "sidewal_volume_size_bytes"));
  // Other processes write to the same file system meanwhile: close, not equal.
  EXPECT_NEAR(available, static_cast<double>(v.f_bavail) * v.f_frsize, 1024.0 * 1024 * 1024);

  // O_DIRECT keeps the log's pages out of the page cache: far less than the
  // log's size is resident (the engine may read through the cache at most a
  // little, e.g. its preamble).
  EXPECT_LT(sample(body, "sidewal_wal_resident_bytes"), sample(body, "sidewal_disk_bytes") / 2);

  const HttpResponse health = http_get(d.admin_port(), "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_NE(health.body.find("\"status\":\"ok\""), std::string::npos);
  EXPECT_EQ(http_get(d.admin_port(), "/readyz").status, 200);
  EXPECT_EQ(readyz_state(d.admin_port()), "ready");
  EXPECT_EQ(http_get(d.admin_port(), "/nope").status, 404);
}

// Fills the log with `bytes` of 256 KiB records, 4 to an APPEND, 8 APPENDs in
// flight.
void fill(const std::string& socket, uint64_t bytes) {
  RawClient c(socket);
  const std::vector<uint8_t> payload = make_payload(7, 0, 256 * 1024);
  const std::vector<TestRecord> batch(4, TestRecord{.type = 1, .payload = payload});
  uint64_t sent = 0;
  std::deque<uint64_t> outstanding;
  while (sent < bytes || !outstanding.empty()) {
    while (sent < bytes && outstanding.size() < 8) {
      const uint64_t id = c.next_id();
      c.send_append(id, batch);
      outstanding.push_back(id);
      sent += batch.size() * payload.size();
    }
    auto f = c.read_frame();
    if (!f || f->header.request_id != outstanding.front()) {
      throw std::runtime_error("bad reply while filling");
    }
    expect_ack(*f);
    outstanding.pop_front();
  }
}

TEST(Metrics, StateIsRecoveringWhileTheLogOpensThenReady) {
  TempDir dir;
  DaemonConfig cfg;
  cfg.set("wal", "segment_bytes", "4MiB");
  Daemon d(dir.path(), cfg);
  d.start_ready();
  // Large enough that recovery lasts long enough for scrapes to see it (the
  // size Recovery.ReadyzIs503WhileRecoveringALargeLogAnd200After relies on).
  fill(d.socket_path(), 256ull << 20);
  d.signal(SIGTERM);
  ASSERT_EQ(d.wait_exit(), 0);

  d.start();  // returns once the admin port listens, before recovery ends
  std::vector<std::string> seen;
  const auto deadline = Clock::now() + seconds(120);
  while (Clock::now() < deadline) {
    // /readyz first: the state only moves forward, so once /readyz said 200
    // the scrape after it must say ready.
    const int readyz = http_get(d.admin_port(), "/readyz").status;
    const HttpResponse m = http_get(d.admin_port(), "/metrics");
    ASSERT_EQ(m.status, 200);
    const std::string st = only_state(m.body);
    if (readyz == 200) {
      EXPECT_EQ(st, "ready");
    }
    if (seen.empty() || seen.back() != st) seen.push_back(st);
    if (st != "recovering") break;
  }
  const std::vector<std::string> expected = {"recovering", "ready"};
  EXPECT_EQ(seen, expected) << "recovery ended before a scrape could see it, or a state was wrong";
  EXPECT_EQ(http_get(d.admin_port(), "/readyz").status, 200);
  EXPECT_EQ(readyz_state(d.admin_port()), "ready");
}

TEST(Metrics, StateIsFailedAfterAFlushFailsAndReadyzSaysTheSame) {
  // The real write error of fail_stop_test.cc: a lowered RLIMIT_FSIZE makes
  // the kernel refuse the log's next write beyond it (EFBIG).
  TempDir dir;
  DaemonConfig cfg;
  cfg.set("wal", "segment_bytes", "1MiB");
  cfg.set("wal", "max_record_bytes", "64KiB");
  Daemon d(dir.path(), cfg);
  d.start_ready();
  EXPECT_EQ(state_now(d.admin_port()), "ready");
  RawClient c(d.socket_path());
  const rlimit lim{256 * 1024, 256 * 1024};
  ASSERT_EQ(::prlimit(d.pid(), RLIMIT_FSIZE, &lim, nullptr), 0) << strerror(errno);
  bool failed = false;
  for (uint64_t i = 0; i < 200 && !failed; ++i) {
    failed = c.append({TestRecord{.type = 1, .payload = make_payload(4, i, 60 * 1024)}}).opcode() ==
             proto::Opcode::kError;
  }
  ASSERT_TRUE(failed) << "the size limit never produced a write error";

  EXPECT_EQ(state_now(d.admin_port()), "failed");
  EXPECT_EQ(http_get(d.admin_port(), "/readyz").status, 503);
  EXPECT_EQ(readyz_state(d.admin_port()), "failed");
  EXPECT_EQ(http_get(d.admin_port(), "/healthz").status, 500);
}

TEST(Metrics, StateIsDrainingWhileSigtermWaitsForAReadToFinish) {
  TempDir dir;
  Daemon d(dir.path());
  d.start_ready();
  {
    RawClient w(d.socket_path());
    for (int i = 0; i < 8; ++i) {
      const std::vector<TestRecord> batch(16, TestRecord{.type = 1,
                                                         .payload = make_payload(3, i, 64 * 1024)});
      expect_ack(w.append(batch));
    }
  }
  // A plain READ of the whole 8 MiB log to a client that stops reading: the
  // daemon queues at most 1 MiB plus what the socket buffers hold, so the
  // READ, which a drain lets finish, stays in progress.
  RawClient r(d.socket_path());
  int small = 32 * 1024;
  ASSERT_EQ(setsockopt(r.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
  std::vector<uint8_t> frame;
  proto::encode_read(r.next_id(), proto::ReadRequest{.from_lsn = 1}, &frame);
  ASSERT_TRUE(r.send(frame));
  auto first = r.read_frame();  // the daemon has the READ (a drain would not take it now)
  ASSERT_TRUE(first);
  ASSERT_EQ(first->opcode(), proto::Opcode::kRecords) << describe(*first);

  EXPECT_EQ(state_now(d.admin_port()), "ready");
  d.signal(SIGTERM);
  std::string st;
  ASSERT_TRUE(
      d.wait_until([&] { return (st = state_now(d.admin_port())) == "draining"; }, seconds(20)))
      << "last state " << st << "\n"
      << d.output();
  EXPECT_EQ(http_get(d.admin_port(), "/readyz").status, 503);
  EXPECT_EQ(readyz_state(d.admin_port()), "draining");
  EXPECT_EQ(http_get(d.admin_port(), "/healthz").status, 200);

  // Reading the rest lets the READ end; the daemon then finishes its drain.
  for (;;) {
    auto f = r.read_frame();
    ASSERT_TRUE(f) << "connection closed before END";
    if (f->opcode() == proto::Opcode::kEnd) break;
    ASSERT_EQ(f->opcode(), proto::Opcode::kRecords) << describe(*f);
  }
  EXPECT_EQ(d.wait_exit(), 0);
}

// A follower whose process dies leaves a half-closed-looking connection (EOF,
// no pending read). The daemon must still close it when a write to it fails,
// count it out of sidewal_connections, and let SIGTERM end the daemon: it
// used to drop such a connection without closing it and never exit.
TEST(Metrics, AKilledFollowerIsClosedAtTheNextWriteAndSigtermStillEndsTheDaemon) {
  TempDir dir;
  Daemon d(dir.path());
  d.start_ready();
  const std::vector<TestRecord> one{TestRecord{.type = 1, .payload = make_payload(4, 0, 100)}};
  {
    RawClient w(d.socket_path());
    expect_ack(w.append(one));
  }
  {
    RawClient f(d.socket_path());
    std::vector<uint8_t> frame;
    proto::encode_read(f.next_id(), proto::ReadRequest{.from_lsn = 1, .follow = 1}, &frame);
    ASSERT_TRUE(f.send(frame));
    auto first = f.read_frame();
    ASSERT_TRUE(first);
    ASSERT_EQ(first->opcode(), proto::Opcode::kRecords) << describe(*first);
  }  // the follower's socket closes here, as when its process is killed
  auto connections = [&] {
    return sample(http_get(d.admin_port(), "/metrics").body, "sidewal_connections");
  };
  {
    RawClient w(d.socket_path());
    expect_ack(w.append(one));  // the follower's next RECORDS write fails
  }
  ASSERT_TRUE(d.wait_until([&] { return connections() == 0; }, seconds(20))) << d.output();
  d.signal(SIGTERM);
  EXPECT_EQ(d.wait_exit(seconds(20)), 0) << d.output();
}

}  // namespace
}  // namespace sidewal::it
