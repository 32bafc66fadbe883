// Request checks: what a request frame must satisfy before a handler serves
// it (docs/protocol.md "Frames" and each opcode's section). Pure functions of
// the frame and the limits; the session turns a refusal into an ERROR reply.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "proto/protocol.h"
#include "server/session/request_error.h"

namespace sidewal::server {

// A well-formed CANCEL: no reply of its own (the READ it ends answers).
bool is_well_formed_cancel(const proto::FrameHeader& h, std::span<const uint8_t> body);

// The header of any other request: a request opcode (UNKNOWN_OPCODE; the body
// was read and is dropped, so the connection stays usable), reserved 0 and
// only the flags its opcode defines (MALFORMED), and no CANCEL with a body.
RequestCheck check_request_frame(const proto::FrameHeader& h, std::span<const uint8_t> body);

// An APPEND's records: each payload within wal.max_record_bytes
// (RECORD_TOO_LARGE) and each control-type record accepted by the
// control-record policy (control_record_policy.h).
RequestCheck check_append_records(const std::vector<proto::AppendRecord>& records,
                                  uint32_t max_record_bytes);

// A READ's fields, after decoding: from_lsn >= 1 and follow 0 or 1.
RequestCheck check_read_request(const proto::ReadRequest& req);

}  // namespace sidewal::server
