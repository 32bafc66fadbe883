// LogService: the daemon's handle on the engine. It opens the log on a
// background thread (so the socket and admin HTTP answer during recovery),
// answers the log's state (recovering until the open returned, then the
// engine's own: ready or failed), feeds the engine's observer callbacks into
// the metrics and the log, and fans the engine's single durable listener out
// to every following READ.
//
// Fail-stop has one owner, the engine (Wal::state(), Wal::failure()): the
// daemon keeps no copy of it, and hears of it through WalObserver::on_failed
// (one log line).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <unordered_map>

#include "common/mutex.h"
#include "common/status.h"
#include "proto/protocol.h"
#include "server/metrics.h"
#include "server/read_filter.h"
#include "wal/wal.h"

namespace sidewal::server {

class LogService : public wal::WalObserver {
 public:
  LogService(wal::WalOptions options, Metrics* metrics);
  ~LogService() override;

  // Runs Wal::open on a new thread; `done` runs on that thread afterwards
  // with the outcome. Call once. `before_open`, when set, runs first on that
  // thread (the archive's restore_on_empty); its error is the outcome and
  // the log is not opened.
  void start_recovery(std::function<void(const Status&, const wal::RecoveryReport&)> done,
                      std::function<Status()> before_open = {});
  void join_recovery();

  // Null until recovery succeeded; stays valid until close().
  wal::Wal* wal() const { return wal_ptr_.load(std::memory_order_acquire); }
  // kRecovering until recovery succeeded, then the engine's Wal::state().
  wal::LogState state() const;
  // The ERROR code requests get once the log is failed: NO_SPACE when the
  // engine's failure was ENOSPC, IO_FAILED otherwise.
  proto::ErrorCode failure_code() const;
  // The engine's failure (Wal::failure().ToString()), "OK" while there is none.
  std::string failure_message() const;

  // Followers: `wake` runs on the flusher thread after every flush; it must
  // only post work elsewhere. Returns an id for remove_follower().
  uint64_t add_follower(std::function<void()> wake);
  void remove_follower(uint64_t id);

  // The tombstone set SKIP_DEAD READs are filtered with (read_filter.h).
  TombstoneTracker* tombstones() { return &tombstones_; }

  // Completes queued appends and closes the log's files.
  Status close();

  // wal::WalObserver (flusher thread).
  void on_flush(uint32_t records, uint32_t batches, uint64_t bytes_written,
                double sync_seconds) override;
  void on_dwb_write(uint64_t bytes) override;
  // Logs the failure, once; the state itself stays in the engine.
  void on_failed(const Status& why) override;

 private:
  wal::WalOptions options_;
  Metrics* metrics_;
  std::thread recovery_thread_;
  std::unique_ptr<wal::Wal> wal_;  // owned; published through wal_ptr_
  std::atomic<wal::Wal*> wal_ptr_{nullptr};

  Mutex followers_mu_;
  uint64_t next_follower_id_ GUARDED_BY(followers_mu_) = 1;
  std::unordered_map<uint64_t, std::function<void()>> followers_ GUARDED_BY(followers_mu_);
  uint64_t listener_id_ = 0;     // the one engine listener, 0 = none
  TombstoneTracker tombstones_;  // thread-safe; built on first use
};

}  // namespace sidewal::server
