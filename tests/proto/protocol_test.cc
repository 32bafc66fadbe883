// Protocol v1 codec: every message round-trips, and every decoder rejects a
// body that is too short, too long or inconsistent with a message naming what
// was wrong.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "common/endian.h"
#include "proto/protocol.h"

namespace sidewal::proto {
namespace {

std::span<const uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string text_of(std::span<const uint8_t> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

// Splits one encoded frame into its header and body, checking that the frame
// is exactly header + body_len bytes.
struct Frame {
  FrameHeader h;
  std::vector<uint8_t> body;
};
Frame split(const std::vector<uint8_t>& wire) {
  EXPECT_GE(wire.size(), kHeaderSize);
  Frame f;
  f.h = decode_header(wire.data());
  EXPECT_EQ(wire.size(), kHeaderSize + f.h.body_len);
  f.body.assign(wire.begin() + kHeaderSize, wire.end());
  return f;
}

// Checks that `decode` rejects the body shortened by one byte and lengthened
// by one byte, with a message that names `what`.
void expect_rejects_short_and_long(const std::vector<uint8_t>& body, const char* what,
                                   const std::function<Status(std::span<const uint8_t>)>& decode) {
  ASSERT_TRUE(decode(body).ok()) << what;
  if (!body.empty()) {
    std::vector<uint8_t> shorter(body.begin(), body.end() - 1);
    Status s = decode(shorter);
    EXPECT_FALSE(s.ok()) << what << " short";
    EXPECT_EQ(s.code(), Code::kInvalidArgument);
    EXPECT_NE(s.message().find(what), std::string::npos) << s.message();
  }
  std::vector<uint8_t> longer = body;
  longer.push_back(0);
  Status s = decode(longer);
  EXPECT_FALSE(s.ok()) << what << " long";
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find(what), std::string::npos) << s.message();
}

TEST(ProtoHeader, RoundTripsAndIsLittleEndian) {
  FrameHeader h;
  h.body_len = 0x01020304;
  h.opcode = 0x83;
  h.flags = 0;
  h.reserved = 0;
  h.request_id = 0x1122334455667788ull;
  uint8_t b[kHeaderSize];
  encode_header(h, b);
  EXPECT_EQ(b[0], 0x04);
  EXPECT_EQ(b[3], 0x01);
  EXPECT_EQ(b[4], 0x83);
  EXPECT_EQ(b[8], 0x88);
  FrameHeader back = decode_header(b);
  EXPECT_EQ(back.body_len, h.body_len);
  EXPECT_EQ(back.opcode, h.opcode);
  EXPECT_EQ(back.request_id, h.request_id);
}

TEST(ProtoHeader, PeekFrameReportsIncompleteCompleteAndTooLarge) {
  std::vector<uint8_t> wire;
  encode_truncate(9, 77, &wire);
  FrameHeader h;
  EXPECT_EQ(peek_frame(std::span(wire).first(kHeaderSize - 1), 1024, &h), FrameStatus::kIncomplete);
  EXPECT_EQ(peek_frame(std::span(wire).first(wire.size() - 1), 1024, &h), FrameStatus::kIncomplete);
  EXPECT_EQ(peek_frame(wire, 1024, &h), FrameStatus::kComplete);
  EXPECT_EQ(h.body_len, 8u);
  EXPECT_EQ(h.request_id, 9u);
  // The limit applies to the announced length, before any body byte arrives.
  EXPECT_EQ(peek_frame(std::span(wire).first(kHeaderSize), 7, &h), FrameStatus::kTooLarge);
  EXPECT_EQ(peek_frame(wire, 8, &h), FrameStatus::kComplete);
}

TEST(ProtoHeader, RequestHeaderFlagsAndReservedMustBeZero) {
  FrameHeader h;
  h.opcode = static_cast<uint8_t>(Opcode::kAppend);
  EXPECT_TRUE(check_request_header(h).ok());
  h.flags = 1;
  Status s = check_request_header(h);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("APPEND header: flags"), std::string::npos) << s.message();
  h.flags = 0;
  h.reserved = 2;
  EXPECT_FALSE(check_request_header(h).ok());
}

TEST(ProtoHeader, ReadAcceptsSkipDeadAndHeaderOnlyFlagsAndNothingElse) {
  FrameHeader h;
  h.opcode = static_cast<uint8_t>(Opcode::kRead);
  for (uint8_t flags : {0x00, 0x01, 0x02, 0x03}) {
    h.flags = flags;
    EXPECT_TRUE(check_request_header(h).ok()) << int(flags);
  }
  for (uint8_t flags : {0x04, 0x05, 0x80, 0xFF}) {
    h.flags = flags;
    Status s = check_request_header(h);
    EXPECT_FALSE(s.ok()) << int(flags);
    EXPECT_NE(s.message().find("READ header: flags"), std::string::npos) << s.message();
  }
  // The READ flags mean nothing on other opcodes (HELLO's own 0x01 is
  // kHelloLimits, see ProtoHello below).
  for (Opcode op : {Opcode::kAppend, Opcode::kTruncate, Opcode::kStatus, Opcode::kCancel}) {
    h.opcode = static_cast<uint8_t>(op);
    h.flags = kReadSkipDead;
    EXPECT_FALSE(check_request_header(h).ok()) << opcode_name(h.opcode);
    h.flags = kReadHeaderOnly;
    EXPECT_FALSE(check_request_header(h).ok()) << opcode_name(h.opcode);
    EXPECT_EQ(allowed_request_flags(h.opcode), 0);
  }
  EXPECT_EQ(allowed_request_flags(0x03), 0x03);
}

TEST(ProtoNames, OpcodesAndErrorCodesHaveNames) {
  EXPECT_STREQ(opcode_name(0x02), "APPEND");
  EXPECT_STREQ(opcode_name(0xFF), "ERROR");
  EXPECT_STREQ(opcode_name(0x42), "UNKNOWN");
  EXPECT_TRUE(is_request_opcode(0x01));
  EXPECT_TRUE(is_request_opcode(0x06));
  EXPECT_FALSE(is_request_opcode(0x07));
  EXPECT_FALSE(is_request_opcode(0x82));
  EXPECT_STREQ(error_code_name(ErrorCode::kMalformed), "MALFORMED");
  EXPECT_STREQ(error_code_name(ErrorCode::kReservedRecordType), "RESERVED_RECORD_TYPE");
  EXPECT_STREQ(error_code_name(static_cast<ErrorCode>(99)), "UNKNOWN_ERROR");
}

TEST(ProtoHello, RoundTripsAndRejectsBadBodies) {
  std::vector<uint8_t> wire;
  Hello m;
  m.name = "postgres-7";
  encode_hello(42, m, &wire);
  Frame f = split(wire);
  EXPECT_EQ(f.h.opcode, static_cast<uint8_t>(Opcode::kHello));
  EXPECT_EQ(f.h.request_id, 42u);
  EXPECT_EQ(f.body.size(), 8u + m.name.size());
  Hello back;
  ASSERT_TRUE(decode_hello(f.body, &back).ok());
  EXPECT_EQ(back.version, kVersion);
  EXPECT_EQ(back.name, "postgres-7");
  expect_rejects_short_and_long(f.body, "HELLO", [&](auto b) { return decode_hello(b, &back); });
  EXPECT_FALSE(decode_hello(std::span(f.body).first(7), &back).ok());
}

TEST(ProtoHello, LimitsFlagTravelsInTheHeaderAndIsTheOnlyHelloFlag) {
  std::vector<uint8_t> wire;
  Hello m;
  m.name = "db";
  m.flags = kHelloLimits;
  encode_hello(8, m, &wire);
  Frame f = split(wire);
  EXPECT_EQ(f.h.flags, 0x01);
  EXPECT_EQ(f.body.size(), 8u + 2);  // the body is the original HELLO's
  EXPECT_TRUE(check_request_header(f.h).ok());
  EXPECT_EQ(allowed_request_flags(static_cast<uint8_t>(Opcode::kHello)), kHelloLimits);
  for (uint8_t flags : {0x02, 0x03, 0x80}) {
    f.h.flags = flags;
    Status s = check_request_header(f.h);
    EXPECT_FALSE(s.ok()) << int(flags);
    EXPECT_NE(s.message().find("HELLO header: flags"), std::string::npos) << s.message();
  }
  // Without the flag: the original HELLO, byte for byte.
  wire.clear();
  encode_hello(8, Hello{.version = kVersion, .name = "db"}, &wire);
  EXPECT_EQ(split(wire).h.flags, 0);
}

TEST(ProtoHello, EmptyNameIsValid) {
  std::vector<uint8_t> wire;
  encode_hello(1, Hello{}, &wire);
  Frame f = split(wire);
  Hello back;
  back.name = "stale";
  ASSERT_TRUE(decode_hello(f.body, &back).ok());
  EXPECT_EQ(back.name, "");
}

TEST(ProtoHelloOk, RoundTripsAndRejectsBadBodies) {
  std::vector<uint8_t> wire;
  HelloOk m;
  m.max_record_bytes = 1 << 20;
  m.first_lsn = 5;
  m.durable_lsn = 1234567890123ull;
  encode_hello_ok(3, m, &wire);
  Frame f = split(wire);
  EXPECT_EQ(f.h.opcode, 0x81);
  EXPECT_EQ(f.body.size(), 24u);
  HelloOk back;
  ASSERT_TRUE(decode_hello_ok(f.body, &back).ok());
  EXPECT_EQ(back.version, 1);
  EXPECT_EQ(back.max_record_bytes, m.max_record_bytes);
  EXPECT_EQ(back.first_lsn, 5u);
  EXPECT_EQ(back.durable_lsn, m.durable_lsn);
  expect_rejects_short_and_long(f.body, "HELLO_OK",
                                [&](auto b) { return decode_hello_ok(b, &back); });
}

TEST(ProtoHelloOk, LimitsBlockRoundTripsAtItsDocumentedOffsets) {
  std::vector<uint8_t> wire;
  HelloOk m;
  m.max_record_bytes = 1 << 20;
  m.first_lsn = 5;
  m.durable_lsn = 77;
  m.has_limits = true;
  m.max_frame_body = 4u << 20;
  m.max_reply_body = max_reply_body(1u << 20);
  m.max_batch_bytes = 0x0102030405ull;
  m.record_extra_bytes = 16;
  encode_hello_ok(3, m, &wire);
  Frame f = split(wire);
  ASSERT_EQ(f.body.size(), 48u);
  // The original 24 bytes are unchanged; the block follows (docs/protocol.md).
  EXPECT_EQ(get_u32(f.body.data() + 4), 1u << 20);
  EXPECT_EQ(get_u64(f.body.data() + 16), 77u);
  EXPECT_EQ(get_u32(f.body.data() + 24), 4u << 20);
  EXPECT_EQ(get_u32(f.body.data() + 28), (1u << 20) + 20);
  EXPECT_EQ(get_u64(f.body.data() + 32), 0x0102030405ull);
  EXPECT_EQ(get_u32(f.body.data() + 40), 16u);
  EXPECT_EQ(get_u32(f.body.data() + 44), 0u);
  HelloOk back;
  ASSERT_TRUE(decode_hello_ok(f.body, &back).ok());
  EXPECT_TRUE(back.has_limits);
  EXPECT_EQ(back.max_record_bytes, 1u << 20);
  EXPECT_EQ(back.first_lsn, 5u);
  EXPECT_EQ(back.durable_lsn, 77u);
  EXPECT_EQ(back.max_frame_body, 4u << 20);
  EXPECT_EQ(back.max_reply_body, (1u << 20) + 20);
  EXPECT_EQ(back.max_batch_bytes, 0x0102030405ull);
  EXPECT_EQ(back.record_extra_bytes, 16u);

  // Fields a later version appends after the block are ignored.
  std::vector<uint8_t> later = f.body;
  later.insert(later.end(), {1, 2, 3, 4, 5, 6, 7, 8});
  HelloOk back2;
  ASSERT_TRUE(decode_hello_ok(later, &back2).ok());
  EXPECT_EQ(back2.max_batch_bytes, back.max_batch_bytes);
  // Between the original reply and a whole block: malformed.
  for (size_t n : {25u, 30u, 47u}) {
    Status s = decode_hello_ok(std::span(f.body).first(n), &back2);
    EXPECT_FALSE(s.ok()) << n;
    EXPECT_NE(s.message().find("HELLO_OK"), std::string::npos) << s.message();
  }
  // A block with a zero limit is malformed.
  std::vector<uint8_t> zero = f.body;
  put_u32(zero.data() + 28, 0);
  EXPECT_FALSE(decode_hello_ok(zero, &back2).ok());
}

TEST(ProtoHelloOk, TheOriginalReplyIsAcceptedWithoutLimitsAndEncodedByDefault) {
  // What a daemon that predates the block sends (and what a new one sends to
  // a HELLO without kHelloLimits): 24 bytes, has_limits false.
  std::vector<uint8_t> wire;
  HelloOk m;
  m.max_record_bytes = 123456;
  m.first_lsn = 9;
  m.durable_lsn = 10;
  encode_hello_ok(4, m, &wire);
  Frame f = split(wire);
  ASSERT_EQ(f.body.size(), 24u);
  HelloOk back;
  back.has_limits = true;  // stale values are cleared
  back.max_batch_bytes = 99;
  ASSERT_TRUE(decode_hello_ok(f.body, &back).ok());
  EXPECT_FALSE(back.has_limits);
  EXPECT_EQ(back.max_record_bytes, 123456u);
  EXPECT_EQ(back.max_batch_bytes, 0u);
  EXPECT_EQ(back.max_frame_body, 0u);
}

TEST(ProtoLimits, DefaultsAgreeAndTheBatchFormulaIsTheDocumentedOne) {
  // One source of truth: the frame default carries the default largest record.
  EXPECT_EQ(kDefaultMaxFrameBody, 4u << 20);
  EXPECT_GE(kDefaultMaxFrameBody, kDefaultMaxRecordBytes + kAppendRecordHeaderSize);
  // round_up(24 + payload_len + extra, 8)
  EXPECT_EQ(encoded_record_bytes(0), 24u);
  EXPECT_EQ(encoded_record_bytes(1), 32u);
  EXPECT_EQ(encoded_record_bytes(8), 32u);
  EXPECT_EQ(encoded_record_bytes(9), 40u);
  EXPECT_EQ(encoded_record_bytes(0, 16), 40u);
  EXPECT_EQ(encoded_record_bytes(1, 16), 48u);
  const uint32_t lens[] = {0, 1, 100, 1u << 20};
  EXPECT_EQ(encoded_batch_bytes(lens), 24u + 32 + 128 + (24 + (1u << 20)));
  EXPECT_EQ(encoded_batch_bytes(lens, 16), 40u + 48 + 144 + (40 + (1u << 20)));
  std::string a(100, 'a');
  AppendRecord recs[] = {{1, 0, 0, {}}, {1, 0, 0, bytes_of(a)}};
  EXPECT_EQ(encoded_batch_bytes(recs), 24u + 128);
  // The largest reply: the frame budget, or one maximal record with its header.
  EXPECT_EQ(max_reply_body(1000), kRecordsFrameBudget);
  EXPECT_EQ(max_reply_body(kRecordsFrameBudget), kRecordsFrameBudget + 20);
  EXPECT_EQ(max_reply_body(16u << 20), (16u << 20) + 20);
  EXPECT_LT(kMaxErrorMessageBytes + 8, kRecordsFrameBudget);
}

// Splits a buffer of back-to-back frames.
std::vector<Frame> split_all(const std::vector<uint8_t>& wire) {
  std::vector<Frame> frames;
  std::span<const uint8_t> rest(wire);
  FrameHeader h;
  while (peek_frame(rest, UINT32_MAX, &h) == FrameStatus::kComplete) {
    const size_t n = kHeaderSize + h.body_len;
    frames.push_back(split(std::vector<uint8_t>(rest.begin(), rest.begin() + n)));
    rest = rest.subspan(n);
  }
  EXPECT_TRUE(rest.empty());
  return frames;
}

TEST(ProtoRecords, FramesOfEmptyRecordsStayWithinTheBudgetEntryHeadersIncluded) {
  // 200,000 empty records (4 MB of entry headers, no payload at all) must not
  // become one frame: each frame is at most the budget.
  std::vector<ReadRecord> recs(200000);
  for (size_t i = 0; i < recs.size(); ++i) recs[i].lsn = i + 1;
  for (bool header_only : {false, true}) {
    std::vector<uint8_t> wire;
    const size_t n = encode_records_frames(5, recs, header_only, kRecordsFrameBudget, &wire);
    std::vector<Frame> frames = split_all(wire);
    ASSERT_EQ(frames.size(), n);
    const size_t per_frame = kRecordsFrameBudget / kReadRecordHeaderSize;
    EXPECT_EQ(n, (recs.size() + per_frame - 1) / per_frame);
    uint64_t next = 1;
    for (const Frame& f : frames) {
      EXPECT_LE(f.body.size(), kRecordsFrameBudget);
      EXPECT_EQ(f.h.opcode, 0x83);
      EXPECT_EQ(f.h.request_id, 5u);
      EXPECT_EQ(f.h.flags, header_only ? kRecordsHeaderOnly : 0);
      std::vector<ReadRecord> back;
      ASSERT_TRUE(decode_records(f.body, &back, header_only).ok());
      for (const ReadRecord& r : back) EXPECT_EQ(r.lsn, next++);
    }
    EXPECT_EQ(next, recs.size() + 1);
  }
}

TEST(ProtoRecords, FramePackingCountsPayloadsAndGivesAnOversizedRecordItsOwnFrame) {
  std::string small(100, 's'), big(3000, 'b');
  std::vector<ReadRecord> recs = {{1, 1, 0, 0, bytes_of(small), 100},
                                  {2, 1, 0, 0, bytes_of(small), 100},
                                  {3, 1, 0, 0, bytes_of(big), 3000},
                                  {4, 1, 0, 0, bytes_of(small), 100}};
  std::vector<uint8_t> wire;
  // Budget 260: two 120-byte entries fit (240), the third would not.
  EXPECT_EQ(encode_records_frames(1, recs, false, 260, &wire), 3u);
  std::vector<Frame> frames = split_all(wire);
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0].body.size(), 240u);
  EXPECT_EQ(frames[1].body.size(), 3020u);  // alone, above the budget
  EXPECT_EQ(frames[2].body.size(), 120u);
  // Header-only: 20 bytes per entry whatever the stored length.
  wire.clear();
  EXPECT_EQ(encode_records_frames(1, recs, true, 40, &wire), 2u);
  frames = split_all(wire);
  ASSERT_EQ(frames.size(), 2u);
  std::vector<ReadRecord> back;
  ASSERT_TRUE(decode_records(frames[0].body, &back, true).ok());
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[1].payload_len, 100u);
  ASSERT_TRUE(decode_records(frames[1].body, &back, true).ok());
  EXPECT_EQ(back[0].payload_len, 3000u);
  // No records, no frames.
  wire.clear();
  EXPECT_EQ(encode_records_frames(1, {}, false, 260, &wire), 0u);
  EXPECT_TRUE(wire.empty());
}

