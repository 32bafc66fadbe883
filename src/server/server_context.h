// ServerContext: what every connection shares with the server: the config,
// the log, the metrics, the pool for blocking engine calls, and the global
// in-flight byte budget that gives backpressure across connections.
#pragma once

#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "common/mutex.h"
#include "server/config.h"
#include "server/log_service.h"
#include "server/metrics.h"

namespace sidewal::server {

class Session;

class ServerContext {
 public:
  ServerContext(const Config* config, LogService* log, Metrics* metrics,
                boost::asio::thread_pool* blocking)
      : config(config), log(log), metrics(metrics), blocking(blocking) {}

  const Config* const config;
  LogService* const log;
  Metrics* const metrics;
  // wal->read() and truncate_before() block on disk; they run here so the
  // Asio threads keep serving appends.
  boost::asio::thread_pool* const blocking;
  // Set once SIGTERM arrives; /readyz answers 503 from then on.
  std::atomic<bool> draining{false};
  // Called (on the connection's strand) when a connection has closed.
  std::function<void(uint64_t id)> on_closed;
  // The id of the connection whose APPEND went to the engine last (0:
  // none yet; connection ids start at 1). An APPEND may lead a flush
  // (wal.caller_flushes) only when the one before it came from the same
  // connection: a leader blocks its connection thread for the flush, and
  // other connections served by that thread would wait behind it, each
  // then leading a flush of its own, alone, instead of sharing one
  // (16 one-at-a-time clients on one thread: 3,325 commits/s, against
  // 15,467 with this rule, BENCHMARKS.md "Leader flush and one connection
  // thread").
  std::atomic<uint64_t> last_appender{0};

  // Global in-flight bytes: request bytes not yet answered plus reply bytes
  // not yet written, over all connections.
  void acquire(uint64_t n) { inflight_total_.fetch_add(n); }
  void release(uint64_t n);
  bool over_total() const { return inflight_total_.load() >= config->max_inflight_bytes_total; }
  uint64_t inflight_total() const { return inflight_total_.load(); }
  // Registers a connection paused by the global bound; it is woken (its
  // wake() called) once the total drops below the bound.
  void wait_for_total(std::weak_ptr<Session> c);

 private:
  std::atomic<uint64_t> inflight_total_{0};
  // Dekker-style pairing with inflight_total_ (both seq_cst): a waiter sets
  // has_waiters_ then re-reads the total; a releaser lowers the total then
  // reads has_waiters_. At least one of them sees the other.
  std::atomic<bool> has_waiters_{false};
  Mutex waiters_mu_;
  std::vector<std::weak_ptr<Session>> waiters_ GUARDED_BY(waiters_mu_);
};

}  // namespace sidewal::server
