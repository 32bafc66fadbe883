// Page-cache figures for the benchmark: the host's `Cached` from
// /proc/meminfo, sampled on a thread during the run to catch the maximum,
// and the residency of the log's own files (mincore), which O_DIRECT should
// keep near zero.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>

#include "common/mutex.h"
#include "common/status.h"

namespace sidewal::bench {

// Parses the "Cached:" line of /proc/meminfo text, in bytes.
Result<uint64_t> parse_meminfo_cached(std::string_view meminfo);
// Reads `path` and parses it.
Result<uint64_t> read_cached_bytes(const std::string& path = "/proc/meminfo");

// Bytes of the *.wal files under `dir` (recursively) whose pages are resident,
// via a read-only mapping of each file, mincore() and munmap(). A file that
// vanished meanwhile counts as zero. *files (optional) gets the number measured.
Result<uint64_t> wal_resident_bytes(const std::string& dir, uint64_t* files = nullptr);

// Samples `Cached` every `period_ms` on its own thread; the maximum includes
// the first sample (taken at start) and the last (taken at stop).
class CachedSampler {
 public:
  explicit CachedSampler(uint32_t period_ms = 100);
  ~CachedSampler();
  CachedSampler(const CachedSampler&) = delete;
  CachedSampler& operator=(const CachedSampler&) = delete;

  void start();
  void stop() EXCLUDES(mu_);
  uint64_t first() const { return first_; }
  uint64_t last() const { return last_; }
  uint64_t max() const { return max_.load(); }
  uint64_t samples() const { return samples_.load(); }

 private:
  void run() EXCLUDES(mu_);
  void sample();

  uint32_t period_ms_;
  std::thread thread_;
  Mutex mu_;
  CondVar cv_;
  bool stopping_ GUARDED_BY(mu_) = false;
  uint64_t first_ = 0;
  uint64_t last_ = 0;
  std::atomic<uint64_t> max_{0};
  std::atomic<uint64_t> samples_{0};
};

}  // namespace sidewal::bench
