// The session's pure parts: the SessionState transitions (session_state.h),
// the FrameReader's framing, and the request checks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "proto/protocol.h"
#include "server/session/control_record_policy.h"
#include "server/session/frame_reader.h"
#include "server/session/request_checks.h"
#include "server/session/session_state.h"

namespace sidewal::server {
namespace {

constexpr SessionState kAll[] = {SessionState::kOpen, SessionState::kPeerClosed,
                                 SessionState::kFinishing, SessionState::kClosed};

TEST(SessionState, AllowsExactlyTheWrittenTransitions) {
  // The table in session_state.h, row by row.
  const std::vector<std::pair<SessionState, SessionState>> allowed = {
      {SessionState::kOpen, SessionState::kPeerClosed},
      {SessionState::kOpen, SessionState::kFinishing},
      {SessionState::kOpen, SessionState::kClosed},
      {SessionState::kPeerClosed, SessionState::kFinishing},
      {SessionState::kPeerClosed, SessionState::kClosed},
      {SessionState::kFinishing, SessionState::kClosed},
  };
  for (SessionState from : kAll) {
    for (SessionState to : kAll) {
      const bool listed =
          std::find(allowed.begin(), allowed.end(), std::pair{from, to}) != allowed.end();
      EXPECT_EQ(session_transition_allowed(from, to), listed)
          << session_state_name(from) << " -> " << session_state_name(to);
    }
  }
}

TEST(SessionState, ClosedIsFinalAndNoStateReentersItself) {
  for (SessionState to : kAll) {
    EXPECT_FALSE(session_transition_allowed(SessionState::kClosed, to));
  }
  for (SessionState s : kAll) EXPECT_FALSE(session_transition_allowed(s, s));
  // Once reading has stopped it never starts again.
  for (SessionState from : kAll) {
    EXPECT_FALSE(session_transition_allowed(from, SessionState::kOpen));
  }
}

std::vector<uint8_t> status_frame(uint64_t request_id) {
  std::vector<uint8_t> f;
  proto::encode_status(request_id, &f);
  return f;
}

void feed(FrameReader* r, std::span<const uint8_t> bytes) {
  while (!bytes.empty()) {
    std::span<uint8_t> room = r->prepare();
    const size_t n = std::min(room.size(), bytes.size());
    std::memcpy(room.data(), bytes.data(), n);
    r->commit(n);
    bytes = bytes.subspan(n);
  }
}

TEST(FrameReader, TakesPipelinedFramesOneAtATimeAndWaitsForAPartialOne) {
  FrameReader r;
  std::vector<uint8_t> wire = status_frame(1);
  const std::vector<uint8_t> second = status_frame(2);
  wire.insert(wire.end(), second.begin(), second.end());
  const std::vector<uint8_t> third = status_frame(3);
  wire.insert(wire.end(), third.begin(), third.begin() + 5);  // a partial header
  feed(&r, wire);
  proto::FrameHeader h;
  std::span<const uint8_t> body;
  ASSERT_EQ(r.next(1024, &h, &body), FrameReader::Next::kFrame);
  EXPECT_EQ(h.request_id, 1u);
  ASSERT_EQ(r.next(1024, &h, &body), FrameReader::Next::kFrame);
  EXPECT_EQ(h.request_id, 2u);
  EXPECT_EQ(r.next(1024, &h, &body), FrameReader::Next::kNeedMore);
  EXPECT_EQ(r.buffered(), 5u);
  feed(&r, std::span(third).subspan(5));
  ASSERT_EQ(r.next(1024, &h, &body), FrameReader::Next::kFrame);
  EXPECT_EQ(h.request_id, 3u);
  EXPECT_EQ(r.buffered(), 0u);
}

TEST(FrameReader, GrowsForAFrameBiggerThanItsBufferAndShrinksBackOnceEmpty) {
  FrameReader r;
  std::vector<uint8_t> payload(FrameReader::kUsualBytes * 2, 0xab);
  std::vector<proto::AppendRecord> recs = {{.type = 1, .tenant = 0, .payload = payload}};
  std::vector<uint8_t> wire;
  proto::encode_append(7, recs, &wire);
  proto::FrameHeader h;
  std::span<const uint8_t> body;
  feed(&r, std::span(wire).first(FrameReader::kUsualBytes - 1));
  EXPECT_EQ(r.next(UINT32_MAX, &h, &body), FrameReader::Next::kNeedMore);
  EXPECT_EQ(r.capacity(), wire.size());  // room for the whole frame
  feed(&r, std::span(wire).subspan(FrameReader::kUsualBytes - 1));
  ASSERT_EQ(r.next(UINT32_MAX, &h, &body), FrameReader::Next::kFrame);
  EXPECT_EQ(h.request_id, 7u);
  EXPECT_EQ(body.size(), wire.size() - proto::kHeaderSize);
  (void)r.prepare();
  EXPECT_EQ(r.capacity(), FrameReader::kUsualBytes);
}

TEST(FrameReader, RefusesABodyAboveTheLimitBeforeItArrivesAndDropsTheStream) {
  FrameReader r;
  std::vector<uint8_t> wire = status_frame(9);
  wire[0] = 0xff;  // body_len 255
  feed(&r, std::span(wire).first(proto::kHeaderSize));
  proto::FrameHeader h;
  std::span<const uint8_t> body;
  EXPECT_EQ(r.next(254, &h, &body), FrameReader::Next::kTooLarge);
  EXPECT_EQ(h.body_len, 255u);
  EXPECT_EQ(r.buffered(), 0u);
}

TEST(RequestChecks, RefusesUnknownOpcodesFlagsAndCancelBodies) {
  proto::FrameHeader h{};
  h.opcode = 0x07;
  auto refused = check_request_frame(h, {});
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->code, proto::ErrorCode::kUnknownOpcode);
  EXPECT_EQ(refused->message, "unknown request opcode 0x07");

