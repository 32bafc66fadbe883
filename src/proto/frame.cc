// Protocol v1 framing (docs/protocol.md "Frames" and "Limits"): the
// 16-byte frame header, splitting a byte stream into frames, the header
// checks every request gets, the names of opcodes and error codes, and the
// batch size the limits are measured in. The bodies are requests.cc and
// replies.cc.
#include "proto/protocol.h"

#include <string>

#include "common/endian.h"

namespace sidewal::proto {

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kMalformed: return "MALFORMED";
    case ErrorCode::kFrameTooLarge: return "FRAME_TOO_LARGE";
    case ErrorCode::kUnknownOpcode: return "UNKNOWN_OPCODE";
    case ErrorCode::kUnsupportedVersion: return "UNSUPPORTED_VERSION";
    case ErrorCode::kNotReady: return "NOT_READY";
    case ErrorCode::kIoFailed: return "IO_FAILED";
    case ErrorCode::kNoSpace: return "NO_SPACE";
    case ErrorCode::kLsnTruncated: return "LSN_TRUNCATED";
    case ErrorCode::kUnauthorized: return "UNAUTHORIZED";
    case ErrorCode::kRecordTooLarge: return "RECORD_TOO_LARGE";
    case ErrorCode::kReservedRecordType: return "RESERVED_RECORD_TYPE";
  }
  return "UNKNOWN_ERROR";
}

const char* opcode_name(uint8_t opcode) {
  switch (static_cast<Opcode>(opcode)) {
    case Opcode::kHello: return "HELLO";
    case Opcode::kAppend: return "APPEND";
    case Opcode::kRead: return "READ";
    case Opcode::kTruncate: return "TRUNCATE";
    case Opcode::kStatus: return "STATUS";
    case Opcode::kCancel: return "CANCEL";
    case Opcode::kHelloOk: return "HELLO_OK";
    case Opcode::kAck: return "ACK";
    case Opcode::kRecords: return "RECORDS";
    case Opcode::kEnd: return "END";
    case Opcode::kOk: return "OK";
    case Opcode::kStatusOk: return "STATUS_OK";
    case Opcode::kError: return "ERROR";
  }
  return "UNKNOWN";
}

bool is_request_opcode(uint8_t opcode) {
  return opcode >= static_cast<uint8_t>(Opcode::kHello) &&
         opcode <= static_cast<uint8_t>(Opcode::kCancel);
}

void encode_header(const FrameHeader& h, uint8_t out[kHeaderSize]) {
  put_u32(out, h.body_len);
  put_u8(out + 4, h.opcode);
  put_u8(out + 5, h.flags);
  put_u16(out + 6, h.reserved);
  put_u64(out + 8, h.request_id);
}

FrameHeader decode_header(const uint8_t in[kHeaderSize]) {
  FrameHeader h;
  h.body_len = get_u32(in);
  h.opcode = get_u8(in + 4);
  h.flags = get_u8(in + 5);
  h.reserved = get_u16(in + 6);
  h.request_id = get_u64(in + 8);
  return h;
}

FrameStatus peek_frame(std::span<const uint8_t> buffered, uint32_t max_body, FrameHeader* h) {
  if (buffered.size() < kHeaderSize) return FrameStatus::kIncomplete;
  *h = decode_header(buffered.data());
  // Checked before the body arrives: a peer announcing a huge body must not
  // make the reader buffer it.
  if (h->body_len > max_body) return FrameStatus::kTooLarge;
  if (buffered.size() - kHeaderSize < h->body_len) return FrameStatus::kIncomplete;
  return FrameStatus::kComplete;
}

uint8_t allowed_request_flags(uint8_t opcode) {
  if (opcode == static_cast<uint8_t>(Opcode::kRead)) return kReadFlagsMask;
  if (opcode == static_cast<uint8_t>(Opcode::kHello)) return kHelloLimits;
  return 0;
}

Status check_request_header(const FrameHeader& h) {
  const uint8_t unknown = h.flags & static_cast<uint8_t>(~allowed_request_flags(h.opcode));
  if (unknown != 0) {
    return Status::InvalidArgument(std::string(opcode_name(h.opcode)) + " header: flags " +
                                   std::to_string(h.flags) + " carry bits " +
                                   std::to_string(unknown) + " this opcode does not define");
  }
  if (h.reserved != 0) {
    return Status::InvalidArgument(std::string(opcode_name(h.opcode)) +
                                   " header: reserved must be 0, got " +
                                   std::to_string(h.reserved));
  }
  return Status::Ok();
}

uint64_t encoded_batch_bytes(std::span<const uint32_t> payload_lens, uint32_t record_extra_bytes) {
  uint64_t total = 0;
  for (uint32_t n : payload_lens) total += encoded_record_bytes(n, record_extra_bytes);
  return total;
}

uint64_t encoded_batch_bytes(std::span<const AppendRecord> records, uint32_t record_extra_bytes) {
  uint64_t total = 0;
  for (const AppendRecord& r : records) {
    total += encoded_record_bytes(r.payload.size(), record_extra_bytes);
  }
  return total;
}

}  // namespace sidewal::proto
