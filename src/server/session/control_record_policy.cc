#include "server/session/control_record_policy.h"

#include <cstdio>
#include <string>

#include "wal/control/control_records.h"
#include "wal/wal.h"

namespace sidewal::server {

RequestCheck check_control_record(size_t index, uint16_t type, std::span<const uint8_t> payload) {
  if (type < wal::kFirstControlType) return std::nullopt;
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%04x", type);
  if (!wal::is_known_control_type(type)) {
    return RequestError{proto::ErrorCode::kReservedRecordType,
                        "record " + std::to_string(index) + " has type " + buf +
                            "; types 0x8000-0xFFFF other than the control records "
                            "0x8001-0x8003 are reserved for the log"};
  }
  Status valid = wal::validate_control_record(type, payload);
  if (!valid.ok()) {
    return RequestError{proto::ErrorCode::kMalformed, "record " + std::to_string(index) +
                                                          " (control type " + buf +
                                                          "): " + valid.message()};
  }
  return std::nullopt;
}

}  // namespace sidewal::server
