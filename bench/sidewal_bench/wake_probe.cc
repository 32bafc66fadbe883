#include "wake_probe.h"

#include <errno.h>
#include <sys/prctl.h>
#include <time.h>

namespace sidewal::bench {

namespace {

uint64_t monotonic_ns() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

timespec to_timespec(uint64_t ns) {
  return timespec{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
}

}  // namespace

void WakeProbeRecorder::record(uint64_t requested_ns, uint64_t actual_ns) {
  const uint64_t over = actual_ns > requested_ns ? actual_ns - requested_ns : 0;
  oversleep_.record(over);
  if (over > stall_ns_) ++stalls_;
}

WakeProbeSummary WakeProbeRecorder::summary() const {
  WakeProbeSummary s;
  s.samples = oversleep_.count();
  s.p50_ns = oversleep_.value_at_percentile(50);
  s.p99_ns = oversleep_.value_at_percentile(99);
  s.p999_ns = oversleep_.value_at_percentile(99.9);
  s.max_ns = oversleep_.max();
  s.stall_ns = stall_ns_;
  s.stalls = stalls_;
  return s;
}

void WakeProbe::start(uint64_t from_ns) {
  stop_.store(false);
  thread_ = std::thread([this, from_ns] { loop(from_ns); });
}

void WakeProbe::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void WakeProbe::loop(uint64_t from_ns) {
  // A wake-up is late by the timer slack (50 µs by default) on top of the
  // scheduler's delay; 1 µs leaves the scheduler's, as the bench's own
  // sender sets for itself.
  ::prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  const timespec from = to_timespec(from_ns);
  while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &from, nullptr) == EINTR) {
  }
  do {
    const uint64_t t0 = monotonic_ns();
    timespec left = to_timespec(kPeriodNs);
    // A signal cuts the sleep short: sleep the rest, so that every sample
    // is one whole requested period.
    while (::clock_nanosleep(CLOCK_MONOTONIC, 0, &left, &left) == EINTR) {
    }
    recorder_.record(kPeriodNs, monotonic_ns() - t0);
  } while (!stop_.load(std::memory_order_relaxed));
}

}  // namespace sidewal::bench