TEST(ProtoAppend, RoundTripsSeveralRecordsIncludingEmptyPayload) {
  std::string p0 = "first", p2(1000, 'z');
  std::vector<AppendRecord> recs(3);
  recs[0] = {7, 0, 100, bytes_of(p0)};
  recs[1] = {0x7FFF, 0, 0xFFFFFFFF, {}};
  recs[2] = {1, 0, 3, bytes_of(p2)};
  std::vector<uint8_t> wire;
  encode_append(77, recs, &wire);
  Frame f = split(wire);
  EXPECT_EQ(f.h.opcode, static_cast<uint8_t>(Opcode::kAppend));
  EXPECT_EQ(f.h.request_id, 77u);
  EXPECT_EQ(f.body.size(), 3 * kAppendRecordHeaderSize + p0.size() + p2.size());
  std::vector<AppendRecord> back;
  ASSERT_TRUE(decode_append(f.body, &back).ok());
  ASSERT_EQ(back.size(), 3u);
  EXPECT_EQ(back[0].type, 7);
  EXPECT_EQ(back[0].tenant, 100u);
  EXPECT_EQ(text_of(back[0].payload), p0);
  EXPECT_EQ(back[1].type, 0x7FFF);
  EXPECT_EQ(back[1].tenant, 0xFFFFFFFFu);
  EXPECT_TRUE(back[1].payload.empty());
  EXPECT_EQ(text_of(back[2].payload), p2);
  // Views point into the body, not into copies.
  EXPECT_GE(back[0].payload.data(), f.body.data());
  EXPECT_LT(back[0].payload.data(), f.body.data() + f.body.size());
}

