// The benchmark run: drives a live sidewald through the client library's
// pipelined async API, closed-loop (each ACK sends the next request) or
// open-loop (requests on a fixed clock, OpenLoopSchedule), or through its
// blocking append() (one thread per connection), and gathers what report.h
// prints.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/status.h"
#include "histogram.h"
#include "wake_probe.h"

namespace sidewal::bench {

struct BenchOptions {
  std::string socket = "./var/sidewal.sock";
  uint32_t connections = 16;
  uint32_t pipeline = 16;       // APPENDs in flight per connection
  uint32_t batch = 1;           // records per APPEND
  uint32_t record_bytes = 100;  // payload bytes per record
  double duration_s = 10;       // measured window
  double warmup_s = 2;          // before the window; not measured
  double rate = 0;              // open-loop appends/s over all connections; 0 = closed-loop
  // Open-loop: the scheduler wakes at most once per tick and sends every
  // request due by then, one send() per connection (a request is never sent
  // before its time, so a tick adds at most its length to the measured
  // latency). 0: wake for every request.
  double send_tick_us = 100;
  std::string admin;              // host:port of /metrics; empty = do not scrape
  std::string data_dir;           // the daemon's data dir for log residency; empty = skip
  uint32_t verify_sample = 1000;  // ACKed records read back and compared at the end
  double drain_timeout_s = 30;    // how long to wait for the last ACKs after the window
  bool wake_probe = false;        // run a WakeProbe through the measured window
  // Closed loop through the blocking Client::append: one thread per
  // connection, one APPEND at a time (a database committing synchronously).
  // Needs pipeline 1 and rate 0.
  bool blocking = false;
  // Closed loop from one thread over epoll with raw protocol frames, as
  // redis-benchmark drives Redis (event_loop.h), instead of the client
  // library's reader thread per connection. Needs rate 0, not blocking.
  bool event_loop = false;
};

struct BenchResult {
  BenchOptions options;
  double window_s = 0;   // length of the measured window
  uint64_t appends = 0;  // APPENDs acknowledged inside the window
  uint64_t records = 0;  // records acknowledged inside the window
  double appends_per_s = 0;
  double records_per_s = 0;
  double mb_per_s = 0;  // payload bytes, 1 MB = 1e6 B
  // Nanoseconds. Closed-loop: send to ACK, for ACKs inside the window.
  // Open-loop: scheduled send time to ACK, for every request scheduled
  // inside the window, however late its ACK came; one still unanswered when
  // the drain timed out counts with the latency it had reached by then.
  LatencyHistogram latency;
  uint64_t max_send_lag_ns = 0;                // open-loop: worst (actual send - scheduled)
  std::optional<WakeProbeSummary> wake_probe;  // with --wake-probe: the window's oversleeps
  std::optional<double> records_per_flush;     // from the daemon's metrics
  std::string metrics_error;                   // why records_per_flush is missing, if it is
  uint64_t cached_before = 0, cached_after = 0, cached_max = 0;  // host Cached, bytes
  std::optional<uint64_t> residency_before, residency_after;     // *.wal bytes in page cache
  uint64_t wal_files = 0;
  uint64_t errors = 0;  // failed APPENDs (error reply or broken connection)
  std::string first_error;
  uint64_t unacked = 0;           // still in flight when the drain timed out
  uint64_t unsent = 0;            // open-loop: scheduled in the window, never sent by then
  uint64_t order_violations = 0;  // ACK LSNs not increasing on one connection
  uint64_t verify_checked = 0;
  uint64_t verify_mismatches = 0;
  std::string first_mismatch;

  bool ok() const {
    return errors == 0 && unacked == 0 && unsent == 0 && order_violations == 0 &&
           verify_mismatches == 0;
  }
};

// Runs the benchmark. Fails only when it cannot start (cannot connect);
// failures during the run are counted in the result.
Result<BenchResult> run_bench(const BenchOptions& options);

}  // namespace sidewal::bench
