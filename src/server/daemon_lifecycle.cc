// Daemon's lifecycle after start (daemon.h), on its control strand: the end
// of recovery (ready, or exit 1), and the shutdown (stop accepting, drain
// the sessions, force-close them at the drain timeout, finish).
#include "server/daemon.h"

#include <chrono>
#include <vector>

#include "server/log.h"

namespace sidewal::server {

void Daemon::on_recovered(const Status& st, const wal::RecoveryReport& r) {
  recovery_done_ = true;
  if (!st.ok()) {
    log::error("recovery failed; the log was not opened",
               {{"error", st.ToString()},
                {"data_dir", config_.data_dir},
                {"corruption_at", r.corruption_at},
                {"hint", r.corruption
                             ? "inspect with `sidewal verify`; wal.salvage: true keeps the "
                               "prefix before the corruption and drops the rest"
                             : ""}});
    begin_shutdown(kExitFailure, "recovery failed");
    return;
  }
  metrics_.recovered(r);
  log::info("recovery finished", {{"seconds", r.seconds},
                                  {"first_lsn", r.first_lsn},
                                  {"durable_lsn", r.durable_lsn},
                                  {"records", r.records},
                                  {"segments", r.segments},
                                  {"bytes_on_disk", r.bytes_on_disk},
                                  {"discarded_bytes", r.discarded_bytes},
                                  {"discarded_records", r.discarded_records},
                                  {"discarded_why", r.discarded_why},
                                  {"dwb_restores", r.dwb_restores},
                                  {"dwb_restored_records", r.dwb_restored_records},
                                  {"dwb_why", r.dwb_why},
                                  {"corruption", r.corruption},
                                  {"corruption_at", r.corruption_at},
                                  {"backend", r.backend}});
  if (shutting_down_) {
    maybe_finish();
    return;
  }
  if (archive_) archive_->start(log_.wal(), &metrics_);
  // From here /readyz may say ready: the recovery's metrics are set and the
  // archive runs (daemon_state()).
  started_.store(true);
  log::info("ready", {{"socket", config_.socket_path}});
}

void Daemon::begin_shutdown(int code, const std::string& why) {
  if (shutting_down_) return;
  shutting_down_ = true;
  exit_code_ = code;
  ctx_.draining.store(true);
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  accept_retry_timer_.cancel();
  std::vector<std::shared_ptr<Session>> live;
  {
    MutexLock lock(sessions_mu_);
    for (auto& [id, e] : sessions_) {
      if (auto c = e.session.lock()) live.push_back(std::move(c));
    }
  }
  log::info("shutting down: no new connections or requests; finishing in-flight appends",
            {{"why", why},
             {"connections", live.size()},
             {"drain_timeout_seconds", config_.drain_timeout_seconds},
             {"recovery_done", recovery_done_}});
  for (auto& c : live) c->drain();
  drain_timer_.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(config_.drain_timeout_seconds)));
  drain_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || finished_) return;
    std::vector<std::shared_ptr<Session>> stuck;
    {
      MutexLock lock(sessions_mu_);
      for (auto& [id, e] : sessions_) {
        if (auto c = e.session.lock()) stuck.push_back(std::move(c));
      }
    }
    log::warn("drain timeout: closing connections with replies still pending",
              {{"connections", stuck.size()}});
    for (auto& c : stuck) c->force_close();
  });
  maybe_finish();
}

void Daemon::maybe_finish() {
  if (!shutting_down_ || !recovery_done_ || finished_) return;
  {
    MutexLock lock(sessions_mu_);
    if (!sessions_.empty()) return;
  }
  finished_ = true;
  drain_timer_.cancel();
  finished_promise_.set_value(exit_code_);
}

}  // namespace sidewal::server
