// Control-record policy: which records of the log's own type range
// (0x8000-0xFFFF, wal::kFirstControlType) a client may append. The control
// records the log knows (docs/control-records.md) are accepted with a valid
// payload only; the rest of the range stays reserved for the log.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "server/session/request_error.h"

namespace sidewal::server {

// Record `index` of an APPEND, of `type`: RESERVED_RECORD_TYPE for an unknown
// control type, MALFORMED for a known one whose payload does not validate;
// nothing for an application type (below 0x8000) or a valid control record.
RequestCheck check_control_record(size_t index, uint16_t type, std::span<const uint8_t> payload);

}  // namespace sidewal::server
