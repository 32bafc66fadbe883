// Daemon's admin port answers (daemon.h): /metrics, /healthz and /readyz,
// and the one function both /readyz and sidewal_state{state} ask.
#include "server/daemon.h"

#include "common/json.h"

namespace sidewal::server {
namespace {

const char* state_name(wal::LogState s) {
  switch (s) {
    case wal::LogState::kRecovering: return "recovering";
    case wal::LogState::kReady: return "ready";
    case wal::LogState::kFailed: return "failed";
  }
  return "?";
}

}  // namespace

// The one place /readyz and sidewal_state{state} get their answer from, so
// the two never disagree. The log's state (recovering until Wal::open
// returned, then the engine's own, which owns fail-stop) comes from
// LogService::state(); draining from SIGTERM/SIGINT or a failed recovery
// (begin_shutdown). Ready only once on_recovered() has also run: the log is
// open a moment before the daemon has set the recovery's metrics
// (sidewal_io_backend_info, ...) and started the archive, and a probe or a
// scrape that trusts /readyz must see all of them.
DaemonState Daemon::daemon_state() {
  const wal::LogState state = log_.state();
  if (state == wal::LogState::kFailed) return DaemonState::kFailed;
  if (ctx_.draining.load()) return DaemonState::kDraining;
  return state == wal::LogState::kReady && started_.load() ? DaemonState::kReady
                                                           : DaemonState::kRecovering;
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

}  // namespace sidewal::server
