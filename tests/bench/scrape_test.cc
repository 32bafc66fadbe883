// Parsing of the daemon's /metrics text and /proc/meminfo, and the mincore
// residency measurement on real files.
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "host_memory.h"
#include "metrics_scrape.h"

namespace sidewal::bench {
namespace {

constexpr const char* kMetrics = R"(# HELP sidewal_group_commit_records Records per flush
# TYPE sidewal_group_commit_records histogram
sidewal_group_commit_records_bucket{le="1"} 3
sidewal_group_commit_records_bucket{le="+Inf"} 10
sidewal_group_commit_records_sum 250
sidewal_group_commit_records_count 10
sidewal_append_records_total 250
sidewal_errors_total{code="MALFORMED"} 2
sidewal_errors_total{code="IO_FAILED"} 1
sidewal_append_records_total_other 9 1700000000000
)";

TEST(MetricsScrape, ReadsPlainAndLabelledSamplesAndSumsLabelSets) {
  EXPECT_EQ(metric_value(kMetrics, "sidewal_append_records_total"), 250.0);
  EXPECT_EQ(metric_value(kMetrics, "sidewal_errors_total"), 3.0);
  EXPECT_EQ(metric_value(kMetrics, "sidewal_append_records_total_other"),
            9.0);  // timestamp dropped
  EXPECT_EQ(metric_value(kMetrics, "sidewal_group_commit_records"),
            std::nullopt);  // only _sum etc.
  EXPECT_EQ(metric_value(kMetrics, "sidewal_missing"), std::nullopt);
}

TEST(MetricsScrape, RecordsPerFlushIsTheDeltaOfSumOverDeltaOfCount) {
  const std::string after =
      "sidewal_group_commit_records_sum 1250\nsidewal_group_commit_records_count 30\n";
  EXPECT_EQ(records_per_flush(kMetrics, after), 50.0);
  EXPECT_EQ(records_per_flush(kMetrics, kMetrics), std::nullopt);  // no flush in between
  EXPECT_EQ(records_per_flush("", after), std::nullopt);
}

TEST(HostMemory, ParsesCachedFromMeminfo) {
  const char* meminfo =
      "MemTotal:       24000000 kB\nBuffers:          1000 kB\n"
      "Cached:           204800 kB\nSwapCached:            0 kB\n";
  auto r = parse_meminfo_cached(meminfo);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r.value(), 204800ull * 1024);
  EXPECT_FALSE(parse_meminfo_cached("MemTotal: 1 kB\n").ok());
  EXPECT_FALSE(parse_meminfo_cached("Cached: lots\n").ok());
  auto live = read_cached_bytes();
  ASSERT_TRUE(live.ok()) << live.status().ToString();
}

TEST(HostMemory, ResidencyCountsOnlyWalFilesAndSeesCachedPages) {
  // In the working directory (the build tree), not /tmp: on a tmpfs /tmp
  // pages cannot be evicted and the second half would not hold.
  const auto dir =
      std::filesystem::current_path() / ("sidewal-bench-residency-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "sub");
  const std::vector<char> data(256 * 1024, 'x');
  for (const char* name : {"a.wal", "sub/b.wal", "other.dat"}) {
    std::ofstream(dir / name, std::ios::binary)
        .write(data.data(), static_cast<std::streamsize>(data.size()));
  }
  // Just written through the page cache: every page of each file is resident
  // (unless the machine evicts them within these microseconds, which a
  // machine with free memory does not).
  uint64_t files = 0;
  auto r = wal_resident_bytes(dir.string(), &files);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(files, 2u);
  EXPECT_EQ(r.value(), 2 * data.size());

  // Evicted with POSIX_FADV_DONTNEED after fdatasync: the pages leave the cache.
  for (const char* name : {"a.wal", "sub/b.wal"}) {
    const int fd = ::open((dir / name).c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::fdatasync(fd), 0);
    ASSERT_EQ(::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    ::close(fd);
  }
  r = wal_resident_bytes(dir.string(), &files);
  ASSERT_TRUE(r.ok());
  EXPECT_LT(r.value(), data.size() / 4);

  EXPECT_FALSE(wal_resident_bytes((dir / "missing").string()).ok());
  std::filesystem::remove_all(dir);
}

TEST(HostMemory, SamplerRecordsFirstLastAndMax) {
  CachedSampler s(1);
  s.start();
  s.stop();
  EXPECT_GE(s.samples(), 2u);  // one at start, one at stop
  EXPECT_GT(s.first(), 0u);
  EXPECT_GE(s.max(), s.first());
  EXPECT_GE(s.max(), s.last());
}

}  // namespace
}  // namespace sidewal::bench
