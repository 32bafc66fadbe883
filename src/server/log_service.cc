#include "server/log_service.h"

#include "common/thread_name.h"
#include "server/log.h"

namespace sidewal::server {

LogService::LogService(wal::WalOptions options, Metrics* metrics)
    : options_(std::move(options)), metrics_(metrics) {
  options_.observer = this;
}

LogService::~LogService() { join_recovery(); }

void LogService::start_recovery(std::function<void(const Status&, const wal::RecoveryReport&)> done,
                                std::function<Status()> before_open) {
  SW_ASSERT(!recovery_thread_.joinable());
  recovery_thread_ =
      std::thread([this, done = std::move(done), before_open = std::move(before_open)] {
        wal::RecoveryReport report;
        if (before_open) {
          Status s = before_open();
          if (!s.ok()) {
            done(s, report);
            return;
          }
        }
        auto opened = wal::Wal::open(options_, &report);
        if (!opened.ok()) {
          done(opened.status(), report);
          return;
        }
        wal_ = std::move(opened.value());
        // One engine listener for the whole daemon; it wakes every follower.
        listener_id_ = wal_->add_durable_listener([this](uint64_t) {
          MutexLock lock(followers_mu_);
          for (auto& [id, wake] : followers_) wake();
        });
        wal_ptr_.store(wal_.get(), std::memory_order_release);
        done(Status::Ok(), report);
      });
  name_thread(recovery_thread_, "sw-recovery");
}

void LogService::join_recovery() {
  if (recovery_thread_.joinable()) recovery_thread_.join();
}

wal::LogState LogService::state() const {
  const wal::Wal* w = wal();
  return w == nullptr ? wal::LogState::kRecovering : w->state();
}

proto::ErrorCode LogService::failure_code() const {
  const wal::Wal* w = wal();
  const bool no_space = w != nullptr && w->failure().code() == Code::kNoSpace;
  return no_space ? proto::ErrorCode::kNoSpace : proto::ErrorCode::kIoFailed;
}

std::string LogService::failure_message() const {
  const wal::Wal* w = wal();
  return w == nullptr ? Status::Ok().ToString() : w->failure().ToString();
}

uint64_t LogService::add_follower(std::function<void()> wake) {
  MutexLock lock(followers_mu_);
  const uint64_t id = next_follower_id_++;
  followers_.emplace(id, std::move(wake));
  return id;
}

void LogService::remove_follower(uint64_t id) {
  MutexLock lock(followers_mu_);
  followers_.erase(id);
}

Status LogService::close() {
  join_recovery();
  if (!wal_) return Status::Ok();
  if (listener_id_ != 0) wal_->remove_durable_listener(listener_id_);
  Status st = wal_->close();
  return st;
}

void LogService::on_flush(uint32_t records, uint32_t /*batches*/, uint64_t /*bytes_written*/,
                          double sync_seconds) {
  metrics_->flushed(records, sync_seconds);
}

void LogService::on_dwb_write(uint64_t bytes) { metrics_->dwb_written(bytes); }

void LogService::on_failed(const Status& why) {
  log::error("log failed: appends now get an error; reads still work; restart to recover",
             {{"error", why.ToString()}});
}

}  // namespace sidewal::server
