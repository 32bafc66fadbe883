// The durable-acknowledgement floor (sidewal-bench --sync-floor, issue 16):
// the open-loop latency a log with no CPU cost at all would show on this
// machine. No daemon, no socket: one thread writes 4 KiB with O_DIRECT and
// fdatasyncs it, back to back, in a file it wrote beforehand (fio's QD1
// line), and records when each write+sync cycle started and ended. Then
// requests are scheduled every 1/rate seconds over the window, as
// sidewal-bench's open loop schedules them, and each is acknowledged at the
// end of the first cycle that starts at or after it: a perfect group commit,
// where a request joins the next flush the moment it arrives and its ACK
// costs nothing. Latency runs from the scheduled time, like the open loop's.
//
// What is left is what the device and the scheduler alone do to a tail: a
// cycle that stalls for 10 ms delays every request scheduled during it, as
// it would delay sidewal's. Figures at or above a target here mean no log
// can meet it on this machine (BENCHMARKS.md, issue 16's open-loop target).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "histogram.h"

namespace sidewal::bench {

struct SyncFloorOptions {
  double rate = 10000;     // scheduled requests per second
  double duration_s = 10;  // measured window (extended to at least one cycle)
  double warmup_s = 2;     // cycles before the window, not measured
  // Where the temporary file is made (it is removed at the end); empty:
  // $TMPDIR, else /tmp. It must accept O_DIRECT.
  std::string dir;
};

// One write+sync cycle, steady-clock nanoseconds.
struct SyncCycle {
  uint64_t start_ns = 0;
  uint64_t end_ns = 0;
};

struct SyncFloorResult {
  SyncFloorOptions options;
  double window_s = 0;
  uint64_t cycles = 0;  // inside the window
  double cycles_per_s = 0;
  LatencyHistogram cycle;  // ns, one write + fdatasync
  LatencyHistogram ack;    // ns, scheduled time -> end of the cycle that carries it
};

// The file's size: the cycles write 4 KiB after 4 KiB through it and wrap.
constexpr uint64_t kSyncFloorFileBytes = 64u << 20;
constexpr size_t kSyncFloorWriteBytes = 4096;

// Pure, for tests: records into *out the latency of each request scheduled
// at from_ns + i / rate (i = 0, 1, ...) before to_ns: the end of the first
// cycle (cycles in order, not overlapping) whose start is at or after it.
// Requests after the last cycle's start are not recorded (no cycle carries
// them). Returns how many were recorded.
uint64_t record_ideal_acks(std::span<const SyncCycle> cycles, double rate, uint64_t from_ns,
                           uint64_t to_ns, LatencyHistogram* out);

// Fails when the file cannot be made (or refuses O_DIRECT), or a write or
// fdatasync fails.
Result<SyncFloorResult> run_sync_floor(const SyncFloorOptions& options);

}  // namespace sidewal::bench
