// Daemon: sidewald's running process (server.h describes the lifecycle),
// internal to run_server(). It owns the log, the Asio contexts and threads,
// the Unix socket's acceptor, the admin port and the session table.
//
// The files, one job each: server.cc startup (the data directory lock, the
// keys, the archive, then Daemon::run: listen, start the threads and
// recovery, wait for the finish, close everything in order);
// daemon_listener.cc the Unix socket and accepting connections;
// daemon_lifecycle.cc the end of recovery and the shutdown (drain, timeout,
// finish); daemon_admin.cc the admin port's answers and the daemon's state.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/mutex.h"
#include "server/admin_http.h"
#include "server/archive_service.h"
#include "server/config.h"
#include "server/log_service.h"
#include "server/metrics.h"
#include "server/server.h"
#include "server/server_context.h"
#include "server/session/session.h"
#include "wal/codecs/segment_keys.h"
#include "wal/dir_lock.h"

namespace sidewal::server {

class Daemon {
 public:
  Daemon(const Config& config, std::shared_ptr<const wal::KeyRing> keys,
         std::shared_ptr<const wal::DirLock> dir_lock, std::unique_ptr<ArchiveService> archive);

  // Listens, serves until a signal or a failed recovery stops it, closes the
  // log; returns the process exit code.
  int run();

 private:
  // daemon_listener.cc: the Unix socket, accepting, the session table.
  Status listen_unix();
  void accept_next();
  void on_accept(const boost::system::error_code& ec, Session::Socket socket, size_t io);
  void on_connection_closed(uint64_t id);
  // daemon_lifecycle.cc: the end of recovery, the drain and the finish.
  void on_recovered(const Status& st, const wal::RecoveryReport& report);
  void begin_shutdown(int code, const std::string& why);
  void maybe_finish();
  void name_blocking_threads();
  // daemon_admin.cc: the admin port's answers (/metrics, /healthz, /readyz).
  AdminResponse admin(const std::string& path);
  DaemonState daemon_state();

  const Config config_;
  // Null when archive.enabled is false. Started once the log is open,
  // stopped before it closes.
  std::unique_ptr<ArchiveService> archive_;
  Metrics metrics_;
  LogService log_;
  static constexpr int kBlockingThreads = 2;
  boost::asio::thread_pool blocking_;  // kBlockingThreads, named by name_blocking_threads()
  ServerContext ctx_;
  // One io_context per connection thread (server.threads), each run by
  // exactly one thread: a connection lives on one of them for its whole
  // life, so its frames, its APPENDs, a leader flush and its replies run on
  // one thread with no wake-up of another (a single io_context run by N
  // threads handed every event from the thread in epoll to another one:
  // ~2.4 more context switches per commit, BENCHMARKS.md "Connection
  // threads"). Never empty; index 0 also runs control_. Declared after
  // everything connections point at: destroying a context destroys the
  // handlers that still hold connections.
  std::vector<std::unique_ptr<boost::asio::io_context>> ios_;
  boost::asio::io_context admin_io_;
  // Serialises the acceptor, signals, timers and the lifecycle flags below.
  boost::asio::strand<boost::asio::io_context::executor_type> control_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  boost::asio::signal_set signals_;
  boost::asio::steady_timer drain_timer_;
  boost::asio::steady_timer accept_retry_timer_;
  AdminServer admin_;

  Mutex sessions_mu_;
  struct SessionEntry {
    std::weak_ptr<Session> session;
    size_t io;  // index into ios_
  };
  // A new connection goes to the io_context with the fewest open
  // connections (counted here at each accept), so two busy connections do
  // not share a thread while another idles.
  std::unordered_map<uint64_t, SessionEntry> sessions_ GUARDED_BY(sessions_mu_);
  uint64_t next_conn_id_ GUARDED_BY(sessions_mu_) = 1;

  // Set by on_recovered() once the recovery's metrics are set and the
  // archive started; read by daemon_state() on the admin thread. Never
  // cleared (draining and failure are told apart before it is read).
  std::atomic<bool> started_{false};
  // Lifecycle, on control_.
  bool shutting_down_ = false;
  bool recovery_done_ = false;
  bool finished_ = false;
  int exit_code_ = kExitOk;
  std::promise<int> finished_promise_;
};

}  // namespace sidewal::server
