#include "server/server.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <future>
#include <thread>
#include <unordered_map>

#include "common/json.h"
#include "common/mutex.h"
#include "server/admin_http.h"
#include "server/archive_service.h"
#include "server/log.h"
#include "server/log_service.h"
#include "server/metrics.h"
#include "server/server_context.h"
#include "server/session/session.h"
#include "server/unix_socket.h"
#include "wal/codecs/secure_key.h"
#include "wal/codecs/segment_keys.h"
#include "wal/dir_lock.h"

namespace sidewal::server {

namespace asio = boost::asio;
using UnixAcceptor = asio::local::stream_protocol::acceptor;

namespace {

const char* state_name(wal::LogState s) {
  switch (s) {
    case wal::LogState::kRecovering: return "recovering";
    case wal::LogState::kReady: return "ready";
    case wal::LogState::kFailed: return "failed";
  }
  return "?";
}

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
  // append() runs on an Asio thread, so it must never wait: the connections'
  // in-flight bound (limits.max_inflight_bytes_total) bounds what the engine
  // queues, and the engine gets no bound of its own.
  o.max_pending_bytes = wal::kNoPendingBound;
  return o;
}

class Daemon {
 public:
  Daemon(const Config& config, std::shared_ptr<const wal::KeyRing> keys,
         std::shared_ptr<const wal::DirLock> dir_lock, std::unique_ptr<ArchiveService> archive)
      : config_(config),
        archive_(std::move(archive)),
        metrics_(config_.data_dir, config_.wal_segment_bytes),
        log_(wal_options(config, std::move(keys), std::move(dir_lock), archive_.get()), &metrics_),
        blocking_(2),
        ctx_(&config_, &log_, &metrics_, &blocking_),
        control_(asio::make_strand(io_)),
        acceptor_(control_),
        signals_(control_, SIGTERM, SIGINT),
        drain_timer_(control_),
        accept_retry_timer_(control_),
        admin_(admin_io_, [this](const std::string& path) { return admin(path); }) {}

  int run();

 private:
  Status listen_unix();
  void accept_next();
  void on_accept(const boost::system::error_code& ec, Session::Socket socket);
  void on_recovered(const Status& st, const wal::RecoveryReport& report);
  void begin_shutdown(int code, const std::string& why);
  void on_connection_closed(uint64_t id);
  void maybe_finish();
  AdminResponse admin(const std::string& path);
  DaemonState daemon_state();

  const Config config_;
  // Null when archive.enabled is false. Started once the log is open,
  // stopped before it closes.
  std::unique_ptr<ArchiveService> archive_;
  Metrics metrics_;
  LogService log_;
  asio::thread_pool blocking_;
  ServerContext ctx_;
  // Declared after everything connections point at: destroying io_ destroys
  // the handlers that still hold connections.
  asio::io_context io_;
  asio::io_context admin_io_;
  // Serialises the acceptor, signals, timers and the lifecycle flags below.
  asio::strand<asio::io_context::executor_type> control_;
  UnixAcceptor acceptor_;
  asio::signal_set signals_;
  asio::steady_timer drain_timer_;
  asio::steady_timer accept_retry_timer_;
  AdminServer admin_;

  Mutex sessions_mu_;
  std::unordered_map<uint64_t, std::weak_ptr<Session>> sessions_ GUARDED_BY(sessions_mu_);
  uint64_t next_conn_id_ GUARDED_BY(sessions_mu_) = 1;

