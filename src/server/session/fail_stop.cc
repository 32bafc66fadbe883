#include "server/session/fail_stop.h"

namespace sidewal::server {

proto::ErrorCode error_code_for(const Status& st, const LogService& log) {
  switch (st.code()) {
    case Code::kTruncated: return proto::ErrorCode::kLsnTruncated;
    case Code::kNoSpace: return proto::ErrorCode::kNoSpace;
    case Code::kInvalidArgument: return proto::ErrorCode::kMalformed;
    case Code::kFailed: return log.failure_code();
    default: return proto::ErrorCode::kIoFailed;
  }
}

proto::ErrorCode append_error_code(const Status& st, const LogService& log) {
  if (st.code() == Code::kInvalidArgument) return proto::ErrorCode::kRecordTooLarge;
  return error_code_for(st, log);
}

}  // namespace sidewal::server
