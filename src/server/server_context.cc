#include "server/server_context.h"

#include "server/session/session.h"

namespace sidewal::server {

void ServerContext::release(uint64_t n) {
  inflight_total_.fetch_sub(n);
  if (!has_waiters_.load() || over_total()) return;
  std::vector<std::weak_ptr<Session>> wake;
  {
    MutexLock lock(waiters_mu_);
    wake.swap(waiters_);
    has_waiters_.store(false);
  }
  for (auto& w : wake) {
    if (auto c = w.lock()) c->wake();
  }
}

void ServerContext::wait_for_total(std::weak_ptr<Session> c) {
  {
    MutexLock lock(waiters_mu_);
    waiters_.push_back(c);
    has_waiters_.store(true);
  }
  // The total may have dropped between the caller's check and the
  // registration above; a releaser that ran meanwhile may not have seen us.
  if (!over_total()) {
    if (auto conn = c.lock()) conn->wake();
  }
}

}  // namespace sidewal::server
