// /metrics is valid Prometheus text exposition and carries every metric
// operators depend on; /healthz and /readyz answer as documented.
#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <sstream>

#include "daemon_harness.h"

namespace sidewal::it {
namespace {

double sample(const std::string& metrics, const std::string& series) {
  const std::string key = "\n" + series + " ";
  const auto at = metrics.find(key);
  if (at == std::string::npos) throw std::runtime_error("no series " + series);
  return std::stod(metrics.substr(at + key.size()));
}

TEST(Metrics, ExpositionParsesAndCarriesEveryMetric) {
  TempDir dir;
  Daemon d(dir.path());
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
  const std::regex type(R"(# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram|summary|untyped))");
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
  for (const char* m :
       {"sidewal_append_records_total", "sidewal_append_bytes_total",
        "sidewal_commit_latency_seconds", "sidewal_fsync_duration_seconds",
        "sidewal_group_commit_records", "sidewal_dwb_bytes_written_total",
        "sidewal_dwb_restores_total", "sidewal_page_cache_bytes", "sidewal_wal_resident_bytes",
        "sidewal_durable_lsn", "sidewal_first_lsn", "sidewal_segments", "sidewal_disk_bytes",
        "sidewal_ready", "sidewal_recovery_duration_seconds", "sidewal_connections",
        "sidewal_errors_total", "sidewal_io_backend_info"}) {
    EXPECT_TRUE(names.count(m)) << "missing metric " << m;
  }
  EXPECT_EQ(sample(body, "sidewal_append_records_total"), 100);
  EXPECT_EQ(sample(body, "sidewal_append_bytes_total"), static_cast<double>(payload_bytes));
  EXPECT_EQ(sample(body, "sidewal_commit_latency_seconds_count"), 100);
  EXPECT_GE(sample(body, "sidewal_fsync_duration_seconds_count"), 1);
  EXPECT_EQ(sample(body, "sidewal_group_commit_records_sum"), 100);
  EXPECT_EQ(sample(body, "sidewal_durable_lsn"), 100);
  EXPECT_EQ(sample(body, "sidewal_first_lsn"), 1);
  EXPECT_GE(sample(body, "sidewal_segments"), 1);
  EXPECT_GT(sample(body, "sidewal_disk_bytes"), 0);
  EXPECT_GT(sample(body, "sidewal_page_cache_bytes"), 0);
  EXPECT_EQ(sample(body, "sidewal_ready"), 1);
  EXPECT_EQ(sample(body, "sidewal_connections"), 1);
  EXPECT_EQ(sample(body, "sidewal_errors_total{code=\"MALFORMED\"}"), 0);
  EXPECT_TRUE(std::regex_search(body, std::regex(R"re(\nsidewal_io_backend_info\{backend="(io_uring|pwrite)"\} 1)re")))
      << body;
  // O_DIRECT keeps the log's pages out of the page cache: far less than the
  // log's size is resident (the engine may read through the cache at most a
  // little, e.g. its preamble).
  EXPECT_LT(sample(body, "sidewal_wal_resident_bytes"), sample(body, "sidewal_disk_bytes") / 2);

  const HttpResponse health = http_get(d.admin_port(), "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_NE(health.body.find("\"status\":\"ok\""), std::string::npos);
  EXPECT_EQ(http_get(d.admin_port(), "/readyz").status, 200);
  EXPECT_EQ(http_get(d.admin_port(), "/nope").status, 404);
}

}  // namespace
}  // namespace sidewal::it
