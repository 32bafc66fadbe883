#include "common/status.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace sidewal {

const char* code_name(Code code) {
  switch (code) {
    case Code::kOk: return "OK";
    case Code::kInvalidArgument: return "InvalidArgument";
    case Code::kNotFound: return "NotFound";
    case Code::kCorruption: return "Corruption";
    case Code::kIoError: return "IoError";
    case Code::kNoSpace: return "NoSpace";
    case Code::kUnsupported: return "Unsupported";
    case Code::kFailed: return "Failed";
    case Code::kTruncated: return "Truncated";
    case Code::kBusy: return "Busy";
    case Code::kClosed: return "Closed";
  }
  return "Unknown";
}

Status Status::FromErrno(int err, const std::string& what) {
  std::string msg = what + ": " + std::strerror(err);
  switch (err) {
    case ENOSPC:
    case EDQUOT: return NoSpace(std::move(msg));
    case ENOENT: return NotFound(std::move(msg));
    case EINVAL:
    case EOPNOTSUPP: return Unsupported(std::move(msg));
    case EEXIST:
    case EADDRINUSE:
    case EBUSY: return Busy(std::move(msg));
    default: return IoError(std::move(msg));
  }
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(code_name(code_)) + ": " + message_;
}

void assert_fail(const char* expr, const char* file, int line, const char* msg) {
  std::fprintf(stderr, "sidewal: invariant violated: %s at %s:%d%s%s\n", expr, file, line,
               msg ? ": " : "", msg ? msg : "");
  std::fflush(stderr);
  std::abort();
}

}  // namespace sidewal
