// Protocol v1 between a database (client) and sidewald, over a Unix stream
// socket. docs/protocol.md is the normative description; this header is its
// code. Little-endian throughout; every message is a 16-byte FrameHeader and
// body_len bytes of body. Depends on nothing but src/common.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace sidewal::proto {

constexpr uint16_t kVersion = 1;
constexpr size_t kHeaderSize = 16;
constexpr size_t kAppendRecordHeaderSize = 12;  // u16 type, u16 flags, u32 tenant, u32 len
constexpr size_t kReadRecordHeaderSize = 20;    // u64 lsn + the 12 above

enum class Opcode : uint8_t {
  kHello = 0x01,
  kAppend = 0x02,
  kRead = 0x03,
  kTruncate = 0x04,
  kStatus = 0x05,
  kCancel = 0x06,
  kHelloOk = 0x81,
  kAck = 0x82,
  kRecords = 0x83,
  kEnd = 0x84,
  kOk = 0x85,
  kStatusOk = 0x86,
  kError = 0xFF,
};

enum class ErrorCode : uint16_t {
  kMalformed = 1,
  kFrameTooLarge = 2,
  kUnknownOpcode = 3,
  kUnsupportedVersion = 4,
  kNotReady = 5,
  kIoFailed = 6,
  kNoSpace = 7,
  kLsnTruncated = 8,
  kUnauthorized = 9,
  kRecordTooLarge = 10,
  kReservedRecordType = 11,
};
const char* error_code_name(ErrorCode code);  // "MALFORMED", ...

struct FrameHeader {
  uint32_t body_len = 0;
  uint8_t opcode = 0;
  uint8_t flags = 0;
  uint16_t reserved = 0;
  uint64_t request_id = 0;
};
void encode_header(const FrameHeader& h, uint8_t out[kHeaderSize]);
FrameHeader decode_header(const uint8_t in[kHeaderSize]);

// ---- Bodies. Each decode_* checks lengths exactly and returns a Status whose
// message says what was wrong; an encode_* appends a whole frame (header and
// body) to `out`.

// HELLO request flag (protocol v1 addition, header flags byte): the client
// asks for the limits block in HELLO_OK. A daemon that predates it refuses
// the flag with MALFORMED (the connection stays usable); a client that does
// not set it gets the original 24-byte HELLO_OK, so old clients need not know it.
constexpr uint8_t kHelloLimits = 0x01;

struct Hello {
  uint16_t version = kVersion;
  std::string name;
  uint8_t flags = 0;  // header flags: kHelloLimits
};
struct HelloOk {
  uint16_t version = kVersion;
  uint32_t max_record_bytes = 0;
  uint64_t first_lsn = 0;
  uint64_t durable_lsn = 0;
  // The limits block (docs/protocol.md "HELLO_OK"), sent only in reply to a
  // HELLO with kHelloLimits. decode_hello_ok sets has_limits when the body
  // carries it; encode_hello_ok appends it when has_limits is set.
  bool has_limits = false;
  uint32_t max_frame_body = 0;   // limits.max_frame_bytes: largest request body_len
  uint32_t max_reply_body = 0;   // largest reply body_len the daemon sends
  uint64_t max_batch_bytes = 0;  // largest APPEND, measured by encoded_batch_bytes()
  uint32_t record_extra_bytes =
      0;  // per-record term of encoded_batch_bytes(): 0, or 16 when encrypting
};
// One record of an APPEND; payload points into the frame body it came from.
struct AppendRecord {
  uint16_t type = 0;
  uint16_t flags = 0;
  uint32_t tenant = 0;
  std::span<const uint8_t> payload;
};
struct Ack {
  uint64_t first_lsn = 0;
  uint32_t count = 0;
};
// READ request flags, carried in the READ frame header's `flags` byte
// (protocol v1 additions: a client that sends 0 gets the v1 behaviour, so old
// clients need not know them). Other bits, and flags on other opcodes, stay
// MALFORMED.
constexpr uint8_t kReadSkipDead = 0x01;    // omit records dead by collection tombstone
constexpr uint8_t kReadHeaderOnly = 0x02;  // RECORDS entries without payload bytes
constexpr uint8_t kReadFlagsMask = kReadSkipDead | kReadHeaderOnly;
// RECORDS reply flag: the frame's entries carry no payload bytes (the reply
// to a HEADER_ONLY READ). Same bit as the request's, so a frame says itself
// how to parse it.
constexpr uint8_t kRecordsHeaderOnly = kReadHeaderOnly;

