// Claiming the Unix socket path safely.
//
// A socket file left by a crashed daemon is replaced; one that a live daemon
// still answers on is never stolen (two daemons on one socket would split
// clients between two logs).
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace sidewal::server {

// Ok when `path` is free: missing, or a stale socket (connect() refused),
// which is removed. kBusy when a process accepts connections on it;
// kInvalidArgument when something other than a socket is there.
Status claim_socket_path(const std::string& path);

// Creates `path`'s parent directories (mode 0755 where created).
Status ensure_parent_dir(const std::string& path, const std::string& key);

}  // namespace sidewal::server
