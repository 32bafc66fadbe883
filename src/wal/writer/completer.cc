// The completer: runs each flush's callbacks in LSN order, then the observer
// and the durable listeners, on its own thread while the flusher already
// writes the next group; and releases the queued bytes once acknowledged.
// When nothing waits for the next flush, the thread that wrote it (the
// flusher, or a leading appender) delivers its own flush instead
// (claim_delivery, deliver_claimed): a lone commit then costs one thread
// wake-up fewer.
#include "wal/wal_impl.h"

namespace sidewal::wal {

void WalImpl::hand_off(Completion&& c, std::vector<Pending>* refill) {
  MutexLock g(complete_mu_);
  completions_.push_back(std::move(c));
  if (!spare_vectors_.empty()) {
    refill->swap(spare_vectors_.back());
    spare_vectors_.pop_back();
  }
  complete_cv_.notify_one();
}

bool WalImpl::claim_delivery(Completion& c, std::vector<Pending>* refill, bool next_flush_waiting) {
  MutexLock g(complete_mu_);
  if (next_flush_waiting || completer_busy_ || !completions_.empty()) {
    g.unlock();
    hand_off(std::move(c), refill);
    return false;
  }
  completer_busy_ = true;
  if (!spare_vectors_.empty()) {
    refill->swap(spare_vectors_.back());
    spare_vectors_.pop_back();
  }
  return true;
}

void WalImpl::deliver_claimed(Completion& c) {
  run_completion(c);
  MutexLock g(complete_mu_);
  completer_busy_ = false;
  if (spare_vectors_.size() < 4) spare_vectors_.push_back(std::move(c.pending));
  // Whatever was handed off meanwhile waited for us.
  if (!completions_.empty()) complete_cv_.notify_one();
}

// Runs callbacks, observers and listeners flush by flush, in LSN order, while
// the flusher already writes the next group.
void WalImpl::completer_loop() {
  MutexLock lk(complete_mu_);
  for (;;) {
    complete_cv_.wait(complete_mu_, [&]() REQUIRES(complete_mu_) {
      return (!completions_.empty() && !completer_busy_) || (completer_stop_ && !completer_busy_);
    });
    if (completions_.empty()) return;  // stopping, and everything delivered
    Completion c = std::move(completions_.front());
    completions_.pop_front();
    completer_busy_ = true;
    lk.unlock();
    run_completion(c);
    lk.lock();
    completer_busy_ = false;
    if (spare_vectors_.size() < 4) spare_vectors_.push_back(std::move(c.pending));
  }
}

void WalImpl::run_completion(Completion& c) {
  // The flush is counted before any of its callbacks runs, so whoever sees
  // an acknowledgement also sees the flush that made it durable (metrics
  // never lag the ACKs they describe).
  const bool flushed = c.status.ok() && c.records > 0;
  if (flushed && opts_.observer) {
    if (c.dwb_bytes > 0) opts_.observer->on_dwb_write(c.dwb_bytes);
    opts_.observer->on_flush(c.records, c.batches, c.written, c.seconds);
  }
  for (Pending& p : c.pending) p.done(c.status, c.status.ok() ? p.first_lsn : 0);
  c.pending.clear();
  if (flushed) notify_listeners(c.durable);
  if (!c.failure.ok() && opts_.observer) opts_.observer->on_failed(c.failure);
  {
    // Queued bytes are released only once acknowledged, so max_pending_bytes
    // also bounds callbacks that have not run yet.
    MutexLock g(mu_);
    pending_bytes_ -= c.queued_bytes;
    space_cv_.notify_all();
  }
}

void WalImpl::notify_listeners(uint64_t durable) {
  MutexLock g(listeners_mu_);
  for (auto& [id, fn] : listeners_) fn(durable);
}

uint64_t WalImpl::add_durable_listener(std::function<void(uint64_t)> listener) {
  MutexLock g(listeners_mu_);
  uint64_t id = next_listener_id_++;
  listeners_.emplace(id, std::move(listener));
  return id;
}

void WalImpl::remove_durable_listener(uint64_t id) {
  MutexLock g(listeners_mu_);
  listeners_.erase(id);
}

}  // namespace sidewal::wal
