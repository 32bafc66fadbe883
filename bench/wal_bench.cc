// wal_bench: the engine alone (no daemon, no socket). Closed loop: each of N
// threads appends one record, waits for its durability callback, and
// repeats. Reports appends/s, completion-latency percentiles and how many
// records each flush carried. The numbers in BENCHMARKS.md ("Engine") come
// from this binary; the exact commands are written there.
//
//   wal_bench [--dir DIR] [--threads 1,4,16,64] [--seconds 5] [--record-bytes 100]
//             [--sync fdatasync|odsync|both] [--backend auto|pwrite|uring] [--dwb on|off]
//             [--encrypt on|off]
//
// DIR must be on the disk being measured (not tmpfs); it is created and each
// run's log is deleted afterwards.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "wal/codecs/secure_key.h"
#include "wal/wal.h"

namespace {

using sidewal::wal::BackendKind;
using sidewal::wal::RecordIn;
using sidewal::wal::RecoveryReport;
using sidewal::wal::SyncMode;
using sidewal::wal::Wal;
using sidewal::wal::WalObserver;
using sidewal::wal::WalOptions;
using Clock = std::chrono::steady_clock;

struct Args {
  std::string dir = "bench-wal-data";
  std::vector<int> threads = {1, 4, 16, 64};
  double seconds = 5;
  size_t record_bytes = 100;
  std::vector<SyncMode> modes = {SyncMode::kFdatasync};
  BackendKind backend = BackendKind::kAuto;
  bool dwb = true;       // --dwb on|off: the double-write buffer
  bool encrypt = false;  // --encrypt on|off: AES-256-GCM with a random key
};

// Exits 0 after --help, 2 on a usage error (CLI11 prints which).
Args parse(int argc, char** argv) {
  Args a;
  CLI::App app{"wal_bench: the engine alone, closed loop"};
  std::string sync = "fdatasync", backend = "auto", dwb = "on", encrypt = "off";
  app.add_option("--dir", a.dir, "directory on the disk being measured (not tmpfs)");
  app.add_option("--threads", a.threads, "appender thread counts, one run each")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  app.add_option("--seconds", a.seconds, "measured seconds per run");
  app.add_option("--record-bytes", a.record_bytes, "payload bytes per record");
  app.add_option("--sync", sync, "how flushes reach the device")
      ->check(CLI::IsMember({"fdatasync", "odsync", "both"}));
  app.add_option("--backend", backend, "I/O backend")
      ->check(CLI::IsMember({"auto", "pwrite", "uring"}));
  app.add_option("--dwb", dwb, "the double-write buffer")->check(CLI::IsMember({"on", "off"}));
  app.add_option("--encrypt", encrypt, "AES-256-GCM with a random key")
      ->check(CLI::IsMember({"on", "off"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::exit(app.exit(e) == 0 ? 0 : 2);
  }
  if (sync == "fdatasync") a.modes = {SyncMode::kFdatasync};
  if (sync == "odsync") a.modes = {SyncMode::kODsync};
  if (sync == "both") a.modes = {SyncMode::kFdatasync, SyncMode::kODsync};
  a.backend = backend == "pwrite"  ? BackendKind::kPwrite
              : backend == "uring" ? BackendKind::kUring
                                   : BackendKind::kAuto;
  a.dwb = dwb == "on";
  a.encrypt = encrypt == "on";
  return a;
}

struct FlushCounter : WalObserver {
  std::atomic<uint64_t> flushes{0}, records{0};
  std::atomic<uint64_t> sync_ns{0};
  void on_flush(uint32_t r, uint32_t, uint64_t, double s) override {
    flushes.fetch_add(1, std::memory_order_relaxed);
    records.fetch_add(r, std::memory_order_relaxed);
    sync_ns.fetch_add(static_cast<uint64_t>(s * 1e9), std::memory_order_relaxed);
  }
};

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(i), v.end());
  return v[i];
}

// One closed-loop run; prints a Markdown table row.
int run(const Args& a, int threads, SyncMode mode) {
  const std::string dir = a.dir + "/run-" + std::to_string(threads) + "-" +
                          (mode == SyncMode::kODsync ? "odsync" : "fdatasync");
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  FlushCounter counter;
  WalOptions o;
  o.dir = dir;
  o.sync_mode = mode;
  o.backend = a.backend;
  o.dwb = a.dwb;
  if (a.encrypt) {
    // A random key for the run (never written anywhere).
    std::array<uint8_t, 32> raw;
    std::random_device rd;
    for (auto& b : raw) b = static_cast<uint8_t>(rd());
    auto key = sidewal::wal::SecureKey::from_bytes(raw, "wal_bench random key");
    raw.fill(0);
    if (!key.ok()) {
      std::fprintf(stderr, "wal_bench: %s\n", key.status().ToString().c_str());
      return 1;
    }
    auto ring = std::make_shared<sidewal::wal::KeyRing>();
    (void)ring->add(1, std::move(*key));
    (void)ring->set_current(1);
    o.keys = ring;
  }
  o.observer = &counter;
  RecoveryReport rep;
  auto opened = Wal::open(o, &rep);
  if (!opened.ok()) {
    std::fprintf(stderr, "wal_bench: open %s: %s\n", dir.c_str(),
                 opened.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<Wal> wal = std::move(opened).value();
  std::vector<uint8_t> payload(a.record_bytes);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(i * 31 + 7);

  std::atomic<bool> measuring{false}, stop{false};
  std::atomic<int> errors{0};
  std::vector<std::vector<double>> lat(threads);
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    lat[t].reserve(1 << 20);
    ts.emplace_back([&, t] {
      RecordIn r;
      r.type = 1;
      r.tenant = static_cast<uint32_t>(t);
      r.payload = payload;
      while (!stop.load(std::memory_order_relaxed)) {
        auto t0 = Clock::now();
        auto lsn = wal->append_sync(std::span<const RecordIn>(&r, 1));
        auto us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
        if (!lsn.ok()) {
          errors++;
          return;
        }
        if (measuring.load(std::memory_order_relaxed)) lat[t].push_back(us);
      }
    });
  }
  // Warm up, then measure.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const uint64_t f0 = counter.flushes.load(), r0 = counter.records.load(),
                 s0 = counter.sync_ns.load();
  auto start = Clock::now();
  measuring = true;
  std::this_thread::sleep_for(std::chrono::duration<double>(a.seconds));
  measuring = false;
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  const uint64_t flushes = counter.flushes.load() - f0, recs = counter.records.load() - r0,
                 sync_ns = counter.sync_ns.load() - s0;
  stop = true;
  for (auto& th : ts) th.join();
  (void)wal->close();
  std::string backend = rep.backend;
  wal.reset();
  std::filesystem::remove_all(dir, ec);

  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  const double n = static_cast<double>(all.size());
  std::printf("| %d | %s | %s | %.0f | %.3f | %.3f | %.3f | %.0f | %.1f | %.3f |\n", threads,
              mode == SyncMode::kODsync ? "O_DSYNC" : "fdatasync", backend.c_str(), n / secs,
              percentile(all, 0.50) / 1000, percentile(all, 0.99) / 1000,
              percentile(all, 0.999) / 1000, static_cast<double>(flushes) / secs,
              flushes ? static_cast<double>(recs) / static_cast<double>(flushes) : 0.0,
              flushes ? static_cast<double>(sync_ns) / 1e6 / static_cast<double>(flushes) : 0.0);
  std::fflush(stdout);
  if (errors.load() > 0) {
    std::fprintf(stderr, "wal_bench: %d appender(s) saw errors\n", errors.load());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a = parse(argc, argv);
  std::error_code ec;
  std::filesystem::create_directories(a.dir, ec);
  std::printf("record bytes %zu, %.1f s per run, dir %s\n\n", a.record_bytes, a.seconds,
              std::filesystem::absolute(a.dir).c_str());
  std::printf(
      "| appenders | sync | backend | appends/s | p50 ms | p99 ms | p99.9 ms | flushes/s "
      "| records/flush | write+sync ms |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
  int rc = 0;
  for (SyncMode m : a.modes) {
    for (int t : a.threads) rc |= run(a, t, m);
  }
  return rc;
}
