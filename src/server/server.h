// Server: sidewald's process. It owns the threads, the Unix socket, the admin
// HTTP port and the log, and runs the lifecycle:
//
//   start: lock the data directory (one writer per log; a second daemon on it
//          exits kExitDataDirLocked before binding anything), claim the
//          socket path, listen on it and on the admin port, then
//          recover the log on a background thread (requests get NOT_READY and
//          /readyz 503 meanwhile; STATUS answers with state 0).
//   ready: serve; /readyz 200 while the log accepts writes.
//   SIGTERM/SIGINT: stop accepting, stop reading requests, let in-flight
//          appends complete and ACK, close connections (bounded by
//          shutdown.drain_timeout_seconds), close the log, exit 0.
#pragma once

#include "server/config.h"

namespace sidewal::server {

// Exit codes of sidewald.
constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;        // could not start or recovery failed
constexpr int kExitConfigError = 2;    // bad config file or flags
constexpr int kExitDataDirLocked = 3;  // another process holds data_dir (its pid on stderr)

// Runs the daemon until a signal stops it; returns the process exit code.
int run_server(const Config& config);

}  // namespace sidewal::server
