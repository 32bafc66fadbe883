// run_server: the startup before the daemon runs (the data directory lock,
// the keys, the archive), and Daemon::run (daemon.h): listen, start the
// threads and recovery, wait for the finish, close everything in order.
#include "server/server.h"

#include <boost/asio/post.hpp>

#include <sys/prctl.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <latch>
#include <memory>
#include <thread>
#include <vector>

#include "common/thread_name.h"
#include "server/daemon.h"
#include "server/log.h"
#include "wal/codecs/secure_key.h"

namespace sidewal::server {

namespace asio = boost::asio;

namespace {

wal::WalOptions wal_options(const Config& c, std::shared_ptr<const wal::KeyRing> keys,
                            std::shared_ptr<const wal::DirLock> dir_lock,
                            const ArchiveService* archive) {
  wal::WalOptions o;
  // Truncation never deletes what the archive lacks (archive.truncation_waits).
  if (archive != nullptr) o.truncation_floor = archive->floor();
  o.keys = std::move(keys);
  o.dir_lock = std::move(dir_lock);
  o.dir = c.data_dir;
  o.segment_bytes = c.wal_segment_bytes;
  o.max_record_bytes = c.wal_max_record_bytes;
  o.backend = c.wal_io_backend;
  o.sync_mode = c.wal_sync_mode;
  o.salvage = c.wal_salvage;
  o.dwb = c.wal_dwb;
  // Bounded to one flush per APPEND (wal.h); the connection thread then
  // answers without a hand-off to the flusher and back.
  o.caller_flushes = c.wal_caller_flushes;
  o.overlap_min_bytes = c.wal_overlap_min_bytes;
  o.staging_bytes = c.wal_staging_bytes;
  // append() runs on an Asio thread, so it must never wait: the connections'
  // in-flight bound (limits.max_inflight_bytes_total) bounds what the engine
  // queues, and the engine gets no bound of its own.
  o.max_pending_bytes = wal::kNoPendingBound;
  return o;
}

// One single-threaded io_context per connection thread. Concurrency hint 1:
// each is run by exactly one thread, so Asio never wakes another thread to
// run a handler; other threads (the engine's completion thread, the
// blocking pool) may still post to it, so its locking stays on.
std::vector<std::unique_ptr<asio::io_context>> make_session_ios(uint32_t threads) {
  SW_ASSERT(threads >= 1);
  std::vector<std::unique_ptr<asio::io_context>> ios;
  for (uint32_t i = 0; i < threads; ++i) ios.push_back(std::make_unique<asio::io_context>(1));
  return ios;
}

}  // namespace

Daemon::Daemon(const Config& config, std::shared_ptr<const wal::KeyRing> keys,
               std::shared_ptr<const wal::DirLock> dir_lock,
               std::unique_ptr<ArchiveService> archive)
    : config_(config),
      archive_(std::move(archive)),
      metrics_(config_.data_dir, config_.wal_segment_bytes),
      log_(wal_options(config, std::move(keys), std::move(dir_lock), archive_.get()), &metrics_),
      blocking_(kBlockingThreads),
      ctx_(&config_, &log_, &metrics_, &blocking_),
      ios_(make_session_ios(config_.threads)),
      control_(asio::make_strand(*ios_[0])),
      acceptor_(control_),
      signals_(control_, SIGTERM, SIGINT),
      drain_timer_(control_),
      accept_retry_timer_(control_),
      admin_(admin_io_, [this](const std::string& path) { return admin(path); }) {}

// The pool starts its threads itself, unnamed: one naming task per thread,
// each held until all have started, so no thread runs two of them.
void Daemon::name_blocking_threads() {
  // Shared: a task may still be returning from its wait when this returns.
  auto named = std::make_shared<std::latch>(kBlockingThreads);
  for (int i = 0; i < kBlockingThreads; ++i) {
    asio::post(blocking_, [named, i] {
      name_this_thread("sw-blocking-" + std::to_string(i));
      named->arrive_and_wait();
    });
  }
  named->wait();
}

int Daemon::run() {
  log::info("starting",
            {{"data_dir", config_.data_dir},
             {"socket", config_.socket_path},
             {"socket_mode", static_cast<uint64_t>(config_.socket_mode)},
             {"allowed_uids", static_cast<uint64_t>(config_.socket_allowed_uids.size())},
             {"admin", config_.admin_host + ":" + std::to_string(config_.admin_port)},
             {"segment_bytes", config_.wal_segment_bytes},
             {"max_record_bytes", config_.wal_max_record_bytes},
             {"io_backend", backend_kind_name(config_.wal_io_backend)},
             {"sync_mode", sync_mode_name(config_.wal_sync_mode)},
             {"salvage", config_.wal_salvage},
             {"dwb", config_.wal_dwb},
             {"caller_flushes", config_.wal_caller_flushes},
             {"overlap_min_bytes", config_.wal_overlap_min_bytes},
             {"staging_bytes", config_.wal_staging_bytes},
             {"max_frame_bytes", config_.max_frame_bytes},
             {"max_connections", config_.max_connections},
             {"threads", config_.threads}});
  // A peer that closes while we write must give EPIPE, not kill the daemon.
  std::signal(SIGPIPE, SIG_IGN);
  // A file-size limit (RLIMIT_FSIZE) must turn into a write error that
  // fail-stops the log, not kill the process mid-flush.
  std::signal(SIGXFSZ, SIG_IGN);

  if (Status st = listen_unix(); !st.ok()) {
    log::error("cannot listen on the Unix socket", {{"error", st.ToString()}});
    return kExitFailure;
  }
  if (Status st = admin_.listen(config_.admin_host, config_.admin_port); !st.ok()) {
    log::error("cannot listen on the admin address", {{"error", st.ToString()}});
    ::unlink(config_.socket_path.c_str());
    return kExitFailure;
  }
  log::info("listening", {{"socket", config_.socket_path},
                          {"admin", config_.admin_host + ":" + std::to_string(admin_.port())},
                          {"admin_port", admin_.port()}});

  ctx_.on_closed = [this](uint64_t id) { on_connection_closed(id); };
  signals_.async_wait([this](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    begin_shutdown(kExitOk, sig == SIGTERM ? "SIGTERM" : "SIGINT");
  });
  asio::post(control_, [this] { accept_next(); });
  admin_.start();

  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work;
  for (auto& io : ios_) work.push_back(asio::make_work_guard(*io));
  auto admin_work = asio::make_work_guard(admin_io_);
  name_blocking_threads();
  std::vector<std::thread> threads;
  for (size_t i = 0; i < ios_.size(); ++i) {
    threads.emplace_back([io = ios_[i].get()] { io->run(); });
    name_thread(threads.back(), "sw-socket-" + std::to_string(i));
  }
  std::thread admin_thread([this] { admin_io_.run(); });
  name_thread(admin_thread, "sw-admin");

  // archive.restore_on_empty runs on the recovery thread, before Wal::open.
  log_.start_recovery(
      [this](const Status& st, const wal::RecoveryReport& report) {
        asio::post(control_, [this, st, report] { on_recovered(st, report); });
      },
      archive_ ? archive_->before_open() : std::function<Status()>());

  const int code = finished_promise_.get_future().get();

  // Every connection is closed. Blocking reads finish, queued appends (none
  // are left unless the drain timed out) complete, then the log closes.
  blocking_.join();
  log_.join_recovery();
  if (archive_) archive_->stop();
  Status closed = log_.close();
  if (!closed.ok()) log::error("closing the log failed", {{"error", closed.ToString()}});

  asio::post(admin_io_, [this] { admin_.stop(); });
  admin_work.reset();
  admin_io_.stop();
  admin_thread.join();
  for (auto& w : work) w.reset();
  for (auto& io : ios_) io->stop();
  for (auto& t : threads) t.join();
  ::unlink(config_.socket_path.c_str());
  log::info("stopped", {{"exit_code", code}});
  return (code == kExitOk && !closed.ok()) ? kExitFailure : code;
}

// Loads the configured encryption keys (every listed one, so older segments
// stay readable; the current one only when encryption is enabled). Errors
// name the key id and its file; the key itself is never logged, only its id
// and fingerprint.
static Result<std::shared_ptr<const wal::KeyRing>> load_keys(const Config& c) {
  if (c.encryption_keys.empty()) return std::shared_ptr<const wal::KeyRing>();
  auto ring = std::make_shared<wal::KeyRing>();
  for (const Config::EncryptionKey& k : c.encryption_keys) {
    Result<std::unique_ptr<wal::SecureKey>> key = wal::SecureKey::load_file(k.file);
    if (!key.ok()) {
      return Status(key.status().code(),
                    "encryption key id " + std::to_string(k.id) + ": " + key.status().message());
    }
    if (!(*key)->locked()) {
      log::warn("encryption key memory could not be locked (RLIMIT_MEMLOCK); it may be swapped",
                {{"key_id", static_cast<uint64_t>(k.id)}, {"file", k.file}});
    }
    log::info("encryption key loaded",
              {{"key_id", static_cast<uint64_t>(k.id)},
               {"file", k.file},
               {"fingerprint", wal::fingerprint_hex((*key)->fingerprint())},
               {"current", c.encryption_enabled && k.id == c.encryption_current_key_id}});
    SIDEWAL_RETURN_IF_ERROR(ring->add(k.id, std::move(*key)));
  }
  if (c.encryption_enabled) SIDEWAL_RETURN_IF_ERROR(ring->set_current(c.encryption_current_key_id));
  return std::shared_ptr<const wal::KeyRing>(std::move(ring));
}

int run_server(const Config& config) {
  // One writer per data directory (docs/operations.md): locked before the log
  // is read and before the socket and the admin port are bound, so a second
  // daemon on the same directory never answers anything; held until exit.
  wal::LockHolder holder;
  Result<std::unique_ptr<wal::DirLock>> dir_lock =
      wal::DirLock::acquire(config.data_dir, wal::DirLock::Mode::kExclusive, &holder);
  if (!dir_lock.ok()) {
    const bool busy = dir_lock.status().code() == Code::kBusy;
    std::fprintf(stderr, "sidewald: %s\n", dir_lock.status().message().c_str());
    log::error(busy ? "data directory is locked by another process; not starting"
                    : "cannot lock the data directory; not starting",
               {{"error", dir_lock.status().ToString()},
                {"data_dir", config.data_dir},
                {"holder_pid", holder.pid},
                {"holder_host", holder.host}});
    return busy ? kExitDataDirLocked : kExitFailure;
  }
  log::info("data directory locked", {{"data_dir", config.data_dir},
                                      {"lock_file", (*dir_lock)->path()},
                                      {"pid", static_cast<int64_t>(::getpid())}});
  Result<std::shared_ptr<const wal::KeyRing>> keys = load_keys(config);
  if (!keys.ok()) {
    log::error("cannot load the encryption keys; nothing was opened or written",
               {{"error", keys.status().ToString()}});
    return kExitFailure;
  }
  if (*keys != nullptr) {
    // OpenSSL keeps AES key schedules in its own heap: no core dumps
    // (docs/encryption.md "Daemon rule").
    (void)::prctl(PR_SET_DUMPABLE, 0);
  }
  Result<std::unique_ptr<ArchiveService>> archive = ArchiveService::create(config);
  if (!archive.ok()) {
    log::error("cannot set up the archive; nothing was opened or written",
               {{"error", archive.status().ToString()}});
    return kExitFailure;
  }
  Daemon daemon(config, *keys, std::move(dir_lock).value(), std::move(archive).value());
  return daemon.run();
}

}  // namespace sidewal::server