TEST(ProtoAppend, ZeroRecordsIsMalformed) {
  std::vector<uint8_t> wire;
  encode_append(1, {}, &wire);
  Frame f = split(wire);
  EXPECT_EQ(f.h.body_len, 0u);
  std::vector<AppendRecord> back;
  Status s = decode_append(f.body, &back);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("no records"), std::string::npos) << s.message();
}

TEST(ProtoAppend, RecordRunningPastTheBodyIsMalformed) {
  std::string p = "payload";
  AppendRecord rec{1, 0, 2, bytes_of(p)};
  std::vector<uint8_t> wire;
  encode_append(1, std::span(&rec, 1), &wire);
  Frame f = split(wire);
  std::vector<AppendRecord> back;
  // Payload cut by one byte: payload_len runs past the end.
  std::vector<uint8_t> cut(f.body.begin(), f.body.end() - 1);
  Status s = decode_append(cut, &back);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("record 0 at offset 0: payload_len 7 runs past"), std::string::npos)
      << s.message();
  EXPECT_TRUE(back.empty());
  // A trailing partial record header after a valid record.
  std::vector<uint8_t> extra = f.body;
  extra.insert(extra.end(), {1, 0, 0});
  s = decode_append(extra, &back);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("record 1 at offset 19: header needs 12 bytes, 3 left"),
            std::string::npos)
      << s.message();
  // payload_len far beyond the body (must not overflow or read past).
  std::vector<uint8_t> huge = f.body;
  put_u32(huge.data() + 8, 0xFFFFFFFF);
  EXPECT_FALSE(decode_append(huge, &back).ok());
}

