// The request bodies of protocol v1 (HELLO, APPEND, READ, TRUNCATE, STATUS,
// CANCEL): the client encodes them, the daemon decodes them.
// docs/protocol.md is the normative layout; every decoder checks the body
// length exactly (no trailing bytes, no short reads) and that reserved fields
// are zero, so a peer that drifts from the spec is caught at the first frame
// rather than misread.
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

constexpr size_t kHelloFixed = 8;  // u16 version, u16 reserved, u32 name_len
constexpr size_t kReadSize = 24;   // u64, u32, u32, u8, 7 reserved

}  // namespace

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

}  // namespace sidewal::proto
