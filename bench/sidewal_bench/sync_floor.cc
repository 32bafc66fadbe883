#include "sync_floor.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstring>
#include <memory>

#include "clock.h"

namespace sidewal::bench {

namespace {

// The file, closed and removed however we leave.
struct FloorFile {
  std::string path;
  int fd = -1;
  ~FloorFile() {
    if (fd >= 0) ::close(fd);
    if (!path.empty()) ::unlink(path.c_str());
  }
};

Status write_all(int fd, const uint8_t* buf, size_t len, uint64_t offset) {
  const ssize_t n = ::pwrite(fd, buf, len, static_cast<off_t>(offset));
  if (n < 0) return Status::FromErrno(errno, "pwrite");
  // O_DIRECT writes of whole pages to a regular file are not short.
  if (static_cast<size_t>(n) != len) return Status::IoError("short O_DIRECT pwrite");
  return Status::Ok();
}

}  // namespace

uint64_t record_ideal_acks(std::span<const SyncCycle> cycles, double rate, uint64_t from_ns,
                           uint64_t to_ns, LatencyHistogram* out) {
  if (rate <= 0 || cycles.empty()) return 0;
  const double gap_ns = 1e9 / rate;
  uint64_t recorded = 0;
  size_t c = 0;
  for (uint64_t i = 0;; ++i) {
    const auto at = from_ns + static_cast<uint64_t>(static_cast<double>(i) * gap_ns);
    if (at >= to_ns) break;
    while (c < cycles.size() && cycles[c].start_ns < at) ++c;
    if (c == cycles.size()) break;
    out->record(cycles[c].end_ns - at);
    ++recorded;
  }
  return recorded;
}

Result<SyncFloorResult> run_sync_floor(const SyncFloorOptions& o) {
  if (o.duration_s <= 0 || o.warmup_s < 0 || o.rate <= 0) {
    return Status::InvalidArgument("sync floor: duration and rate must be > 0, warmup >= 0");
  }
  const std::string dir = temp_dir_or(o.dir);
  FloorFile f;
  std::string tmpl = dir + "/sidewal-sync-floor.XXXXXX";
  const int made = ::mkstemp(tmpl.data());
  if (made < 0) return Status::FromErrno(errno, "mkstemp in " + dir);
  ::close(made);
  f.path = tmpl;
  f.fd = ::open(f.path.c_str(), O_RDWR | O_DIRECT);
  if (f.fd < 0) return Status::FromErrno(errno, "open with O_DIRECT " + f.path);

  // Written (not only allocated) beforehand, as fio --overwrite=1 lays its
  // file out: a sync then has no extent conversion to commit.
  constexpr size_t kChunk = 1u << 20;
  void* raw = nullptr;
  if (::posix_memalign(&raw, 4096, kChunk) != 0) return Status::IoError("posix_memalign");
  std::unique_ptr<uint8_t, decltype(&::free)> buf(static_cast<uint8_t*>(raw), &::free);
  std::memset(buf.get(), 0, kChunk);
  for (uint64_t off = 0; off < kSyncFloorFileBytes; off += kChunk) {
    SIDEWAL_RETURN_IF_ERROR(write_all(f.fd, buf.get(), kChunk, off));
  }
  if (::fdatasync(f.fd) != 0) return Status::FromErrno(errno, "fdatasync " + f.path);
  std::memset(buf.get(), 'x', kSyncFloorWriteBytes);

  SyncFloorResult r;
  r.options = o;
  std::vector<SyncCycle> cycles;
  cycles.reserve(static_cast<size_t>((o.duration_s + 1) * 20000));
  const uint64_t window_start = now_ns() + static_cast<uint64_t>(o.warmup_s * 1e9);
  const uint64_t window_end = window_start + static_cast<uint64_t>(o.duration_s * 1e9);
  uint64_t offset = 0;
  for (;;) {
    const uint64_t t0 = now_ns();
    SIDEWAL_RETURN_IF_ERROR(write_all(f.fd, buf.get(), kSyncFloorWriteBytes, offset));
    if (::fdatasync(f.fd) != 0) return Status::FromErrno(errno, "fdatasync " + f.path);
    const uint64_t t1 = now_ns();
    offset = (offset + kSyncFloorWriteBytes) % kSyncFloorFileBytes;
    if (t0 >= window_start) {
      cycles.push_back(SyncCycle{t0, t1});
      r.cycle.record(t1 - t0);
    }
    // A window holds at least one cycle, however long the machine stalled
    // one that began before it.
    if (t1 >= window_end && !cycles.empty()) break;
  }
  r.cycles = cycles.size();
  SW_ASSERT(r.cycles > 0);
  r.window_s = static_cast<double>(cycles.back().end_ns - cycles.front().start_ns) / 1e9;
  r.cycles_per_s = r.window_s > 0 ? static_cast<double>(r.cycles) / r.window_s : 0;
  record_ideal_acks(cycles, o.rate, cycles.front().start_ns, window_end, &r.ack);
  return r;
}

}  // namespace sidewal::bench
