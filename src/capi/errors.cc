#include "capi/errors.h"

#include "proto/protocol.h"

namespace sidewal::capi {
namespace {

// This thread's last error message (sidewal_errmsg). When recording it
// fails for want of memory, out_of_memory says so instead.
thread_local std::string t_message;
thread_local bool t_out_of_memory = false;

// The C header repeats the protocol's codes: they must stay the same numbers.
static_assert(SIDEWAL_ERR_MALFORMED == static_cast<int>(proto::ErrorCode::kMalformed));
static_assert(SIDEWAL_ERR_FRAME_TOO_LARGE == static_cast<int>(proto::ErrorCode::kFrameTooLarge));
static_assert(SIDEWAL_ERR_UNKNOWN_OPCODE == static_cast<int>(proto::ErrorCode::kUnknownOpcode));
static_assert(SIDEWAL_ERR_UNSUPPORTED_VERSION ==
              static_cast<int>(proto::ErrorCode::kUnsupportedVersion));
static_assert(SIDEWAL_ERR_NOT_READY == static_cast<int>(proto::ErrorCode::kNotReady));
static_assert(SIDEWAL_ERR_IO_FAILED == static_cast<int>(proto::ErrorCode::kIoFailed));
static_assert(SIDEWAL_ERR_NO_SPACE == static_cast<int>(proto::ErrorCode::kNoSpace));
static_assert(SIDEWAL_ERR_LSN_TRUNCATED == static_cast<int>(proto::ErrorCode::kLsnTruncated));
static_assert(SIDEWAL_ERR_UNAUTHORIZED == static_cast<int>(proto::ErrorCode::kUnauthorized));
static_assert(SIDEWAL_ERR_RECORD_TOO_LARGE == static_cast<int>(proto::ErrorCode::kRecordTooLarge));
static_assert(SIDEWAL_ERR_RESERVED_RECORD_TYPE ==
              static_cast<int>(proto::ErrorCode::kReservedRecordType));

}  // namespace

int code_for(const Status& status) noexcept {
  if (status.ok()) return SIDEWAL_OK;
  // A daemon refusal carries the daemon's ERROR code as a field (also the
  // client's own RECORD_TOO_LARGE); its message is for people only.
  if (status.remote_code() != 0) return status.remote_code();
  switch (status.code()) {
    case Code::kClosed: return SIDEWAL_ERR_CLOSED;
    case Code::kInvalidArgument: return SIDEWAL_ERR_INVALID_ARGUMENT;
    case Code::kBusy: return SIDEWAL_ERR_BUSY;
    default:
      // The client makes no other local Status than those of a failed
      // connect() (NotFound for a missing socket file, IoError for a
      // refusal, ...), whether at sidewal_connect or at a reconnect.
      return SIDEWAL_ERR_CONNECT;
  }
}

int fail(int code, const char* message) noexcept {
  try {
    t_message.assign(message);
    t_out_of_memory = false;
  } catch (...) {
    t_out_of_memory = true;
  }
  return code;
}

int fail(int code, const std::string& message) noexcept { return fail(code, message.c_str()); }

int fail_status(const Status& status) noexcept {
  return fail(code_for(status), status.message().c_str());
}

}  // namespace sidewal::capi

extern "C" {

const char* sidewal_errmsg(void) {
  using namespace sidewal::capi;
  return t_out_of_memory ? "out of memory (while recording an error message)" : t_message.c_str();
}

const char* sidewal_code_name(int code) {
  switch (code) {
    case SIDEWAL_OK: return "OK";
    case SIDEWAL_ERR_CONNECT: return "CONNECT";
    case SIDEWAL_ERR_CLOSED: return "CLOSED";
    case SIDEWAL_ERR_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case SIDEWAL_ERR_BUSY: return "BUSY";
    case SIDEWAL_ERR_TIMEOUT: return "TIMEOUT";
    case SIDEWAL_ERR_NO_MEMORY: return "NO_MEMORY";
    case SIDEWAL_ERR_INTERNAL: return "INTERNAL";
  }
  // The protocol's names come from src/proto, the one table of them.
  if (code > 0 && code < SIDEWAL_ERR_CONNECT) {
    return sidewal::proto::error_code_name(static_cast<sidewal::proto::ErrorCode>(code));
  }
  return "UNKNOWN_ERROR";
}

}  // extern "C"