TEST(ProtoAppend, NonZeroRecordFlagsAreMalformed) {
  std::string p = "x";
  AppendRecord recs[2] = {{1, 0, 0, bytes_of(p)}, {1, 4, 0, bytes_of(p)}};
  std::vector<uint8_t> wire;
  encode_append(1, recs, &wire);
  Frame f = split(wire);
  std::vector<AppendRecord> back;
  Status s = decode_append(f.body, &back);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("record 1 at offset 13: flags must be 0, got 4"), std::string::npos)
      << s.message();
}

TEST(ProtoAck, RoundTripsAndRejectsBadBodies) {
  std::vector<uint8_t> wire;
  encode_ack(9, Ack{1000, 17}, &wire);
  Frame f = split(wire);
  EXPECT_EQ(f.h.opcode, 0x82);
  EXPECT_EQ(f.h.request_id, 9u);
  Ack back;
  ASSERT_TRUE(decode_ack(f.body, &back).ok());
  EXPECT_EQ(back.first_lsn, 1000u);
  EXPECT_EQ(back.count, 17u);
  expect_rejects_short_and_long(f.body, "ACK", [&](auto b) { return decode_ack(b, &back); });
  f.body[12] = 1;
  EXPECT_FALSE(decode_ack(f.body, &back).ok());
}

