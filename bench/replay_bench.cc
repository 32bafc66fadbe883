// replay_bench: how fast the log replays, and what it does to the host's page
// cache; and how long a following reader waits from ACK to delivery.
//
//   replay_bench [dir] [bytes] [record_bytes]
//     dir           log directory on a real filesystem (default
//                   ./build-readers/replay-data,
//                   in the checkout and git-ignored; not tmpfs: O_DIRECT), reused when
//                   it already holds at least `bytes` of records
//     bytes         log size (default 1 GiB)
//     record_bytes  payload per record (default 4096)
//   (parsed by CLI11: --help lists them)
//
// For each reader (O_DIRECT full, O_DIRECT headers-only, mmap with
// DONTNEED), it drops the page cache first when running as root
// (sync; echo 3 > /proc/sys/vm/drop_caches), reads /proc/meminfo "Cached",
// replays the whole log, and reads "Cached" again. A last control pass reads
// the files with plain buffered read() (bytes, not records) to show the cache
// growth the other readers avoid. Then the tail-latency run:
// one appender, one follower that waits on the durable listener and reads
// from its next LSN (served by the tail window); latency = delivery time in
// the follower minus the ACK (append callback) time, per record.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "wal/control/replay.h"
#include "wal/readers/mmap_reader.h"
#include "wal/wal.h"

namespace sw = sidewal::wal;
using Clock = std::chrono::steady_clock;

namespace {

uint64_t cached_kib() {
  std::ifstream f("/proc/meminfo");
  std::string key;
  uint64_t v = 0;
  std::string unit;
  while (f >> key >> v >> unit) {
    if (key == "Cached:") return v;
  }
  return 0;
}

bool drop_caches() {
  ::sync();
  int fd = ::open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, "3\n", 2) == 2;
  ::close(fd);
  return ok;
}

void die(const sidewal::Status& st, const char* what) {
  std::fprintf(stderr, "replay_bench: %s: %s\n", what, st.ToString().c_str());
  std::exit(1);
}

// Appends records until the log holds `bytes` of payload; returns the count.
uint64_t build_log(const std::string& dir, uint64_t bytes, uint32_t record_bytes) {
  sw::WalOptions o;
  o.dir = dir;
  o.tail_window_bytes = 0;
  sw::RecoveryReport rep;
  auto w = sw::Wal::open(o, &rep);
  if (!w.ok()) die(w.status(), "open");
  const uint64_t want = bytes / record_bytes;
  uint64_t have = (*w)->durable_lsn();
  if (have >= want) {
    std::printf("log: reusing %s (%llu records)\n", dir.c_str(),
                static_cast<unsigned long long>(have));
    (void)(*w)->close();
    return have;
  }
  std::vector<uint8_t> payload(record_bytes);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(i * 131 + 7);
  constexpr int kBatch = 16;
  std::vector<sw::RecordIn> batch(
      kBatch, sw::RecordIn{.type = 1, .flags = 0, .tenant = 3, .payload = payload});
  std::atomic<bool> failed{false};
  const auto t0 = Clock::now();
  while (have < want) {
    (*w)->append(batch, [&failed](const sidewal::Status& st, uint64_t) {
      if (!st.ok()) failed = true;
    });
    have += kBatch;
  }
  sidewal::Status st = (*w)->close();
  if (!st.ok() || failed) die(st, "building the log");
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("log: wrote %llu records of %u bytes in %.1f s (%.0f MB/s)\n",
              static_cast<unsigned long long>(have), record_bytes, s,
              have * double(record_bytes) / s / 1e6);
  return have;
}

struct Pass {
  const char* name;
  uint64_t records = 0;
  uint64_t bytes = 0;  // payload bytes delivered (headers-only: in the log)
  double seconds = 0;
  uint64_t cached_before = 0, cached_after = 0;
};

void print(const Pass& p, bool dropped) {
  std::printf(
      "%-22s %10llu rec %8.2f s %10.0f rec/s %8.1f MB/s  Cached %s%llu -> %llu MiB (%+lld)\n",
      p.name, static_cast<unsigned long long>(p.records), p.seconds, p.records / p.seconds,
      p.bytes / p.seconds / 1e6, dropped ? "(dropped) " : "",
      static_cast<unsigned long long>(p.cached_before / 1024),
      static_cast<unsigned long long>(p.cached_after / 1024),
      static_cast<long long>(p.cached_after / 1024) -
          static_cast<long long>(p.cached_before / 1024));
}

template <typename F>
Pass run_pass(const char* name, bool* dropped, F&& body) {
  Pass p{name};
  *dropped = drop_caches();
  p.cached_before = cached_kib();
  const auto t0 = Clock::now();
  body(&p);
  p.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  p.cached_after = cached_kib();
  return p;
}

void sequential(sw::IoBackend* io, const std::string& dir, bool headers_only, Pass* p) {
  uint64_t first = 0;
  auto r = sw::open_dir_reader(io, dir, headers_only, &first);
  if (!r.ok()) die(r.status(), "reader");
  if (auto st = (*r)->seek(first); !st.ok()) die(st, "seek");
  uint64_t sum = 0;
  for (;;) {
    sw::RecordRef rec;
    bool got = false;
    if (auto st = (*r)->next(&rec, &got); !st.ok()) die(st, "next");
    if (!got) break;
    ++p->records;
    p->bytes += rec.header.payload_len;
    // Touch the payload as a consumer would (full mode only).
    if (rec.payload != nullptr && rec.header.payload_len)
      sum += rec.payload[rec.header.payload_len - 1];
  }
  if (sum == 1) std::printf(" ");
}

