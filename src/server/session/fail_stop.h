// Fail-stop classification: which protocol ERROR code an engine Status
// becomes (docs/protocol.md "Errors"), and which append errors mean the log
// fail-stopped.
#pragma once

#include "common/status.h"
#include "proto/protocol.h"
#include "server/log_service.h"
#include "wal/wal.h"

namespace sidewal::server {

// Any engine error. kFailed (the log is fail-stopped) answers
// LogService::failure_code(): NO_SPACE when the failure was ENOSPC,
// IO_FAILED otherwise.
proto::ErrorCode error_code_for(const Status& st, const LogService& log);

// An append's error. The engine refuses a batch above its encoded-size limit
// (Wal::max_batch_bytes) with kInvalidArgument: the request is too big for
// the log, not malformed, and splitting it fixes it (RECORD_TOO_LARGE).
proto::ErrorCode append_error_code(const Status& st, const LogService& log);

// Whether an append's error fail-stopped the log. NoSpace fail-stops only
// when it came from a data write; when only the next segment could not be
// created the engine stays ready (appends resume when space returns,
// docs/format.md), and so must the daemon.
bool append_error_fail_stops(const Status& st, const wal::Wal* wal);

}  // namespace sidewal::server
