// Fail-stop classification: which protocol ERROR code an engine Status
// becomes (docs/protocol.md "Errors"). Only that: whether the log is
// fail-stopped is the engine's to say (Wal::state(), through LogService),
// never inferred from an error here. NO_SPACE from a next segment that could
// not be created leaves the log ready (appends resume when space returns,
// docs/format.md); NO_SPACE from a data write fails it.
#pragma once

#include "common/status.h"
#include "proto/protocol.h"
#include "server/log_service.h"

namespace sidewal::server {

// Any engine error. kFailed (the log is fail-stopped) answers
// LogService::failure_code(): NO_SPACE when the failure was ENOSPC,
// IO_FAILED otherwise.
proto::ErrorCode error_code_for(const Status& st, const LogService& log);

// An append's error. The engine refuses a batch above its encoded-size limit
// (Wal::max_batch_bytes) with kInvalidArgument: the request is too big for
// the log, not malformed, and splitting it fixes it (RECORD_TOO_LARGE).
proto::ErrorCode append_error_code(const Status& st, const LogService& log);

}  // namespace sidewal::server