TEST(ProtoRead, RoundTripsAndRejectsBadBodies) {
  std::vector<uint8_t> wire;
  ReadRequest m{123456789012ull, 50, 1 << 16, 1};
  encode_read(5, m, &wire);
  Frame f = split(wire);
  EXPECT_EQ(f.h.opcode, 0x03);
  EXPECT_EQ(f.body.size(), 24u);
  ReadRequest back;
  ASSERT_TRUE(decode_read(f.body, &back).ok());
  EXPECT_EQ(back.from_lsn, m.from_lsn);
  EXPECT_EQ(back.max_records, 50u);
  EXPECT_EQ(back.max_bytes, 1u << 16);
  EXPECT_EQ(back.follow, 1);
  expect_rejects_short_and_long(f.body, "READ", [&](auto b) { return decode_read(b, &back); });
  f.body[16] = 2;
  Status s = decode_read(f.body, &back);
  EXPECT_NE(s.message().find("follow must be 0 or 1"), std::string::npos) << s.message();
  f.body[16] = 0;
  f.body[23] = 1;
  EXPECT_FALSE(decode_read(f.body, &back).ok());
}

TEST(ProtoRead, FlagsTravelInTheHeaderFlagsByteAndTheBodyIsUnchanged) {
  ReadRequest m{7, 0, 0, 1};
  std::vector<uint8_t> plain;
  encode_read(5, m, &plain);
  EXPECT_EQ(plain[5], 0);  // a READ without flags is the v1 frame, byte for byte
  m.flags = kReadSkipDead | kReadHeaderOnly;
  std::vector<uint8_t> flagged;
  encode_read(5, m, &flagged);
  ASSERT_EQ(flagged.size(), plain.size());
  EXPECT_EQ(flagged[5], 0x03);
  for (size_t i = 0; i < plain.size(); ++i) {
    if (i != 5) {
      EXPECT_EQ(flagged[i], plain[i]) << "byte " << i;
    }
  }
  Frame f = split(flagged);
  EXPECT_EQ(f.h.flags, 0x03);
  EXPECT_TRUE(check_request_header(f.h).ok());
  ReadRequest back;
  ASSERT_TRUE(decode_read(f.body, &back).ok());
  EXPECT_EQ(back.from_lsn, 7u);
  EXPECT_EQ(back.follow, 1);
}

