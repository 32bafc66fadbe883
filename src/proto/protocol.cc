// Protocol v1 codec. docs/protocol.md is the normative layout; every decoder
// checks the body length exactly (no trailing bytes, no short reads; the one
// exception is HELLO_OK's limits block, which later versions may extend) and
// that reserved fields are zero, so a peer that drifts from the spec is caught at
// the first frame rather than misread.
#include "proto/protocol.h"

#include <string>

#include "common/endian.h"

namespace sidewal::proto {
namespace {

constexpr size_t kHelloFixed = 8;    // u16 version, u16 reserved, u32 name_len
constexpr size_t kHelloOkSize = 24;  // u16, u16, u32, u64, u64
constexpr size_t kHelloOkLimitsSize =
    48;                               // + u32 frame, u32 reply, u64 batch, u32 extra, u32 reserved
constexpr size_t kAckSize = 16;       // u64 first_lsn, u32 count, u32 reserved
constexpr size_t kReadSize = 24;      // u64, u32, u32, u8, 7 reserved
constexpr size_t kLsnSize = 8;        // TRUNCATE, END, OK
constexpr size_t kStatusOkSize = 40;  // 4 x u64, u8 state, 7 reserved
constexpr size_t kErrorFixed = 8;     // u16 code, u16 reserved, u32 msg_len

Status malformed(const char* what, const std::string& detail) {
  return Status::InvalidArgument(std::string(what) + " body: " + detail);
}

Status wrong_size(const char* what, size_t expected, size_t got) {
  return malformed(what,
                   "expected " + std::to_string(expected) + " bytes, got " + std::to_string(got));
}

Status too_short(const char* what, size_t expected, size_t got) {
  return malformed(what, "expected at least " + std::to_string(expected) + " bytes, got " +
                             std::to_string(got));
}

bool all_zero(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

// Writes a header with body_len 0 at the end of *out and returns its offset;
// finish_frame() fills body_len once the body is appended.
size_t begin_frame(Opcode op, uint64_t request_id, std::vector<uint8_t>* out) {
  size_t start = out->size();
  out->resize(start + kHeaderSize);
  FrameHeader h;
  h.opcode = static_cast<uint8_t>(op);
  h.request_id = request_id;
  encode_header(h, out->data() + start);
  return start;
}

void finish_frame(size_t start, std::vector<uint8_t>* out) {
  SW_ASSERT(out->size() >= start + kHeaderSize);
  size_t body = out->size() - start - kHeaderSize;
  // body_len is a u32 on the wire; callers bound records far below this.
  SW_ASSERT(body <= UINT32_MAX);
  put_u32(out->data() + start, static_cast<uint32_t>(body));
}

}  // namespace

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

// ---- Requests.

void encode_hello(uint64_t request_id, const Hello& m, std::vector<uint8_t>* out) {
  size_t start = begin_frame(Opcode::kHello, request_id, out);
  put_u8(out->data() + start + 5, m.flags);  // header flags byte
  ByteWriter w(out);
  w.u16(m.version);
  w.u16(0);
  SW_ASSERT(m.name.size() <= UINT32_MAX);
  w.u32(static_cast<uint32_t>(m.name.size()));
  w.bytes(m.name.data(), m.name.size());
  finish_frame(start, out);
}

void encode_append(uint64_t request_id, std::span<const AppendRecord> records,
                   std::vector<uint8_t>* out) {
  size_t start = begin_frame(Opcode::kAppend, request_id, out);
  size_t body = 0;
  for (const AppendRecord& r : records) body += kAppendRecordHeaderSize + r.payload.size();
  out->reserve(out->size() + body);
  ByteWriter w(out);
  for (const AppendRecord& r : records) {
    SW_ASSERT(r.payload.size() <= UINT32_MAX);
    w.u16(r.type);
    w.u16(r.flags);
    w.u32(r.tenant);
    w.u32(static_cast<uint32_t>(r.payload.size()));
    w.bytes(r.payload.data(), r.payload.size());
  }
  finish_frame(start, out);
}

void encode_read(uint64_t request_id, const ReadRequest& m, std::vector<uint8_t>* out) {
  size_t start = begin_frame(Opcode::kRead, request_id, out);
  put_u8(out->data() + start + 5, m.flags);  // header flags byte
  ByteWriter w(out);
  w.u64(m.from_lsn);
  w.u32(m.max_records);
  w.u32(m.max_bytes);
  w.u8(m.follow);
  w.zeros(7);
  finish_frame(start, out);
}

void encode_truncate(uint64_t request_id, uint64_t before_lsn, std::vector<uint8_t>* out) {
  size_t start = begin_frame(Opcode::kTruncate, request_id, out);
  ByteWriter(out).u64(before_lsn);
  finish_frame(start, out);
}

void encode_status(uint64_t request_id, std::vector<uint8_t>* out) {
  size_t start = begin_frame(Opcode::kStatus, request_id, out);
  finish_frame(start, out);
}

void encode_cancel(uint64_t request_id, std::vector<uint8_t>* out) {
  size_t start = begin_frame(Opcode::kCancel, request_id, out);
  finish_frame(start, out);
}

Status decode_hello(std::span<const uint8_t> body, Hello* m) {
  if (body.size() < kHelloFixed) return too_short("HELLO", kHelloFixed, body.size());
  ByteReader r(body.data(), body.size());
  uint16_t reserved = 0;
  uint32_t name_len = 0;
  (void)(r.u16(&m->version) && r.u16(&reserved) && r.u32(&name_len));
  if (reserved != 0) return malformed("HELLO", "reserved u16 at offset 2 must be 0");
  if (r.remaining() != name_len) {
    return malformed("HELLO", "name_len " + std::to_string(name_len) + " but " +
                                  std::to_string(r.remaining()) + " bytes follow");
  }
  m->name.assign(reinterpret_cast<const char*>(r.position()), name_len);
  return Status::Ok();
}

Status decode_append(std::span<const uint8_t> body, std::vector<AppendRecord>* records) {
  records->clear();
  if (body.empty()) return malformed("APPEND", "no records (an APPEND carries at least one)");
  ByteReader r(body.data(), body.size());
  while (r.remaining() > 0) {
    size_t at = body.size() - r.remaining();
    size_t index = records->size();
    AppendRecord rec;
    uint32_t len = 0;
    if (!(r.u16(&rec.type) && r.u16(&rec.flags) && r.u32(&rec.tenant) && r.u32(&len))) {
      records->clear();
      return malformed("APPEND", "record " + std::to_string(index) + " at offset " +
                                     std::to_string(at) + ": header needs " +
                                     std::to_string(kAppendRecordHeaderSize) + " bytes, " +
                                     std::to_string(body.size() - at) + " left");
    }
    if (rec.flags != 0) {
      records->clear();
      return malformed("APPEND", "record " + std::to_string(index) + " at offset " +
                                     std::to_string(at) + ": flags must be 0, got " +
                                     std::to_string(rec.flags));
    }
    const uint8_t* payload = nullptr;
    if (!r.bytes(len, &payload)) {
      records->clear();
      return malformed("APPEND", "record " + std::to_string(index) + " at offset " +
                                     std::to_string(at) + ": payload_len " + std::to_string(len) +
                                     " runs past the body (" + std::to_string(r.remaining()) +
                                     " bytes left)");
    }
    rec.payload = std::span<const uint8_t>(payload, len);
    records->push_back(rec);
  }
  return Status::Ok();
}

Status decode_read(std::span<const uint8_t> body, ReadRequest* m) {
  if (body.size() != kReadSize) return wrong_size("READ", kReadSize, body.size());
  const uint8_t* p = body.data();
  m->from_lsn = get_u64(p);
  m->max_records = get_u32(p + 8);
  m->max_bytes = get_u32(p + 12);
  m->follow = get_u8(p + 16);
  if (m->follow > 1) {
    return malformed("READ", "follow must be 0 or 1, got " + std::to_string(m->follow));
  }
  if (!all_zero(p + 17, 7)) return malformed("READ", "reserved bytes 17..23 must be 0");
  return Status::Ok();
}

Status decode_truncate(std::span<const uint8_t> body, uint64_t* before_lsn) {
  if (body.size() != kLsnSize) return wrong_size("TRUNCATE", kLsnSize, body.size());
  *before_lsn = get_u64(body.data());
  return Status::Ok();
}

Status decode_empty(std::span<const uint8_t> body) {
  if (!body.empty()) return wrong_size("STATUS/CANCEL", 0, body.size());
  return Status::Ok();
}

// ---- Replies.

void encode_hello_ok(uint64_t request_id, const HelloOk& m, std::vector<uint8_t>* out) {
  size_t start = begin_frame(Opcode::kHelloOk, request_id, out);
  ByteWriter w(out);
  w.u16(m.version);
  w.u16(0);
  w.u32(m.max_record_bytes);
  w.u64(m.first_lsn);
  w.u64(m.durable_lsn);
  if (m.has_limits) {
    w.u32(m.max_frame_body);
    w.u32(m.max_reply_body);
    w.u64(m.max_batch_bytes);
    w.u32(m.record_extra_bytes);
    w.u32(0);
  }
  finish_frame(start, out);
}

void encode_ack(uint64_t request_id, const Ack& m, std::vector<uint8_t>* out) {
  size_t start = begin_frame(Opcode::kAck, request_id, out);
  ByteWriter w(out);
  w.u64(m.first_lsn);
  w.u32(m.count);
  w.u32(0);
  finish_frame(start, out);
}

size_t begin_records(uint64_t request_id, std::vector<uint8_t>* out, bool header_only) {
  const size_t start = begin_frame(Opcode::kRecords, request_id, out);
  if (header_only) put_u8(out->data() + start + 5, kRecordsHeaderOnly);
  return start;
}

void add_record(const ReadRecord& r, std::vector<uint8_t>* out) {
  SW_ASSERT(r.payload.size() <= UINT32_MAX);
  ByteWriter w(out);
  w.u64(r.lsn);
  w.u16(r.type);
  w.u16(r.flags);
  w.u32(r.tenant);
  w.u32(static_cast<uint32_t>(r.payload.size()));
  w.bytes(r.payload.data(), r.payload.size());
}

void add_record_header(const ReadRecord& r, std::vector<uint8_t>* out) {
  ByteWriter w(out);
  w.u64(r.lsn);
  w.u16(r.type);
  w.u16(r.flags);
  w.u32(r.tenant);
  w.u32(r.payload_len);
}

void finish_records(size_t frame_start, std::vector<uint8_t>* out) {
  // A RECORDS frame carries at least one record (decode_records rejects an
  // empty one), so a sender must not finish a frame it added nothing to.
  SW_ASSERT_MSG(out->size() > frame_start + kHeaderSize, "RECORDS frame without records");
  finish_frame(frame_start, out);
}

size_t encode_records_frames(uint64_t request_id, std::span<const ReadRecord> records,
                             bool header_only, uint32_t max_body, std::vector<uint8_t>* out) {
  size_t frames = 0;
  size_t start = 0;
  uint64_t body = 0;  // of the frame being filled; 0 = no frame open
  for (const ReadRecord& r : records) {
    const uint64_t entry =
        records_entry_bytes(header_only ? r.payload_len : r.payload.size(), header_only);
    if (body > 0 && body + entry > max_body) {
      finish_records(start, out);
      body = 0;
    }
    if (body == 0) {
      start = begin_records(request_id, out, header_only);
      ++frames;
    }
    if (header_only) {
      add_record_header(r, out);
    } else {
      add_record(r, out);
    }
    body += entry;
  }
  if (body > 0) finish_records(start, out);
  return frames;
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

void encode_end(uint64_t request_id, uint64_t next_lsn, std::vector<uint8_t>* out) {
  size_t start = begin_frame(Opcode::kEnd, request_id, out);
  ByteWriter(out).u64(next_lsn);
  finish_frame(start, out);
}

void encode_ok(uint64_t request_id, uint64_t first_lsn, std::vector<uint8_t>* out) {
  size_t start = begin_frame(Opcode::kOk, request_id, out);
  ByteWriter(out).u64(first_lsn);
  finish_frame(start, out);
}

void encode_status_ok(uint64_t request_id, const StatusReply& m, std::vector<uint8_t>* out) {
  size_t start = begin_frame(Opcode::kStatusOk, request_id, out);
  ByteWriter w(out);
  w.u64(m.first_lsn);
  w.u64(m.durable_lsn);
  w.u64(m.segments);
  w.u64(m.bytes_on_disk);
  w.u8(m.state);
  w.zeros(7);
  finish_frame(start, out);
}

void encode_error(uint64_t request_id, ErrorCode code, std::string_view message,
                  std::vector<uint8_t>* out) {
  size_t start = begin_frame(Opcode::kError, request_id, out);
  ByteWriter w(out);
  w.u16(static_cast<uint16_t>(code));
  w.u16(0);
  SW_ASSERT(message.size() <= UINT32_MAX);
  w.u32(static_cast<uint32_t>(message.size()));
  w.bytes(message.data(), message.size());
  finish_frame(start, out);
}

Status decode_hello_ok(std::span<const uint8_t> body, HelloOk* m) {
  // 24 bytes: the original reply (no limits block). 48 or more: the limits
  // block; bytes after it are fields of a later version, ignored here.
  if (body.size() != kHelloOkSize && body.size() < kHelloOkLimitsSize) {
    return malformed("HELLO_OK", "expected " + std::to_string(kHelloOkSize) +
                                     " bytes, or at least " + std::to_string(kHelloOkLimitsSize) +
                                     " with the limits block, got " + std::to_string(body.size()));
  }
  const uint8_t* p = body.data();
  m->version = get_u16(p);
  if (get_u16(p + 2) != 0) return malformed("HELLO_OK", "reserved u16 at offset 2 must be 0");
  m->max_record_bytes = get_u32(p + 4);
  m->first_lsn = get_u64(p + 8);
  m->durable_lsn = get_u64(p + 16);
  m->has_limits = body.size() >= kHelloOkLimitsSize;
  if (!m->has_limits) {
    m->max_frame_body = m->max_reply_body = m->record_extra_bytes = 0;
    m->max_batch_bytes = 0;
    return Status::Ok();
  }
  m->max_frame_body = get_u32(p + 24);
  m->max_reply_body = get_u32(p + 28);
  m->max_batch_bytes = get_u64(p + 32);
  m->record_extra_bytes = get_u32(p + 40);
  // p + 44: reserved, sent as 0 and not checked (a later version may use it).
  if (m->max_frame_body == 0 || m->max_reply_body == 0 || m->max_batch_bytes == 0) {
    return malformed("HELLO_OK", "limits block with a zero limit (max_frame_body " +
                                     std::to_string(m->max_frame_body) + ", max_reply_body " +
                                     std::to_string(m->max_reply_body) + ", max_batch_bytes " +
                                     std::to_string(m->max_batch_bytes) + ")");
  }
  return Status::Ok();
}

Status decode_ack(std::span<const uint8_t> body, Ack* m) {
  if (body.size() != kAckSize) return wrong_size("ACK", kAckSize, body.size());
  const uint8_t* p = body.data();
  m->first_lsn = get_u64(p);
  m->count = get_u32(p + 8);
  if (get_u32(p + 12) != 0) return malformed("ACK", "reserved u32 at offset 12 must be 0");
  return Status::Ok();
}

Status decode_records(std::span<const uint8_t> body, std::vector<ReadRecord>* records,
                      bool header_only) {
  records->clear();
  if (body.empty())
    return malformed("RECORDS", "no records (a RECORDS frame carries at least one)");
  ByteReader r(body.data(), body.size());
  while (r.remaining() > 0) {
    size_t at = body.size() - r.remaining();
    size_t index = records->size();
    ReadRecord rec;
    uint32_t len = 0;
    if (!(r.u64(&rec.lsn) && r.u16(&rec.type) && r.u16(&rec.flags) && r.u32(&rec.tenant) &&
          r.u32(&len))) {
      records->clear();
      return malformed("RECORDS", "record " + std::to_string(index) + " at offset " +
                                      std::to_string(at) + ": header needs " +
                                      std::to_string(kReadRecordHeaderSize) + " bytes, " +
                                      std::to_string(body.size() - at) + " left");
    }
    rec.payload_len = len;
    if (header_only) {
      records->push_back(rec);  // no payload bytes follow the header
      continue;
    }
    const uint8_t* payload = nullptr;
    if (!r.bytes(len, &payload)) {
      records->clear();
      return malformed("RECORDS", "record " + std::to_string(index) + " at offset " +
                                      std::to_string(at) + ": payload_len " + std::to_string(len) +
                                      " runs past the body (" + std::to_string(r.remaining()) +
                                      " bytes left)");
    }
    rec.payload = std::span<const uint8_t>(payload, len);
    records->push_back(rec);
  }
  return Status::Ok();
}

Status decode_end(std::span<const uint8_t> body, uint64_t* next_lsn) {
  if (body.size() != kLsnSize) return wrong_size("END", kLsnSize, body.size());
  *next_lsn = get_u64(body.data());
  return Status::Ok();
}

Status decode_ok(std::span<const uint8_t> body, uint64_t* first_lsn) {
  if (body.size() != kLsnSize) return wrong_size("OK", kLsnSize, body.size());
  *first_lsn = get_u64(body.data());
  return Status::Ok();
}

Status decode_status_ok(std::span<const uint8_t> body, StatusReply* m) {
  if (body.size() != kStatusOkSize) return wrong_size("STATUS_OK", kStatusOkSize, body.size());
  const uint8_t* p = body.data();
  m->first_lsn = get_u64(p);
  m->durable_lsn = get_u64(p + 8);
  m->segments = get_u64(p + 16);
  m->bytes_on_disk = get_u64(p + 24);
  m->state = get_u8(p + 32);
  if (m->state > 2) {
    return malformed("STATUS_OK", "state must be 0, 1 or 2, got " + std::to_string(m->state));
  }
  if (!all_zero(p + 33, 7)) return malformed("STATUS_OK", "reserved bytes 33..39 must be 0");
  return Status::Ok();
}

Status decode_error(std::span<const uint8_t> body, ErrorReply* m) {
  if (body.size() < kErrorFixed) return too_short("ERROR", kErrorFixed, body.size());
  const uint8_t* p = body.data();
  uint16_t code = get_u16(p);
  // Codes this build does not know are kept (a newer daemon may add some);
  // error_code_name() prints them as UNKNOWN_ERROR. Code 0 is never valid.
  if (code == 0) return malformed("ERROR", "code 0 is not an error code");
  if (get_u16(p + 2) != 0) return malformed("ERROR", "reserved u16 at offset 2 must be 0");
  uint32_t len = get_u32(p + 4);
  if (body.size() - kErrorFixed != len) {
    return malformed("ERROR", "msg_len " + std::to_string(len) + " but " +
                                  std::to_string(body.size() - kErrorFixed) + " bytes follow");
  }
  m->code = static_cast<ErrorCode>(code);
  m->message.assign(reinterpret_cast<const char*>(p + kErrorFixed), len);
  return Status::Ok();
}

}  // namespace sidewal::proto
