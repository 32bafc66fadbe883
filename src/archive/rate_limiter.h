// RateLimiter: the archive's upload bandwidth cap (archive.max_upload_bytes_
// per_second), a token bucket that lets a second's worth of bytes through at
// once and then `rate` bytes a second. A request goes as soon as the bucket
// is not in debt, whatever its size, and leaves its own debt for the next
// request to wait out: so any request size works (after an 8 MiB part under
// a 1 MiB/s cap, the next request waits about 7 s).
//
// Thread-safety: acquire() from any number of threads (the parallel parts of
// one upload share the cap).
#pragma once

#include <chrono>
#include <cstdint>

#include "common/mutex.h"

namespace sidewal::archive {

class RateLimiter {
 public:
  // 0: no cap (acquire never waits).
  explicit RateLimiter(uint64_t bytes_per_second);

  // Takes `bytes` from the bucket, first waiting while it is in debt. False when
  // cancel() was called (before or during the wait): the caller gives up.
  // Without a cap it is always true at once.
  bool acquire(uint64_t bytes) EXCLUDES(mu_);
  // Wakes every waiter with false, and makes acquire() fail until resume().
  void cancel() EXCLUDES(mu_);
  void resume() EXCLUDES(mu_);

 private:
  using Clock = std::chrono::steady_clock;
  const double rate_;  // bytes per second; 0: no cap
  Mutex mu_;
  CondVar cv_;
  double tokens_ GUARDED_BY(mu_);           // negative: debt
  Clock::time_point last_ GUARDED_BY(mu_);  // when tokens_ was refilled
  bool cancelled_ GUARDED_BY(mu_) = false;
};

}  // namespace sidewal::archive