TEST(ProtoRecords, HeaderOnlyFrameCarriesTrueLengthsAndNoPayloadBytes) {
  std::vector<uint8_t> wire;
  const size_t start = begin_records(9, &wire, /*header_only=*/true);
  add_record_header(
      ReadRecord{.lsn = 40, .type = 1, .flags = 1, .tenant = 2, .payload = {}, .payload_len = 5000},
      &wire);
  add_record_header(ReadRecord{.lsn = 41,
                               .type = 0x8001,
                               .flags = 0,
                               .tenant = 3,
                               .payload = {},
                               .payload_len = 0},
                    &wire);
  finish_records(start, &wire);
  Frame f = split(wire);
  EXPECT_EQ(f.h.opcode, 0x83);
  EXPECT_EQ(f.h.flags, kRecordsHeaderOnly);
  // Exactly two 20-byte headers: payload_len says 5000, no payload follows.
  ASSERT_EQ(f.body.size(), 2 * kReadRecordHeaderSize);
  EXPECT_EQ(get_u64(f.body.data()), 40u);
  EXPECT_EQ(get_u32(f.body.data() + 16), 5000u);
  EXPECT_EQ(get_u64(f.body.data() + 20), 41u);
  std::vector<ReadRecord> back;
  ASSERT_TRUE(decode_records(f.body, &back, /*header_only=*/true).ok());
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].lsn, 40u);
  EXPECT_EQ(back[0].type, 1);
  EXPECT_EQ(back[0].flags, 1);
  EXPECT_EQ(back[0].tenant, 2u);
  EXPECT_EQ(back[0].payload_len, 5000u);
  EXPECT_TRUE(back[0].payload.empty());
  EXPECT_EQ(back[1].type, 0x8001);
  EXPECT_EQ(back[1].payload_len, 0u);
  // Read as a full frame, the first header's length runs past the body.
  EXPECT_FALSE(decode_records(f.body, &back).ok());
  // A partial header at the end is refused.
  std::vector<uint8_t> longer = f.body;
  longer.push_back(0);
  Status s = decode_records(longer, &back, true);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("header needs 20 bytes"), std::string::npos) << s.message();
  EXPECT_FALSE(decode_records({}, &back, true).ok());
}