struct ReadRequest {
  uint64_t from_lsn = 0;
  uint32_t max_records = 0;  // 0 = no limit
  uint32_t max_bytes = 0;    // 0 = daemon default
  uint8_t follow = 0;
  uint8_t flags = 0;  // header flags: kReadSkipDead | kReadHeaderOnly
};
// One record of a RECORDS reply; payload points into the frame body.
struct ReadRecord {
  uint64_t lsn = 0;
  uint16_t type = 0;
  uint16_t flags = 0;
  uint32_t tenant = 0;
  std::span<const uint8_t> payload;
  // The stored payload length. decode_records fills it for every entry: equal
  // to payload.size(), except in a header-only frame where payload is empty.
  // add_record ignores it (it writes payload.size()); add_record_header writes it.
  uint32_t payload_len = 0;
};
struct StatusReply {
  uint64_t first_lsn = 0;
  uint64_t durable_lsn = 0;
  uint64_t segments = 0;
  uint64_t bytes_on_disk = 0;
  uint8_t state = 0;  // 0 recovering, 1 ready, 2 failed
};
struct ErrorReply {
  ErrorCode code = ErrorCode::kMalformed;
  std::string message;
};

// Requests.
// Writes m.flags into the frame header (0 for the original HELLO).
void encode_hello(uint64_t request_id, const Hello& m, std::vector<uint8_t>* out);
void encode_append(uint64_t request_id, std::span<const AppendRecord> records,
                   std::vector<uint8_t>* out);
// Writes m.flags into the frame header (0 for a v1 READ without flags).
void encode_read(uint64_t request_id, const ReadRequest& m, std::vector<uint8_t>* out);
void encode_truncate(uint64_t request_id, uint64_t before_lsn, std::vector<uint8_t>* out);
void encode_status(uint64_t request_id, std::vector<uint8_t>* out);
void encode_cancel(uint64_t request_id, std::vector<uint8_t>* out);

// The body only: m->flags is left as is (the caller copies the header's).
Status decode_hello(std::span<const uint8_t> body, Hello* m);
// Appends views of each record to *records (cleared first). An APPEND with no
// records, a record running past the body, or non-zero record flags is MALFORMED.
Status decode_append(std::span<const uint8_t> body, std::vector<AppendRecord>* records);
// The body only: m->flags is left as is (the caller copies the header's,
// after check_request_header accepted them).
Status decode_read(std::span<const uint8_t> body, ReadRequest* m);
Status decode_truncate(std::span<const uint8_t> body, uint64_t* before_lsn);
Status decode_empty(std::span<const uint8_t> body);  // STATUS and CANCEL

// Replies.
void encode_hello_ok(uint64_t request_id, const HelloOk& m, std::vector<uint8_t>* out);
void encode_ack(uint64_t request_id, const Ack& m, std::vector<uint8_t>* out);
// RECORDS is built incrementally: begin, add records, finish (fills body_len).
// header_only sets kRecordsHeaderOnly in the frame header: every entry is
// then added with add_record_header.
size_t begin_records(uint64_t request_id, std::vector<uint8_t>* out,
                     bool header_only = false);  // returns frame start
void add_record(const ReadRecord& r, std::vector<uint8_t>* out);
// A header-only entry: the 20-byte header with r.payload_len, no payload bytes.
void add_record_header(const ReadRecord& r, std::vector<uint8_t>* out);
void finish_records(size_t frame_start, std::vector<uint8_t>* out);
void encode_end(uint64_t request_id, uint64_t next_lsn, std::vector<uint8_t>* out);
void encode_ok(uint64_t request_id, uint64_t first_lsn, std::vector<uint8_t>* out);
void encode_status_ok(uint64_t request_id, const StatusReply& m, std::vector<uint8_t>* out);
void encode_error(uint64_t request_id, ErrorCode code, std::string_view message,
                  std::vector<uint8_t>* out);

// Accepts the original 24-byte body (has_limits = false) and a body with the
// limits block (48 bytes; bytes after the block are ignored, for fields a
// later version may append). Any other length is MALFORMED.
Status decode_hello_ok(std::span<const uint8_t> body, HelloOk* m);
Status decode_ack(std::span<const uint8_t> body, Ack* m);
// A header-only frame (header flags & kRecordsHeaderOnly) has entries without
// payload bytes: decode it with header_only = true.
Status decode_records(std::span<const uint8_t> body, std::vector<ReadRecord>* records,
                      bool header_only = false);
Status decode_end(std::span<const uint8_t> body, uint64_t* next_lsn);
Status decode_ok(std::span<const uint8_t> body, uint64_t* first_lsn);
Status decode_status_ok(std::span<const uint8_t> body, StatusReply* m);
Status decode_error(std::span<const uint8_t> body, ErrorReply* m);

// ---- Limits (docs/protocol.md "Limits"), shared by the daemon and the client.

