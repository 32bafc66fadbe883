#include "host_memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace sidewal::bench {

Result<uint64_t> parse_meminfo_cached(std::string_view meminfo) {
  size_t pos = 0;
  while (pos < meminfo.size()) {
    size_t end = meminfo.find('\n', pos);
    if (end == std::string_view::npos) end = meminfo.size();
    std::string_view line = meminfo.substr(pos, end - pos);
    pos = end + 1;
    if (!line.starts_with("Cached:")) continue;
    line.remove_prefix(7);
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    uint64_t kib = 0;
    auto [ptr, ec] = std::from_chars(line.data(), line.data() + line.size(), kib);
    std::string_view unit(ptr, static_cast<size_t>(line.data() + line.size() - ptr));
    if (ec != std::errc() || unit != " kB") {
      return Status::Corruption(
          "meminfo: expected 'Cached: <n> kB', got 'Cached:" + std::string(line) + "'");
    }
    return kib * 1024;
  }
  return Status::NotFound("meminfo: no 'Cached:' line");
}

Result<uint64_t> read_cached_bytes(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("cannot open " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_meminfo_cached(ss.str());
}

namespace {

// Resident bytes of one file; 0 if it is empty or gone.
Result<uint64_t> file_resident_bytes(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return uint64_t{0};
    return Status::FromErrno(errno, "open " + path);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::FromErrno(err, "fstat " + path);
  }
  if (st.st_size == 0) {
    ::close(fd);
    return uint64_t{0};
  }
  const size_t len = static_cast<size_t>(st.st_size);
  void* map = ::mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) return Status::FromErrno(errno, "mmap " + path);
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> vec((len + page - 1) / page);
  const int rc = ::mincore(map, len, vec.data());
  const int err = errno;
  ::munmap(map, len);
  if (rc != 0) return Status::FromErrno(err, "mincore " + path);
  uint64_t pages = 0;
  for (unsigned char v : vec) pages += v & 1;
  return pages * page;
}

}  // namespace

Result<uint64_t> wal_resident_bytes(const std::string& dir, uint64_t* files) {
  namespace fs = std::filesystem;
  std::error_code ec;
  uint64_t total = 0, n = 0;
  fs::recursive_directory_iterator it(dir, ec), end;
  if (ec) return Status::NotFound("cannot list " + dir + ": " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) break;  // a directory vanished under us: measure what we saw
    if (!it->is_regular_file(ec) || it->path().extension() != ".wal") continue;
    auto r = file_resident_bytes(it->path().string());
    if (!r.ok()) return r.status();
    total += r.value();
    ++n;
  }
  if (files) *files = n;
  return total;
}

CachedSampler::CachedSampler(uint32_t period_ms) : period_ms_(std::max<uint32_t>(period_ms, 1)) {}

CachedSampler::~CachedSampler() { stop(); }

void CachedSampler::sample() {
  auto r = read_cached_bytes();
  if (!r.ok()) return;  // /proc unreadable: the figures stay 0 and say so
  last_ = r.value();
  if (samples_.fetch_add(1) == 0) first_ = last_;
  uint64_t seen = max_.load();
  while (last_ > seen && !max_.compare_exchange_weak(seen, last_)) {
  }
}

void CachedSampler::start() {
  sample();
  thread_ = std::thread([this] { run(); });
}

void CachedSampler::run() {
  MutexLock lock(mu_);
  while (!stopping_) {
    // A periodic sampler, not a wait for a condition: the period is the point.
    cv_.wait_for(mu_, std::chrono::milliseconds(period_ms_),
                 [this]() REQUIRES(mu_) { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    sample();
    lock.lock();
  }
}

void CachedSampler::stop() {
  if (!thread_.joinable()) return;
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
  sample();
}

}  // namespace sidewal::bench