TEST(ProtoRecords, FullFramesReportPayloadLenAndHaveNoHeaderOnlyFlag) {
  std::vector<uint8_t> wire;
  const size_t start = begin_records(3, &wire);
  std::string a = "abcd";
  add_record(ReadRecord{1, 1, 0, 0, bytes_of(a)}, &wire);
  finish_records(start, &wire);
  Frame f = split(wire);
  EXPECT_EQ(f.h.flags, 0);
  std::vector<ReadRecord> back;
  ASSERT_TRUE(decode_records(f.body, &back).ok());
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].payload_len, 4u);
  EXPECT_EQ(text_of(back[0].payload), a);
}

TEST(ProtoRecords, RoundTripsMultipleRecordsBuiltIncrementally) {
  std::vector<uint8_t> wire;
  encode_ack(1, Ack{1, 1}, &wire);  // frames already in the buffer are left alone
  size_t ack_size = wire.size();
  size_t start = begin_records(31, &wire);
  EXPECT_EQ(start, ack_size);
  std::string a = "alpha", c(300, 'c');
  add_record(ReadRecord{10, 1, 0, 5, bytes_of(a)}, &wire);
  add_record(ReadRecord{11, 2, 0x8000, 6, {}}, &wire);
  add_record(ReadRecord{12, 3, 0, 7, bytes_of(c)}, &wire);
  finish_records(start, &wire);
  std::vector<uint8_t> frame(wire.begin() + static_cast<std::ptrdiff_t>(start), wire.end());
  Frame f = split(frame);
  EXPECT_EQ(f.h.opcode, 0x83);
  EXPECT_EQ(f.h.request_id, 31u);
  std::vector<ReadRecord> back;
  ASSERT_TRUE(decode_records(f.body, &back).ok());
  ASSERT_EQ(back.size(), 3u);
  EXPECT_EQ(back[0].lsn, 10u);
  EXPECT_EQ(text_of(back[0].payload), a);
  EXPECT_EQ(back[1].lsn, 11u);
  EXPECT_EQ(back[1].flags, 0x8000);  // flags in replies are the log's, passed through
  EXPECT_TRUE(back[1].payload.empty());
  EXPECT_EQ(back[2].tenant, 7u);
  EXPECT_EQ(text_of(back[2].payload), c);
}

TEST(ProtoRecords, RejectsEmptyTruncatedAndTrailingBytes) {
  std::vector<ReadRecord> back;
  EXPECT_FALSE(decode_records({}, &back).ok());
  std::vector<uint8_t> wire;
  size_t start = begin_records(1, &wire);
  std::string a = "abc";
  add_record(ReadRecord{1, 1, 0, 0, bytes_of(a)}, &wire);
  finish_records(start, &wire);
  Frame f = split(wire);
  expect_rejects_short_and_long(f.body, "RECORDS",
                                [&](auto b) { return decode_records(b, &back); });
}

TEST(ProtoEnd, RoundTripsAndRejectsBadBodies) {
  std::vector<uint8_t> wire;
  encode_end(4, 99, &wire);
  Frame f = split(wire);
  EXPECT_EQ(f.h.opcode, 0x84);
  uint64_t next = 0;
  ASSERT_TRUE(decode_end(f.body, &next).ok());
  EXPECT_EQ(next, 99u);
  expect_rejects_short_and_long(f.body, "END", [&](auto b) { return decode_end(b, &next); });
}

TEST(ProtoTruncate, RequestAndOkReplyRoundTrip) {
  std::vector<uint8_t> wire;
  encode_truncate(6, 5000, &wire);
  Frame f = split(wire);
  EXPECT_EQ(f.h.opcode, 0x04);
  uint64_t before = 0;
  ASSERT_TRUE(decode_truncate(f.body, &before).ok());
  EXPECT_EQ(before, 5000u);
  expect_rejects_short_and_long(f.body, "TRUNCATE",
                                [&](auto b) { return decode_truncate(b, &before); });
  wire.clear();
  encode_ok(6, 4097, &wire);
  f = split(wire);
  EXPECT_EQ(f.h.opcode, 0x85);
  uint64_t first = 0;
  ASSERT_TRUE(decode_ok(f.body, &first).ok());
  EXPECT_EQ(first, 4097u);
  expect_rejects_short_and_long(f.body, "OK", [&](auto b) { return decode_ok(b, &first); });
}