  h.opcode = static_cast<uint8_t>(proto::Opcode::kHello);
  h.flags = proto::kHelloLimits;
  EXPECT_FALSE(check_request_frame(h, {}));
  h.flags = 0x02;
  refused = check_request_frame(h, {});
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->code, proto::ErrorCode::kMalformed);
  EXPECT_NE(refused->message.find("HELLO: only 0x01 LIMITS"), std::string::npos);

  h.opcode = static_cast<uint8_t>(proto::Opcode::kCancel);
  h.flags = 0;
  const uint8_t one = 1;
  EXPECT_TRUE(is_well_formed_cancel(h, {}));
  EXPECT_FALSE(is_well_formed_cancel(h, std::span(&one, 1)));
  refused = check_request_frame(h, std::span(&one, 1));
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->message, "CANCEL body must be empty");
}

TEST(RequestChecks, AppendRecordsWithinTheSizeLimitAndTheControlRecordPolicy) {
  const std::vector<uint8_t> big(11, 0);
  std::vector<proto::AppendRecord> recs = {{.type = 1, .tenant = 0, .payload = big}};
  auto refused = check_append_records(recs, 10);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->code, proto::ErrorCode::kRecordTooLarge);
  EXPECT_FALSE(check_append_records(recs, 11));

  refused = check_control_record(3, 0x9000, {});
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->code, proto::ErrorCode::kReservedRecordType);
  EXPECT_NE(refused->message.find("record 3 has type 0x9000"), std::string::npos);
  refused = check_control_record(0, 0x8001, {});  // a known type with an invalid payload
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->code, proto::ErrorCode::kMalformed);
  EXPECT_FALSE(check_control_record(0, 0x7fff, {}));
}

TEST(RequestChecks, ReadNeedsALsnAndABooleanFollow) {
  proto::ReadRequest req;
  req.from_lsn = 0;
  EXPECT_EQ(check_read_request(req)->message, "from_lsn 0: LSNs start at 1");
  req.from_lsn = 1;
  req.follow = 2;
  EXPECT_EQ(check_read_request(req)->message, "follow must be 0 or 1");
  req.follow = 1;
  EXPECT_FALSE(check_read_request(req));
}

}  // namespace
}  // namespace sidewal::server
