// OpenLoopSchedule: the fixed clock of an open-loop run.
//
// Request i (0-based, over all connections) is due at start + i/rate. The
// schedule never looks at when earlier requests completed: a stall in the
// daemon makes requests late, and each one's latency is measured from its
// scheduled time, not from when the client finally managed to send it. That
// is what keeps coordinated omission from flattering the result.
//
// Connection c of C sends requests c, c+C, c+2C, ...: the connections
// interleave on one global clock, so the aggregate is evenly spaced at
// `rate` even though each connection runs at rate/C.
//
// Times are integer nanoseconds; i * 1e9 is computed in 128 bits, so the
// schedule does not drift or overflow however long the run.
#pragma once

#include <cstdint>

namespace sidewal::bench {

class OpenLoopSchedule {
 public:
  // rate: requests per second over all connections (> 0); connections >= 1.
  OpenLoopSchedule(uint64_t start_ns, double rate, uint32_t connections)
      : start_ns_(start_ns), connections_(connections == 0 ? 1 : connections) {
    // Keep the rate as an exact fraction of requests per 1e9 ns, scaled by
    // 1000 so that fractional rates (e.g. 0.5/s) stay exact to 1/1000.
    milli_rate_ = static_cast<uint64_t>(rate * 1000.0 + 0.5);
    if (milli_rate_ == 0) milli_rate_ = 1;
  }

  uint64_t start_ns() const { return start_ns_; }
  uint32_t connections() const { return connections_; }

  // Scheduled send time of global request i.
  uint64_t send_time(uint64_t i) const {
    const unsigned __int128 offset =
        static_cast<unsigned __int128>(i) * 1'000'000'000'000ull / milli_rate_;
    return start_ns_ + static_cast<uint64_t>(offset);
  }

  // Global index of connection c's k-th request, and its send time.
  uint64_t global_index(uint32_t c, uint64_t k) const { return k * connections_ + c; }
  uint64_t send_time(uint32_t c, uint64_t k) const { return send_time(global_index(c, k)); }

  // How many global requests are due at time now (those with send_time <= now).
  uint64_t due_count(uint64_t now_ns) const {
    if (now_ns < start_ns_) return 0;
    const unsigned __int128 elapsed = now_ns - start_ns_;
    // The largest i with i * 1e12 / milli_rate <= elapsed, plus one.
    // floor(i * 1e12 / r) <= e  <=>  i * 1e12 < (e + 1) * r.
    const unsigned __int128 n =
        ((elapsed + 1) * milli_rate_ + 1'000'000'000'000ull - 1) / 1'000'000'000'000ull;
    return static_cast<uint64_t>(n);
  }

  // How many of connection c's requests are due at time now.
  uint64_t due_count(uint32_t c, uint64_t now_ns) const {
    const uint64_t global = due_count(now_ns);
    return global > c ? (global - c + connections_ - 1) / connections_ : 0;
  }

 private:
  uint64_t start_ns_;
  uint32_t connections_;
  uint64_t milli_rate_;  // requests per 1000 s
};

}  // namespace sidewal::bench