TEST(ProtoStatus, EmptyRequestsAndStatusOkRoundTrip) {
  std::vector<uint8_t> wire;
  encode_status(8, &wire);
  Frame f = split(wire);
  EXPECT_EQ(f.h.opcode, 0x05);
  EXPECT_TRUE(decode_empty(f.body).ok());
  expect_rejects_short_and_long(f.body, "STATUS/CANCEL", [&](auto b) { return decode_empty(b); });
  wire.clear();
  encode_cancel(8, &wire);
  f = split(wire);
  EXPECT_EQ(f.h.opcode, 0x06);
  EXPECT_EQ(f.h.request_id, 8u);
  EXPECT_TRUE(decode_empty(f.body).ok());

  wire.clear();
  StatusReply m{3, 900, 2, 1 << 27, 1};
  encode_status_ok(8, m, &wire);
  f = split(wire);
  EXPECT_EQ(f.h.opcode, 0x86);
  EXPECT_EQ(f.body.size(), 40u);
  StatusReply back;
  ASSERT_TRUE(decode_status_ok(f.body, &back).ok());
  EXPECT_EQ(back.first_lsn, 3u);
  EXPECT_EQ(back.durable_lsn, 900u);
  EXPECT_EQ(back.segments, 2u);
  EXPECT_EQ(back.bytes_on_disk, 1u << 27);
  EXPECT_EQ(back.state, 1);
  expect_rejects_short_and_long(f.body, "STATUS_OK",
                                [&](auto b) { return decode_status_ok(b, &back); });
  f.body[32] = 3;
  EXPECT_FALSE(decode_status_ok(f.body, &back).ok());
}

TEST(ProtoError, RoundTripsEveryCodeAndMessage) {
  for (uint16_t c = 1; c <= 11; ++c) {
    std::vector<uint8_t> wire;
    std::string msg = std::string("boom ") + error_code_name(static_cast<ErrorCode>(c));
    encode_error(1000 + c, static_cast<ErrorCode>(c), msg, &wire);
    Frame f = split(wire);
    EXPECT_EQ(f.h.opcode, 0xFF);
    EXPECT_EQ(f.h.request_id, 1000u + c);
    ErrorReply back;
    ASSERT_TRUE(decode_error(f.body, &back).ok());
    EXPECT_EQ(static_cast<uint16_t>(back.code), c);
    EXPECT_EQ(back.message, msg);
    EXPECT_STRNE(error_code_name(back.code), "UNKNOWN_ERROR");
  }
}

TEST(ProtoError, RejectsBadBodiesAndKeepsUnknownCodes) {
  std::vector<uint8_t> wire;
  encode_error(1, ErrorCode::kNoSpace, "disk full", &wire);
  Frame f = split(wire);
  ErrorReply back;
  expect_rejects_short_and_long(f.body, "ERROR", [&](auto b) { return decode_error(b, &back); });
  EXPECT_FALSE(decode_error(std::span(f.body).first(4), &back).ok());
  std::vector<uint8_t> unknown = f.body;
  put_u16(unknown.data(), 500);
  ASSERT_TRUE(decode_error(unknown, &back).ok());
  EXPECT_EQ(static_cast<uint16_t>(back.code), 500);
  std::vector<uint8_t> zero = f.body;
  put_u16(zero.data(), 0);
  EXPECT_FALSE(decode_error(zero, &back).ok());
}

TEST(ProtoStream, SeveralFramesSplitBackInOrder) {
  std::vector<uint8_t> wire;
  encode_ack(1, Ack{1, 2}, &wire);
  encode_error(2, ErrorCode::kNotReady, "recovering", &wire);
  encode_end(3, 3, &wire);
  std::span<const uint8_t> rest(wire);
  std::vector<uint64_t> ids;
  FrameHeader h;
  while (peek_frame(rest, kDefaultMaxFrameBody, &h) == FrameStatus::kComplete) {
    ids.push_back(h.request_id);
    rest = rest.subspan(kHeaderSize + h.body_len);
  }
  EXPECT_TRUE(rest.empty());
  EXPECT_EQ(ids, (std::vector<uint64_t>{1, 2, 3}));
}

}  // namespace
}  // namespace sidewal::proto
