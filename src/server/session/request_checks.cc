#include "server/session/request_checks.h"

#include <cstdio>
#include <string>

#include "server/session/control_record_policy.h"

namespace sidewal::server {

using proto::ErrorCode;

bool is_well_formed_cancel(const proto::FrameHeader& h, std::span<const uint8_t> body) {
  return h.opcode == static_cast<uint8_t>(proto::Opcode::kCancel) &&
         proto::check_request_header(h).ok() && body.empty();
}

RequestCheck check_request_frame(const proto::FrameHeader& h, std::span<const uint8_t> body) {
  if (!proto::is_request_opcode(h.opcode)) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "0x%02x", h.opcode);
    return RequestError{ErrorCode::kUnknownOpcode, std::string("unknown request opcode ") + buf};
  }
  // Only READ (SKIP_DEAD, HEADER_ONLY) and HELLO (LIMITS) define header
  // flags; any other bit is refused. The message lists what is allowed.
  if (!proto::check_request_header(h).ok()) {
    return RequestError{ErrorCode::kMalformed,
                        "header reserved must be 0 and flags 0 (READ: only 0x01 SKIP_DEAD, "
                        "0x02 HEADER_ONLY; HELLO: only 0x01 LIMITS)"};
  }
  if (h.opcode == static_cast<uint8_t>(proto::Opcode::kCancel) && !body.empty()) {
    return RequestError{ErrorCode::kMalformed, "CANCEL body must be empty"};
  }
  return std::nullopt;
}

RequestCheck check_append_records(const std::vector<proto::AppendRecord>& records,
                                  uint32_t max_record_bytes) {
  for (size_t i = 0; i < records.size(); ++i) {
    const proto::AppendRecord& r = records[i];
    if (r.payload.size() > max_record_bytes) {
      return RequestError{ErrorCode::kRecordTooLarge, "record " + std::to_string(i) +
                                                          " payload is " +
                                                          std::to_string(r.payload.size()) +
                                                          " bytes; wal.max_record_bytes is " +
                                                          std::to_string(max_record_bytes)};
    }
    if (RequestCheck refused = check_control_record(i, r.type, r.payload)) return refused;
  }
  return std::nullopt;
}

RequestCheck check_read_request(const proto::ReadRequest& req) {
  if (req.from_lsn == 0) return RequestError{ErrorCode::kMalformed, "from_lsn 0: LSNs start at 1"};
  if (req.follow > 1) return RequestError{ErrorCode::kMalformed, "follow must be 0 or 1"};
  return std::nullopt;
}

}  // namespace sidewal::server
