// WakeProbe: how late the machine wakes a sleeping thread, measured beside a
// benchmark so that a noisy machine shows in the same output as the figure
// it disturbs (issue 16).
//
// One thread sleeps 1 ms at a time (clock_nanosleep, relative, timer slack
// 1 µs so the kernel's default 50 µs slack does not count) and records each
// oversleep, actual - requested, in a LatencyHistogram. A scheduler stall of
// 10 ms shows as one oversleep of about 10 ms: the same stall delays the
// daemon's threads and the bench's, and so the requests they carry.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>

#include "histogram.h"

namespace sidewal::bench {

struct WakeProbeSummary {
  uint64_t samples = 0;
  uint64_t p50_ns = 0, p99_ns = 0, p999_ns = 0, max_ns = 0;  // oversleep
  uint64_t stall_ns = 0;                                     // the threshold of a stall
  uint64_t stalls = 0;                                       // oversleeps > stall_ns
};

// The pure part: oversleeps in, summary out. Not thread-safe.
class WakeProbeRecorder {
 public:
  static constexpr uint64_t kDefaultStallNs = 2'000'000;  // "a stall": over 2 ms late

  explicit WakeProbeRecorder(uint64_t stall_ns = kDefaultStallNs) : stall_ns_(stall_ns) {}

  // One sleep of `requested_ns` that took `actual_ns`: records the
  // oversleep (0 if it somehow woke early).
  void record(uint64_t requested_ns, uint64_t actual_ns);
  WakeProbeSummary summary() const;
  uint64_t stall_ns() const { return stall_ns_; }

 private:
  uint64_t stall_ns_;
  LatencyHistogram oversleep_;
  uint64_t stalls_ = 0;
};

class WakeProbe {
 public:
  static constexpr uint64_t kPeriodNs = 1'000'000;  // 1 ms

  WakeProbe() = default;
  ~WakeProbe() { stop(); }
  WakeProbe(const WakeProbe&) = delete;
  WakeProbe& operator=(const WakeProbe&) = delete;

  // Starts the thread; it waits until `from_ns` (CLOCK_MONOTONIC, the
  // steady_clock's epoch) and then sleeps and records until stop(). At
  // least one sleep is recorded once the thread runs.
  void start(uint64_t from_ns);
  // Ends the loop after the sleep in progress and joins the thread.
  // Idempotent.
  void stop();
  // After stop(): what the thread measured.
  WakeProbeSummary summary() const { return recorder_.summary(); }

 private:
  void loop(uint64_t from_ns);

  std::thread thread_;
  std::atomic<bool> stop_{false};
  WakeProbeRecorder recorder_;  // the thread's until stop() joins it
};

}  // namespace sidewal::bench