// The default limit on a request's body_len: the default of the daemon's
// limits.max_frame_bytes (src/server/config.h uses this constant) and of the
// client's ClientOptions::max_request_body. The default largest record (1 MiB
// + 12 bytes of APPEND record header) fits well inside it.
constexpr uint32_t kDefaultMaxFrameBody = 4u << 20;
// The default of the daemon's wal.max_record_bytes (payload bytes of one record).
constexpr uint32_t kDefaultMaxRecordBytes = 1u << 20;
// The largest batch (APPEND) a daemon with the default configuration accepts,
// in encoded_batch_bytes(). In general the engine's limit is max(4 MiB,
// 2 x the largest encoded record), rounded up to the I/O alignment and no
// more than a segment holds: HELLO_OK advertises the exact value.
constexpr uint64_t kDefaultMaxBatchBytes = 4u << 20;

// The on-disk size the daemon measures a batch by (docs/format.md records):
// a 24-byte record header, the payload plus `record_extra_bytes` (the 16-byte
// tag of an encrypted record, HELLO_OK record_extra_bytes), rounded up to a
// multiple of 8.
constexpr uint64_t kStoredRecordHeaderSize = 24;
constexpr uint64_t kStoredRecordAlign = 8;
constexpr uint64_t encoded_record_bytes(uint64_t payload_len, uint32_t record_extra_bytes = 0) {
  return (kStoredRecordHeaderSize + payload_len + record_extra_bytes + kStoredRecordAlign - 1) /
         kStoredRecordAlign * kStoredRecordAlign;
}
// Sum of encoded_record_bytes over the batch: an APPEND is RECORD_TOO_LARGE
// when this is above the daemon's max_batch_bytes.
uint64_t encoded_batch_bytes(std::span<const uint32_t> payload_lens,
                             uint32_t record_extra_bytes = 0);
uint64_t encoded_batch_bytes(std::span<const AppendRecord> records,
                             uint32_t record_extra_bytes = 0);

// RECORDS frames: the daemon packs entries (kReadRecordHeaderSize + payload
// bytes each; the header alone in a HEADER_ONLY frame) until the next one
// would take the body above this; a frame whose single entry is bigger holds
// only that entry.
constexpr uint32_t kRecordsFrameBudget = 1u << 20;
// The largest reply body a daemon whose records are at most max_record_bytes
// sends: a RECORDS frame (the budget, or one maximal record with its entry
// header); every other reply is far smaller (ERROR messages are cut to
// kMaxErrorMessageBytes).
constexpr uint32_t max_reply_body(uint32_t max_record_bytes) {
  const uint64_t one = uint64_t{kReadRecordHeaderSize} + max_record_bytes;
  return one > kRecordsFrameBudget ? static_cast<uint32_t>(one) : kRecordsFrameBudget;
}
constexpr uint32_t kMaxErrorMessageBytes = 4096;

// Bytes one record's entry takes in a RECORDS body.
constexpr uint64_t records_entry_bytes(uint64_t payload_len, bool header_only) {
  return kReadRecordHeaderSize + (header_only ? 0 : payload_len);
}
// Packs `records` into whole RECORDS frames (appended to *out, back to back)
// of at most `max_body` body bytes each, in order; a record whose entry alone
// is above max_body gets a frame of its own. With header_only every entry is
// written by add_record_header (payload_len as given) and the frames carry
// kRecordsHeaderOnly. Returns the number of frames (0 for no records).
size_t encode_records_frames(uint64_t request_id, std::span<const ReadRecord> records,
                             bool header_only, uint32_t max_body, std::vector<uint8_t>* out);

// ---- Framing helpers (additions shared by the daemon and the client).

const char* opcode_name(uint8_t opcode);  // "APPEND", ..., "UNKNOWN"
bool is_request_opcode(uint8_t opcode);   // 0x01..0x06

// Splits a byte stream into frames. Looks at the bytes buffered so far:
// kIncomplete when fewer than a whole frame are there, kTooLarge when the
// header announces a body above max_body (the stream cannot be resynchronised:
// the reader must answer FRAME_TOO_LARGE and close), else kComplete with *h
// filled; the frame is then kHeaderSize + h->body_len bytes long.
enum class FrameStatus : uint8_t { kIncomplete, kComplete, kTooLarge };
FrameStatus peek_frame(std::span<const uint8_t> buffered, uint32_t max_body, FrameHeader* h);

// Requests must carry reserved == 0 and only the flags their opcode defines
// (READ: kReadFlagsMask; HELLO: kHelloLimits; every other opcode: none);
// MALFORMED otherwise.
// Replies are not checked this way.
Status check_request_header(const FrameHeader& h);
// The header flag bits a request opcode accepts.
uint8_t allowed_request_flags(uint8_t opcode);

}  // namespace sidewal::proto
