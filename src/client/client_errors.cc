// Daemon ERROR replies as Statuses.
#include "client/client.h"

#include <string>
#include <string_view>

namespace sidewal::client {
namespace {

constexpr std::string_view kDaemonErrorPrefix = "daemon error ";

}  // namespace

// Daemon ERROR code -> Status code. The protocol code travels as the
// Status's remote_code(); the message names it too, for people.
//   MALFORMED, FRAME_TOO_LARGE, RECORD_TOO_LARGE,
//   RESERVED_RECORD_TYPE, UNAUTHORIZED      -> InvalidArgument (the request or peer is wrong)
//   UNKNOWN_OPCODE, UNSUPPORTED_VERSION     -> Unsupported
//   NOT_READY                               -> Busy (retry later)
//   IO_FAILED                               -> Failed (daemon fail-stopped)
//   NO_SPACE                                -> NoSpace
//   LSN_TRUNCATED                           -> Truncated
//   anything else (a newer daemon's code)   -> IoError
Status status_for_daemon_error(proto::ErrorCode code, const std::string& message) {
  const auto wire = static_cast<uint16_t>(code);
  std::string m = std::string(kDaemonErrorPrefix) + proto::error_code_name(code) + " (" +
                  std::to_string(wire) + "): " + message;
  Code local = Code::kIoError;
  switch (code) {
    case proto::ErrorCode::kMalformed:
    case proto::ErrorCode::kFrameTooLarge:
    case proto::ErrorCode::kRecordTooLarge:
    case proto::ErrorCode::kReservedRecordType:
    case proto::ErrorCode::kUnauthorized: local = Code::kInvalidArgument; break;
    case proto::ErrorCode::kUnknownOpcode:
    case proto::ErrorCode::kUnsupportedVersion: local = Code::kUnsupported; break;
    case proto::ErrorCode::kNotReady: local = Code::kBusy; break;
    case proto::ErrorCode::kIoFailed: local = Code::kFailed; break;
    case proto::ErrorCode::kNoSpace: local = Code::kNoSpace; break;
    case proto::ErrorCode::kLsnTruncated: local = Code::kTruncated; break;
  }
  // Code 0 is no ERROR code (docs/protocol.md; proto::decode_error refuses
  // it): reported as IoError with no code to carry.
  if (wire == 0) return Status::IoError(std::move(m));
  return Status(local, std::move(m), wire);
}

std::optional<proto::ErrorCode> daemon_error_code(const Status& status) {
  if (status.remote_code() == 0) return std::nullopt;
  return static_cast<proto::ErrorCode>(status.remote_code());
}

}  // namespace sidewal::client