void tail_latency(const std::string& dir, uint64_t records) {
  sw::WalOptions o;
  o.dir = dir;
  auto w = sw::Wal::open(o, nullptr);
  if (!w.ok()) die(w.status(), "open (tail)");
  sw::Wal& wal = **w;
  const uint64_t base = wal.durable_lsn();
  std::vector<Clock::time_point> acked(records + 1), delivered(records + 1);
  std::mutex mu;
  std::condition_variable cv;
  uint64_t durable = base;
  const uint64_t id = wal.add_durable_listener([&](uint64_t d) {
    std::lock_guard<std::mutex> g(mu);
    durable = d;
    cv.notify_all();
  });
  std::thread follower([&] {
    uint64_t next = base + 1;
    std::vector<sw::Record> out;
    while (next <= base + records) {
      {
        std::unique_lock<std::mutex> lk(mu);
        cv.wait(lk, [&] { return durable >= next; });
      }
      uint64_t n = next;
      if (auto st = wal.read(next, sw::ReadLimits{}, &out, &n); !st.ok()) die(st, "follow");
      const auto now = Clock::now();
      for (const sw::Record& r : out) {
        if (r.lsn <= base + records) delivered[r.lsn - base] = now;
      }
      next = n;
    }
  });
  std::vector<uint8_t> payload(256, 0x5A);
  sw::RecordIn rec{.type = 1, .flags = 0, .tenant = 1, .payload = payload};
  for (uint64_t i = 1; i <= records; ++i) {
    // Closed loop, one record in flight: the latency of one append at a time.
    std::mutex am;
    std::condition_variable acv;
    bool done = false;
    wal.append(std::span<const sw::RecordIn>(&rec, 1),
               [&](const sidewal::Status& st, uint64_t lsn) {
                 if (!st.ok()) die(st, "append (tail)");
                 acked[lsn - base] = Clock::now();
                 std::lock_guard<std::mutex> g(am);
                 done = true;
                 acv.notify_one();
               });
    std::unique_lock<std::mutex> lk(am);
    acv.wait(lk, [&] { return done; });
  }
  follower.join();
  wal.remove_durable_listener(id);
  (void)wal.close();
  std::vector<double> us;
  for (uint64_t i = 1; i <= records; ++i) {
    us.push_back(std::chrono::duration<double, std::micro>(delivered[i] - acked[i]).count());
  }
  std::sort(us.begin(), us.end());
  auto pct = [&](double q) { return us[std::min<size_t>(us.size() - 1, size_t(q * us.size()))]; };
  std::printf(
      "tail latency ACK -> delivery (%llu records, 256 B, one in flight): "
      "p50 %.1f us  p99 %.1f us  p99.9 %.1f us  max %.1f us\n",
      static_cast<unsigned long long>(records), pct(0.5), pct(0.99), pct(0.999), us.back());
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "./build-readers/replay-data";
  uint64_t bytes = 1ull << 30;
  uint32_t record_bytes = 4096;
  CLI::App app{"replay_bench: replay speed of the readers and ACK-to-delivery tail latency"};
  app.add_option("dir", dir, "directory for the log (on the disk being measured)");
  app.add_option("bytes", bytes, "bytes of records to write and replay");
  app.add_option("record_bytes", record_bytes, "payload bytes per record")
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  build_log(dir + "/log", bytes, record_bytes);
  std::string why;
  auto io = sw::make_backend(sw::BackendKind::kPwrite, &why);
  bool dropped = false;
  // (run_pass sets `dropped`: one statement each, so print sees it.)
  Pass full = run_pass("odirect-full", &dropped,
                       [&](Pass* p) { sequential(io.get(), dir + "/log", false, p); });
  print(full, dropped);
  Pass headers = run_pass("odirect-headers-only", &dropped,
                          [&](Pass* p) { sequential(io.get(), dir + "/log", true, p); });
  print(headers, dropped);
  Pass mm = run_pass("mmap-dontneed", &dropped, [&](Pass* p) {
    sw::MmapReaderStats s;
    uint64_t sum = 0;
    auto st = sw::mmap_replay(
        dir + "/log", 1, UINT64_MAX,
        [&](const sw::MmapRecord& r) {
          if (r.header.payload_len) {
            sum += r.payload[r.header.payload_len - 1];
          }
          return true;
        },
        &s);
    if (!st.ok()) die(st, "mmap");
    p->records = s.records;
    p->bytes = s.payload_bytes;
    if (sum == 1) std::printf(" ");
  });
  print(mm, dropped);
  // Control: plain buffered reads of the segment files, to show what a
  // reader that does not give its pages back does to the cache.
  Pass buffered = run_pass("buffered-read(control)", &dropped, [&](Pass* p) {
    auto segs = sw::DirSegments::open(io.get(), dir + "/log");
    if (!segs.ok()) die(segs.status(), "list");
    std::vector<char> buf(1 << 20);
    for (const std::string& path : (*segs)->paths()) {
      int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      ssize_t n;
      while ((n = ::read(fd, buf.data(), buf.size())) > 0) p->bytes += static_cast<uint64_t>(n);
      ::close(fd);
    }
  });
  print(buffered, dropped);
  tail_latency(dir + "/tail", 5000);
  return 0;
}
