// src/proto against the shared conformance vectors
// (tests/protocol_vectors/vectors.json, schema in its README.md): every frame
// decodes to the fields the vector lists, every canonical frame is what the
// encoders write, every invalid frame is refused at the stage the vector
// names, and the daemon's rules beyond the codec (version, from_lsn 0, record
// types, control payloads, size limits) agree with each vector's verdict.
// The vectors are the contract: a failure here is a bug in src/proto (or in
// the daemon's rules), not a reason to regenerate the file.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "client/client.h"
#include "proto/protocol.h"
#include "vectors_json.h"
#include "wal/control/control_records.h"
#include "wal/wal.h"

#ifndef SIDEWAL_PROTOCOL_VECTORS
#error "SIDEWAL_PROTOCOL_VECTORS must name tests/protocol_vectors/vectors.json"
#endif

namespace sidewal::proto {
namespace {

using test::JsonValue;

const JsonValue& root() {
  static const JsonValue parsed = [] {
    std::ifstream in(SIDEWAL_PROTOCOL_VECTORS, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " SIDEWAL_PROTOCOL_VECTORS);
    std::stringstream text;
    text << in.rdbuf();
    return test::JsonSubsetParser(text.str()).parse();
  }();
  return parsed;
}

const std::vector<JsonValue>& vectors() { return root().at("vectors").arr(); }

std::vector<uint8_t> unhex(const std::string& s) {
  std::vector<uint8_t> out;
  int hi = -1;
  for (char c : s) {
    if (c == ' ') continue;
    int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (d < 0) throw std::runtime_error("bad hex digit in \"" + s + "\"");
    if (hi < 0) {
      hi = d;
    } else {
      out.push_back(static_cast<uint8_t>(hi * 16 + d));
      hi = -1;
    }
  }
  if (hi >= 0) throw std::runtime_error("odd number of hex digits in \"" + s + "\"");
  return out;
}

std::string hex(std::span<const uint8_t> b) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (uint8_t x : b) {
    out.push_back(digits[x >> 4]);
    out.push_back(digits[x & 15]);
  }
  return out;
}

// The limit a vector assumes: its context's, else the file's default.
uint64_t limit(const JsonValue& v, const char* key) {
  if (v.has("context") && v.at("context").has(key)) return v.at("context").at(key).u64();
  return root().at("defaults").at(key).u64();
}

bool rejected_at(const JsonValue& v, const char* stage) {
  return !v.at("reject").is_null() && v.at("reject").at("stage").str() == stage;
}

// A vector's frame: the decoded header and the body bytes.
struct Frame {
  std::vector<uint8_t> wire;
  FrameHeader h;
  std::span<const uint8_t> body;
};

Frame frame_of(const JsonValue& v) {
  Frame f;
  f.wire = unhex(v.at("hex").str());
  EXPECT_GE(f.wire.size(), kHeaderSize);
  if (f.wire.size() < kHeaderSize) return f;
  f.h = decode_header(f.wire.data());
  const JsonValue& h = v.at("header");
  EXPECT_EQ(f.h.body_len, h.at("body_len").u64());
  EXPECT_EQ(f.h.opcode, h.at("opcode").u64());
  EXPECT_EQ(f.h.flags, h.at("flags").u64());
  EXPECT_EQ(f.h.reserved, h.at("reserved").u64());
  EXPECT_EQ(f.h.request_id, h.at("request_id").u64());
  EXPECT_EQ(std::string(opcode_name(f.h.opcode)), h.at("opcode_name").str());
  if (!rejected_at(v, "frame_size")) {
    // Every other vector is one whole frame: header and exactly body_len bytes.
    EXPECT_EQ(f.wire.size(), kHeaderSize + f.h.body_len);
  }
  f.body = std::span<const uint8_t>(f.wire).subspan(kHeaderSize);
  return f;
}

// ---- Requests: decode, compare with `body`, re-encode.

// Decodes a request body; on success compares it with `want` and, when
// `canonical`, checks that the encoder writes `wire` again. Returns the
// decoder's Status.
Status check_request_body(const Frame& f, const JsonValue& want, bool canonical,
                          std::vector<AppendRecord>* appended) {
  std::vector<uint8_t> again;
  const uint64_t id = f.h.request_id;
  Status st;
  switch (static_cast<Opcode>(f.h.opcode)) {
    case Opcode::kHello: {
      Hello m;
      st = decode_hello(f.body, &m);
      if (!st.ok()) return st;
      m.flags = f.h.flags;
      EXPECT_EQ(m.version, want.at("version").u64());
      EXPECT_EQ(m.name, want.at("name").str());
      encode_hello(id, m, &again);
      break;
    }
    case Opcode::kAppend: {
      st = decode_append(f.body, appended);
      if (!st.ok()) return st;
      const auto& recs = want.at("records").arr();
      EXPECT_EQ(appended->size(), recs.size());
      for (size_t i = 0; i < recs.size() && i < appended->size(); ++i) {
        const AppendRecord& r = (*appended)[i];
        EXPECT_EQ(r.type, recs[i].at("type").u64()) << i;
        EXPECT_EQ(r.flags, recs[i].at("flags").u64()) << i;
        EXPECT_EQ(r.tenant, recs[i].at("tenant_id").u64()) << i;
        EXPECT_EQ(r.payload.size(), recs[i].at("payload_len").u64()) << i;
        EXPECT_EQ(hex(r.payload), recs[i].at("payload").str()) << i;
      }
      EXPECT_EQ(encoded_batch_bytes(*appended, 0), want.at("encoded_batch_bytes").u64());
      EXPECT_EQ(encoded_batch_bytes(*appended, 16), want.at("encoded_batch_bytes_extra16").u64());
      encode_append(id, *appended, &again);
      break;
    }
    case Opcode::kRead: {
      ReadRequest m;
      st = decode_read(f.body, &m);
      if (!st.ok()) return st;
      m.flags = f.h.flags;
      EXPECT_EQ(m.from_lsn, want.at("from_lsn").u64());
      EXPECT_EQ(m.max_records, want.at("max_records").u64());
      EXPECT_EQ(m.max_bytes, want.at("max_bytes").u64());
      EXPECT_EQ(m.follow, want.at("follow").u64());
      encode_read(id, m, &again);
      break;
    }
    case Opcode::kTruncate: {
      uint64_t before = 0;
      st = decode_truncate(f.body, &before);
      if (!st.ok()) return st;
      EXPECT_EQ(before, want.at("before_lsn").u64());
      encode_truncate(id, before, &again);
      break;
    }
    case Opcode::kStatus:
    case Opcode::kCancel: {
      st = decode_empty(f.body);
      if (!st.ok()) return st;
      EXPECT_TRUE(want.object.empty());
      if (f.h.opcode == static_cast<uint8_t>(Opcode::kStatus)) {
        encode_status(id, &again);
      } else {
        encode_cancel(id, &again);
      }
      break;
    }
    default: ADD_FAILURE() << "not a request opcode: " << int{f.h.opcode}; return st;
  }
  if (canonical) {
    EXPECT_EQ(hex(again), hex(f.wire));
  }
  return st;
}

// The daemon's checks after the codec (src/server/connection.cc, in its
// order), as the vector's context configures them: the ERROR code name, or
// "" when the request is served.
std::string daemon_verdict(const JsonValue& v, const Frame& f,
                           const std::vector<AppendRecord>& appended) {
  const auto op = static_cast<Opcode>(f.h.opcode);
  if (op == Opcode::kHello) {
    Hello m;
    EXPECT_TRUE(decode_hello(f.body, &m).ok());
    return m.version == kVersion ? "" : "UNSUPPORTED_VERSION";
  }
  if (op == Opcode::kRead) {
    ReadRequest m;
    EXPECT_TRUE(decode_read(f.body, &m).ok());
    return m.from_lsn == 0 ? "MALFORMED" : "";
  }
  if (op != Opcode::kAppend) return "";
  for (const AppendRecord& r : appended) {
    if (r.payload.size() > limit(v, "max_record_bytes")) return "RECORD_TOO_LARGE";
    if (r.type >= wal::kFirstControlType) {
      if (!wal::is_known_control_type(r.type)) return "RESERVED_RECORD_TYPE";
      if (!wal::validate_control_record(r.type, r.payload).ok()) return "MALFORMED";
    }
  }
  const auto extra = static_cast<uint32_t>(limit(v, "record_extra_bytes"));
  if (encoded_batch_bytes(appended, extra) > limit(v, "max_batch_bytes")) {
    return "RECORD_TOO_LARGE";
  }
  return "";
}

TEST(ProtocolVectors, EveryRequestDecodesEncodesOrIsRefusedWhereTheVectorSays) {
  size_t checked = 0;
  for (const JsonValue& v : vectors()) {
    if (v.at("direction").str() != "request") continue;
    SCOPED_TRACE(v.at("name").str());
    ++checked;
    const Frame f = frame_of(v);
    const bool valid = v.at("valid").b();
    EXPECT_EQ(valid, v.at("reject").is_null());
    const std::string stage = valid ? "" : v.at("reject").at("stage").str();
    const std::string error = valid ? "" : v.at("reject").at("error_name").str();
    if (!valid) {
      EXPECT_EQ(error,
                error_code_name(static_cast<ErrorCode>(v.at("reject").at("error_code").u64())));
      EXPECT_EQ(v.at("reject").at("closes_connection").b(), error == "FRAME_TOO_LARGE");
    }

    FrameHeader h;
    const auto max_frame = static_cast<uint32_t>(limit(v, "max_frame_body"));
    const FrameStatus fs = peek_frame(f.wire, max_frame, &h);
    if (stage == "frame_size") {
      EXPECT_EQ(fs, FrameStatus::kTooLarge);
      EXPECT_EQ(error, "FRAME_TOO_LARGE");
      continue;
    }
    EXPECT_EQ(fs, FrameStatus::kComplete);

    // The daemon's order (connection.cc dispatch): unknown opcode, then header flags/reserved.
    if (stage == "header") {
      EXPECT_TRUE(v.at("body").is_null());
      if (error == "UNKNOWN_OPCODE") {
        EXPECT_FALSE(is_request_opcode(f.h.opcode));
      } else {
        EXPECT_EQ(error, "MALFORMED");
        EXPECT_TRUE(is_request_opcode(f.h.opcode));
        EXPECT_FALSE(check_request_header(f.h).ok());
      }
      continue;
    }
    ASSERT_TRUE(is_request_opcode(f.h.opcode));
    EXPECT_TRUE(check_request_header(f.h).ok());

    std::vector<AppendRecord> appended;
    static const JsonValue kNoBody;
    const JsonValue& want = v.at("body");
    Status st =
        check_request_body(f, want.is_null() ? kNoBody : want, v.at("canonical").b(), &appended);
    if (stage == "body") {
      EXPECT_FALSE(st.ok());
      EXPECT_EQ(st.code(), Code::kInvalidArgument);
      EXPECT_EQ(error, "MALFORMED");
      EXPECT_TRUE(want.is_null());
      continue;
    }
    ASSERT_TRUE(st.ok()) << st.message();
    ASSERT_FALSE(want.is_null());
    EXPECT_EQ(daemon_verdict(v, f, appended), error);
  }
  EXPECT_GT(checked, 50u);
}

// ---- Replies.

Status check_reply_body(const Frame& f, const JsonValue& want, bool canonical) {
  std::vector<uint8_t> again;
  const uint64_t id = f.h.request_id;
  Status st;
  switch (static_cast<Opcode>(f.h.opcode)) {
    case Opcode::kHelloOk: {
      HelloOk m;
      st = decode_hello_ok(f.body, &m);
      if (!st.ok()) return st;
      EXPECT_EQ(m.version, want.at("version").u64());
      EXPECT_EQ(m.max_record_bytes, want.at("max_record_bytes").u64());
      EXPECT_EQ(m.first_lsn, want.at("first_lsn").u64());
      EXPECT_EQ(m.durable_lsn, want.at("durable_lsn").u64());
      const JsonValue& lim = want.at("limits");
      EXPECT_EQ(m.has_limits, !lim.is_null());
      if (m.has_limits && !lim.is_null()) {
        EXPECT_EQ(m.max_frame_body, lim.at("max_frame_body").u64());
        EXPECT_EQ(m.max_reply_body, lim.at("max_reply_body").u64());
        EXPECT_EQ(m.max_batch_bytes, lim.at("max_batch_bytes").u64());
        EXPECT_EQ(m.record_extra_bytes, lim.at("record_extra_bytes").u64());
      }
      encode_hello_ok(id, m, &again);
      break;
    }
    case Opcode::kAck: {
      Ack m;
      st = decode_ack(f.body, &m);
      if (!st.ok()) return st;
      EXPECT_EQ(m.first_lsn, want.at("first_lsn").u64());
      EXPECT_EQ(m.count, want.at("count").u64());
      encode_ack(id, m, &again);
      break;
    }
    case Opcode::kRecords: {
      const bool header_only = (f.h.flags & kRecordsHeaderOnly) != 0;
      std::vector<ReadRecord> recs;
      st = decode_records(f.body, &recs, header_only);
      if (!st.ok()) return st;
      EXPECT_EQ(header_only, want.at("header_only").b());
      const auto& w = want.at("records").arr();
      EXPECT_EQ(recs.size(), w.size());
      for (size_t i = 0; i < w.size() && i < recs.size(); ++i) {
        EXPECT_EQ(recs[i].lsn, w[i].at("lsn").u64()) << i;
        EXPECT_EQ(recs[i].type, w[i].at("type").u64()) << i;
        EXPECT_EQ(recs[i].flags, w[i].at("flags").u64()) << i;
        EXPECT_EQ(recs[i].tenant, w[i].at("tenant_id").u64()) << i;
        EXPECT_EQ(recs[i].payload_len, w[i].at("payload_len").u64()) << i;
        EXPECT_EQ(hex(recs[i].payload), w[i].at("payload").str()) << i;
      }
      const size_t start = begin_records(id, &again, header_only);
      for (const ReadRecord& r : recs) {
        if (header_only) {
          add_record_header(r, &again);
        } else {
          add_record(r, &again);
        }
      }
      finish_records(start, &again);
      // The daemon's packer writes the same single frame when it fits the budget.
      std::vector<uint8_t> packed;
      EXPECT_EQ(encode_records_frames(id, recs, header_only, kRecordsFrameBudget, &packed), 1u);
      EXPECT_EQ(hex(packed), hex(again));
      break;
    }
    case Opcode::kEnd: {
      uint64_t next = 0;
      st = decode_end(f.body, &next);
      if (!st.ok()) return st;
      EXPECT_EQ(next, want.at("next_lsn").u64());
      encode_end(id, next, &again);
      break;
    }
    case Opcode::kOk: {
      uint64_t first = 0;
      st = decode_ok(f.body, &first);
      if (!st.ok()) return st;
      EXPECT_EQ(first, want.at("first_lsn").u64());
      encode_ok(id, first, &again);
      break;
    }
    case Opcode::kStatusOk: {
      StatusReply m;
      st = decode_status_ok(f.body, &m);
      if (!st.ok()) return st;
      EXPECT_EQ(m.first_lsn, want.at("first_lsn").u64());
      EXPECT_EQ(m.durable_lsn, want.at("durable_lsn").u64());
      EXPECT_EQ(m.segments, want.at("segments").u64());
      EXPECT_EQ(m.bytes_on_disk, want.at("bytes_on_disk").u64());
      EXPECT_EQ(m.state, want.at("state").u64());
      encode_status_ok(id, m, &again);
      break;
    }
    case Opcode::kError: {
      ErrorReply m;
      st = decode_error(f.body, &m);
      if (!st.ok()) return st;
      EXPECT_EQ(static_cast<uint64_t>(m.code), want.at("code").u64());
      const JsonValue& name = want.at("code_name");
      EXPECT_EQ(std::string(error_code_name(m.code)),
                name.is_null() ? std::string("UNKNOWN_ERROR") : name.str());
      EXPECT_EQ(m.message, want.at("message").str());
      encode_error(id, m.code, m.message, &again);
      break;
    }
    default: ADD_FAILURE() << "not a reply opcode: " << int{f.h.opcode}; return st;
  }
  if (canonical) {
    EXPECT_EQ(hex(again), hex(f.wire));
  }
  return st;
}

bool is_reply_opcode(uint8_t op) {
  return (op >= static_cast<uint8_t>(Opcode::kHelloOk) &&
          op <= static_cast<uint8_t>(Opcode::kStatusOk)) ||
         op == static_cast<uint8_t>(Opcode::kError);
}

TEST(ProtocolVectors, EveryReplyDecodesEncodesOrIsRefusedWhereTheVectorSays) {
  size_t checked = 0;
  for (const JsonValue& v : vectors()) {
    if (v.at("direction").str() != "reply") continue;
    SCOPED_TRACE(v.at("name").str());
    ++checked;
    const Frame f = frame_of(v);
    const bool valid = v.at("valid").b();
    EXPECT_EQ(valid, v.at("reject").is_null());
    if (!valid) {
      EXPECT_TRUE(v.at("reject").at("error_code").is_null());
      EXPECT_FALSE(v.at("reject").at("closes_connection").b());
      EXPECT_TRUE(v.at("body").is_null());
    }
    FrameHeader h;
    EXPECT_EQ(peek_frame(f.wire, max_reply_body(kDefaultMaxRecordBytes), &h),
              FrameStatus::kComplete);
    if (rejected_at(v, "header")) {
      EXPECT_FALSE(is_reply_opcode(f.h.opcode));
      continue;
    }
    ASSERT_TRUE(is_reply_opcode(f.h.opcode));
    static const JsonValue kNoBody;
    const JsonValue& want = v.at("body");
    Status st = check_reply_body(f, want.is_null() ? kNoBody : want, v.at("canonical").b());
    if (valid) {
      EXPECT_TRUE(st.ok()) << st.message();
    } else {
      EXPECT_TRUE(rejected_at(v, "body"));
      EXPECT_FALSE(st.ok());
      EXPECT_EQ(st.code(), Code::kInvalidArgument);
    }
  }
  EXPECT_GT(checked, 40u);
}

TEST(ProtocolVectors, ExchangesReferToVectorsAndRepliesCarryTheirRequestsId) {
  std::map<std::string, const JsonValue*> by_name;
  for (const JsonValue& v : vectors()) {
    EXPECT_TRUE(by_name.emplace(v.at("name").str(), &v).second) << v.at("name").str();
  }
  for (const JsonValue& ex : root().at("exchanges").arr()) {
    SCOPED_TRACE(ex.at("name").str());
    std::set<uint64_t> sent;
    for (const JsonValue& step : ex.at("frames").arr()) {
      auto it = by_name.find(step.at("vector").str());
      ASSERT_NE(it, by_name.end()) << step.at("vector").str();
      const JsonValue& v = *it->second;
      const bool from_client = step.at("from").str() == "client";
      EXPECT_EQ(v.at("direction").str(), from_client ? "request" : "reply");
      const uint64_t id = v.at("header").at("request_id").u64();
      if (from_client) {
        sent.insert(id);
      } else if (id != 0) {
        EXPECT_EQ(sent.count(id), 1u) << "reply " << v.at("name").str() << " to no request";
      } else {
        // Only the unprompted UNAUTHORIZED has request_id 0.
        EXPECT_EQ(v.at("body").at("code_name").str(), "UNAUTHORIZED");
      }
    }
    if (ex.at("connection_closed").b()) {
      const JsonValue& last = *by_name[ex.at("frames").arr().back().at("vector").str()];
      const std::string code = last.at("body").at("code_name").str();
      EXPECT_TRUE(code == "FRAME_TOO_LARGE" || code == "UNAUTHORIZED") << code;
    }
  }
}

// The file covers what the brief of a conformance suite promises: every
// opcode in both directions, every error code, every flag, valid and invalid.
TEST(ProtocolVectors, CoverEveryOpcodeErrorCodeAndFlag) {
  std::set<uint64_t> valid_ops, invalid_request_ops, error_codes, refused_with;
  std::set<std::pair<uint64_t, uint64_t>> op_flags;  // (opcode, flags) of valid frames
  for (const JsonValue& v : vectors()) {
    const JsonValue& h = v.at("header");
    if (v.at("valid").b()) {
      valid_ops.insert(h.at("opcode").u64());
      op_flags.insert({h.at("opcode").u64(), h.at("flags").u64()});
      if (h.at("opcode").u64() == 0xFF) error_codes.insert(v.at("body").at("code").u64());
    } else if (v.at("direction").str() == "request") {
      invalid_request_ops.insert(h.at("opcode").u64());
      refused_with.insert(v.at("reject").at("error_code").u64());
    }
  }
  for (uint64_t op :
       {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0xFF}) {
    EXPECT_EQ(valid_ops.count(op), 1u) << "no valid vector of opcode " << op;
  }
  for (uint64_t op : {0x01, 0x02, 0x03, 0x04, 0x05, 0x06}) {
    EXPECT_EQ(invalid_request_ops.count(op), 1u) << "no invalid vector of opcode " << op;
  }
  for (uint64_t code = 1; code <= 11; ++code) {
    EXPECT_EQ(error_codes.count(code), 1u) << "no ERROR vector with code " << code;
  }
  for (uint64_t code : {1, 2, 3, 4, 10, 11}) {  // the ones a request's bytes alone cause
    EXPECT_EQ(refused_with.count(code), 1u) << "no request refused with " << code;
  }
  for (auto [op, flags] : std::vector<std::pair<uint64_t, uint64_t>>{{0x01, 0x00},
                                                                     {0x01, 0x01},
                                                                     {0x03, 0x00},
                                                                     {0x03, 0x01},
                                                                     {0x03, 0x02},
                                                                     {0x03, 0x03},
                                                                     {0x83, 0x00},
                                                                     {0x83, 0x02}}) {
    EXPECT_EQ(op_flags.count({op, flags}), 1u) << "opcode " << op << " flags " << flags;
  }
}

// The C++ client turns each ERROR into a Status that still carries the
// protocol code (client.h daemon_error_code), for codes it does not know too.
TEST(ProtocolVectors, ClientKeepsTheProtocolCodeOfEveryErrorVector) {
  for (const JsonValue& v : vectors()) {
    if (!v.at("valid").b() || v.at("header").at("opcode").u64() != 0xFF) continue;
    SCOPED_TRACE(v.at("name").str());
    Frame f = frame_of(v);
    ErrorReply m;
    ASSERT_TRUE(decode_error(f.body, &m).ok());
    const Status st = client::status_for_daemon_error(m.code, m.message);
    EXPECT_FALSE(st.ok());
    ASSERT_TRUE(client::daemon_error_code(st).has_value());
    EXPECT_EQ(static_cast<uint64_t>(*client::daemon_error_code(st)), v.at("body").at("code").u64());
    EXPECT_NE(st.message().find(m.message), std::string::npos);
  }
}

}  // namespace
}  // namespace sidewal::proto
