// The reply bodies of protocol v1 (HELLO_OK, ACK, RECORDS, END, OK,
// STATUS_OK, ERROR): the daemon encodes them, the client decodes them.
// docs/protocol.md is the normative layout; every decoder checks the body
// length exactly (no trailing bytes, no short reads; the one exception is
// HELLO_OK's limits block, which later versions may extend) and that reserved
// fields are zero, so a peer that drifts from the spec is caught at the first
// frame rather than misread.
#include "proto/protocol.h"

#include <string>

#include "common/endian.h"
#include "proto/body_codec.h"

namespace sidewal::proto {

using codec::malformed;
using codec::wrong_size;
using codec::too_short;
using codec::all_zero;
using codec::begin_frame;
using codec::finish_frame;
using codec::kLsnSize;

namespace {

constexpr size_t kHelloOkSize = 24;  // u16, u16, u32, u64, u64
// kHelloOkSize + u32 frame, u32 reply, u64 batch, u32 extra, u32 reserved
constexpr size_t kHelloOkLimitsSize = 48;
constexpr size_t kAckSize = 16;       // u64 first_lsn, u32 count, u32 reserved
constexpr size_t kStatusOkSize = 40;  // 4 x u64, u8 state, 7 reserved
constexpr size_t kErrorFixed = 8;     // u16 code, u16 reserved, u32 msg_len

}  // namespace

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
