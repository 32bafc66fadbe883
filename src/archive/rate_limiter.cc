#include "archive/rate_limiter.h"

#include <algorithm>

namespace sidewal::archive {

RateLimiter::RateLimiter(uint64_t bytes_per_second)
    : rate_(static_cast<double>(bytes_per_second)), tokens_(rate_), last_(Clock::now()) {}

bool RateLimiter::acquire(uint64_t bytes) {
  if (rate_ == 0) return true;  // no cap: nothing to wait for, nothing to cancel
  MutexLock l(mu_);
  if (cancelled_) return false;
  auto refill = [this]() REQUIRES(mu_) {
    const Clock::time_point now = Clock::now();
    tokens_ = std::min(rate_, tokens_ + std::chrono::duration<double>(now - last_).count() * rate_);
    last_ = now;
  };
  refill();
  // In debt (earlier requests took more than the bucket held): wait until
  // the refill has paid it back, then go, leaving this request's own debt
  // for the next one.
  while (tokens_ < 0) {
    const auto until = last_ + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(-tokens_ / rate_));
    if (cv_.wait_until(mu_, until, [this]() REQUIRES(mu_) { return cancelled_; })) return false;
    refill();
  }
  tokens_ -= static_cast<double>(bytes);
  return true;
}

void RateLimiter::cancel() {
  {
    MutexLock g(mu_);
    cancelled_ = true;
  }
  cv_.notify_all();
}

void RateLimiter::resume() {
  MutexLock g(mu_);
  cancelled_ = false;
}

}  // namespace sidewal::archive