  // Lifecycle, on control_.
  bool shutting_down_ = false;
  bool recovery_done_ = false;
  bool finished_ = false;
  int exit_code_ = kExitOk;
  std::promise<int> finished_promise_;
};

Status Daemon::listen_unix() {
  const std::string& path = config_.socket_path;
  SIDEWAL_RETURN_IF_ERROR(ensure_parent_dir(path, "socket.path"));
  SIDEWAL_RETURN_IF_ERROR(claim_socket_path(path));
  boost::system::error_code ec;
  acceptor_.open(asio::local::stream_protocol(), ec);
  if (ec) return Status::IoError("socket.path " + path + ": socket(): " + ec.message());
  // The file is created by bind() with the umask applied: restrict it so the
  // socket never exists, even briefly, with wider permissions than socket.mode.
  const mode_t old_mask = ::umask(static_cast<mode_t>(~config_.socket_mode & 0777));
  acceptor_.bind(asio::local::stream_protocol::endpoint(path), ec);
  ::umask(old_mask);
  if (ec) return Status::IoError("socket.path " + path + ": bind(): " + ec.message());
  if (::chmod(path.c_str(), static_cast<mode_t>(config_.socket_mode)) != 0) {
    return Status::FromErrno(errno, "chmod socket.path " + path);
  }
  acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::IoError("socket.path " + path + ": listen(): " + ec.message());
  return Status::Ok();
}

void Daemon::accept_next() {
  acceptor_.async_accept(asio::make_strand(io_),
                         [this](const boost::system::error_code& ec, Session::Socket socket) {
                           on_accept(ec, std::move(socket));
                         });
}

void Daemon::on_accept(const boost::system::error_code& ec, Session::Socket socket) {
  if (shutting_down_ || ec == asio::error::operation_aborted) return;
  if (ec) {
    // EMFILE and friends: back off briefly instead of spinning on accept.
    log::warn("accept failed; retrying in 100 ms", {{"error", ec.message()}});
    accept_retry_timer_.expires_after(std::chrono::milliseconds(100));
    accept_retry_timer_.async_wait([this](const boost::system::error_code& e) {
      if (!e && !shutting_down_) accept_next();
    });
    return;
  }
  bool authorized = true;
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    log::warn("SO_PEERCRED failed; closing connection", {{"errno", errno}});
    authorized = false;
  } else if (!config_.socket_allowed_uids.empty()) {
    authorized = std::find(config_.socket_allowed_uids.begin(), config_.socket_allowed_uids.end(),
                           cred.uid) != config_.socket_allowed_uids.end();
    if (!authorized) {
      log::warn("rejected connection from a UID not in socket.allowed_uids",
                {{"uid", cred.uid}, {"pid", cred.pid}});
    }
  }
  std::shared_ptr<Session> conn;
  {
    MutexLock lock(sessions_mu_);
    if (sessions_.size() >= config_.max_connections) {
      log::warn("limits.max_connections reached; closing new connection",
                {{"max_connections", config_.max_connections}, {"pid", cred.pid}});
      boost::system::error_code ignored;
      socket.close(ignored);
    } else {
      const uint64_t id = next_conn_id_++;
      conn = std::make_shared<Session>(std::move(socket), &ctx_, id);
      sessions_.emplace(id, conn);
    }
  }
  if (conn) {
    log::debug("connection opened", {{"conn", conn->id()}, {"uid", cred.uid}, {"pid", cred.pid}});
    conn->start(authorized);
  }
  accept_next();
}

void Daemon::on_connection_closed(uint64_t id) {
  {
    MutexLock lock(sessions_mu_);
    sessions_.erase(id);
  }
  log::debug("connection closed", {{"conn", id}});
  asio::post(control_, [this] { maybe_finish(); });
}

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
    for (auto& [id, w] : sessions_) {
      if (auto c = w.lock()) live.push_back(std::move(c));
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
      for (auto& [id, w] : sessions_) {
        if (auto c = w.lock()) stuck.push_back(std::move(c));
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

// The one place /readyz and sidewal_state{state} get their answer from, so
// the two never disagree. The log's state (recovering until Wal::open
// returned, then the engine's own, which owns fail-stop) comes from
// LogService::state(); draining from SIGTERM/SIGINT or a failed recovery
// (begin_shutdown).
DaemonState Daemon::daemon_state() {
  const wal::LogState state = log_.state();
  if (state == wal::LogState::kFailed) return DaemonState::kFailed;
  if (ctx_.draining.load()) return DaemonState::kDraining;
  return state == wal::LogState::kReady ? DaemonState::kReady : DaemonState::kRecovering;
}

AdminResponse Daemon::admin(const std::string& path) {
  AdminResponse r;
  if (path == "/metrics") {
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    const DaemonState state = daemon_state();
    if (wal::Wal* wal = log_.wal()) {
      const wal::WalStatus s = wal->status();
      r.body = metrics_.scrape(state, &s);
    } else {
      r.body = metrics_.scrape(state, nullptr);
    }
    return r;
  }
  r.content_type = "application/json";
  if (path == "/healthz") {
    const wal::LogState state = log_.state();
    // Liveness: a fail-stopped log cannot heal in place, but a restart runs
    // recovery, which decides what survived; so failed is 500 and the
    // kubelet restarts the container. Recovering is alive (200).
    if (state == wal::LogState::kFailed) {
      r.status = 500;
      r.body = json_text({{"status", "failed"}, {"error", log_.failure_message()}}) + "\n";
    } else {
      r.body = json_text({{"status", "ok"}, {"state", state_name(state)}}) + "\n";
    }
    return r;
  }
  if (path == "/readyz") {
    const DaemonState ds = daemon_state();
    const bool ready = ds == DaemonState::kReady;
    r.status = ready ? 200 : 503;
    r.body = json_text({{"ready", ready}, {"state", daemon_state_name(ds)}}) + "\n";
    return r;
  }
  r.status = 404;
  r.content_type = "text/plain; charset=utf-8";
  r.body = "not found; try /metrics, /healthz or /readyz\n";
  return r;
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

  auto work = asio::make_work_guard(io_);
  auto admin_work = asio::make_work_guard(admin_io_);
  std::vector<std::thread> threads;
  for (uint32_t i = 0; i < config_.threads; ++i) threads.emplace_back([this] { io_.run(); });
  std::thread admin_thread([this] { admin_io_.run(); });

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
  work.reset();
  io_.stop();
  for (auto& t : threads) t.join();
  ::unlink(config_.socket_path.c_str());
  log::info("stopped", {{"exit_code", code}});
  return (code == kExitOk && !closed.ok()) ? kExitFailure : code;
}

}  // namespace

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
