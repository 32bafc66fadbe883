// Status and Result<T>: the one error path of the project.
//
// An operation that can fail returns a Status (or a Result<T>). Both are
// [[nodiscard]]: a caller must look at them. The message names the file, the
// offset and what was expected, so an operator can act on it without a
// debugger (LevelDB's util/status.h is the model).
#pragma once

#include <cassert>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace sidewal {

// Codes are coarse on purpose: they decide what a caller does next (retry
// elsewhere, fail-stop, report to the client). Detail goes in the message.
enum class Code : uint8_t {
  kOk = 0,
  kInvalidArgument,  // caller's input is wrong (bad config, oversized record)
  kNotFound,         // file or LSN does not exist
  kCorruption,       // bytes on disk are not what the format says
  kIoError,          // the OS reported EIO or similar
  kNoSpace,          // ENOSPC
  kUnsupported,      // e.g. O_DIRECT refused by the filesystem
  kFailed,           // the log is fail-stopped after an earlier I/O error
  kTruncated,        // the LSN was removed by truncation
  kBusy,             // resource in use (socket owned by a live daemon)
  kClosed,           // the log or connection was closed
};

const char* code_name(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status Corruption(std::string m) { return {Code::kCorruption, std::move(m)}; }
  static Status IoError(std::string m) { return {Code::kIoError, std::move(m)}; }
  static Status NoSpace(std::string m) { return {Code::kNoSpace, std::move(m)}; }
  static Status Unsupported(std::string m) { return {Code::kUnsupported, std::move(m)}; }
  static Status Failed(std::string m) { return {Code::kFailed, std::move(m)}; }
  static Status Truncated(std::string m) { return {Code::kTruncated, std::move(m)}; }
  static Status Busy(std::string m) { return {Code::kBusy, std::move(m)}; }
  static Status Closed(std::string m) { return {Code::kClosed, std::move(m)}; }
  // Maps an errno from a failed syscall to a Status; `what` says which call on
  // which file ("fdatasync /data/00000000000000000001.wal").
  static Status FromErrno(int err, const std::string& what);

  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  // An error a peer answered: `remote_code` is the code of its protocol
  // reply (docs/protocol.md "Errors": the daemon's ERROR code, never 0),
  // carried beside the Code rather than parsed back out of the message.
  Status(Code code, std::string message, uint16_t remote_code)
      : code_(code), remote_code_(remote_code), message_(std::move(message)) {
    assert(code != Code::kOk && remote_code != 0);
  }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  // The peer's protocol error code; 0 for an error that did not come from a
  // peer's reply (and for Ok). Code says what the caller does next; this
  // says exactly what the peer answered. ToString() and message() do not
  // show it (the message names it for people already).
  uint16_t remote_code() const { return remote_code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;

 private:
  Code code_ = Code::kOk;
  uint16_t remote_code_ = 0;
  std::string message_;
};

// Result<T> holds either a value or a non-ok Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    // A Result built from a Status must carry an error; an ok Status with no
    // value would be a value-less success.
    if (status_.ok()) std::abort();
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & {
    if (!value_) std::abort();
    return *value_;
  }
  const T& value() const& {
    if (!value_) std::abort();
    return *value_;
  }
  T&& value() && {
    if (!value_) std::abort();
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

 private:
  std::optional<T> value_;
  Status status_;
};

#define SIDEWAL_RETURN_IF_ERROR(expr) \
  do {                                \
    ::sidewal::Status _st = (expr);   \
    if (!_st.ok()) return _st;        \
  } while (0)

// Invariants that hold in production too (TigerBeetle style): a broken
// invariant stops the process before it writes garbage to the log.
[[noreturn]] void assert_fail(const char* expr, const char* file, int line, const char* msg);
#define SW_ASSERT(cond) \
  ((cond) ? (void)0 : ::sidewal::assert_fail(#cond, __FILE__, __LINE__, nullptr))
#define SW_ASSERT_MSG(cond, msg) \
  ((cond) ? (void)0 : ::sidewal::assert_fail(#cond, __FILE__, __LINE__, (msg)))

}  // namespace sidewal
