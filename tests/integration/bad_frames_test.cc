// Bad input of every kind against a live daemon, while a well-behaved client
// keeps appending and getting ACKs: one client's bad input never affects
// another.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "common/endian.h"
#include "tests/support/daemon_harness.h"

namespace sidewal::it {
namespace {

std::vector<uint8_t> raw_frame(uint8_t opcode, uint64_t id, const std::vector<uint8_t>& body,
                               uint32_t body_len_override = UINT32_MAX) {
  proto::FrameHeader h;
  h.body_len =
      body_len_override == UINT32_MAX ? static_cast<uint32_t>(body.size()) : body_len_override;
  h.opcode = opcode;
  h.request_id = id;
  std::vector<uint8_t> out(proto::kHeaderSize);
  proto::encode_header(h, out.data());
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

// One APPEND record in wire form, with a payload_len that may lie.
std::vector<uint8_t> append_record(uint16_t type, uint32_t payload_len, size_t actual_bytes) {
  std::vector<uint8_t> b(12 + actual_bytes, 0xAB);
  put_u16(b.data(), type);
  put_u16(b.data() + 2, 0);
  put_u32(b.data() + 4, 42);
  put_u32(b.data() + 8, payload_len);
  return b;
}

proto::ErrorReply next_error(RawClient& c, uint64_t id) {
  auto f = c.read_frame();
  if (!f) throw std::runtime_error("connection closed, expected an ERROR");
  EXPECT_EQ(f->header.request_id, id);
  return expect_error(*f);
}

// A client that keeps appending and checks each ACK until told to stop.
class GoodClient {
 public:
  explicit GoodClient(const std::string& socket)
      : thread_([this, socket] {
          try {
            RawClient c(socket);
            uint64_t last = 0;
            for (uint64_t i = 0; !stop_.load(); ++i) {
              const proto::Ack a =
                  expect_ack(c.append({TestRecord{.type = 1, .payload = make_payload(77, i, 64)}}));
              if (a.first_lsn <= last) throw std::runtime_error("LSN went backwards");
              last = a.first_lsn;
              acks_.fetch_add(1);
            }
          } catch (const std::exception& e) {
            error_ = e.what();
          }
        }) {}
  ~GoodClient() { stop(); }
  void stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  uint64_t acks() const { return acks_.load(); }
  const std::string& error() const { return error_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> acks_{0};
  std::string error_;
  std::thread thread_;
};

TEST(BadFrames, EveryKindIsAnsweredAndNoneDisturbsAWellBehavedClient) {
  TempDir dir;
  DaemonConfig cfg;
  cfg.set("wal", "max_record_bytes", "64KiB");
  cfg.set("limits", "max_frame_bytes", "256KiB");
  Daemon d(dir.path(), cfg);
  d.start_ready();
  GoodClient good(d.socket_path());
  // The good client is running before the bad ones start.
  ASSERT_TRUE(d.wait_until([&] { return good.acks() > 0 || !good.error().empty(); }, seconds(20)));

  {  // Unknown opcode: ERROR, body skipped, connection still usable.
    RawClient c(d.socket_path());
    ASSERT_TRUE(c.send(raw_frame(0x42, 11, {1, 2, 3, 4, 5})));
    EXPECT_EQ(next_error(c, 11).code, proto::ErrorCode::kUnknownOpcode);
    // A reply opcode sent as a request is unknown too.
    ASSERT_TRUE(c.send(raw_frame(0x82, 12, std::vector<uint8_t>(16))));
    EXPECT_EQ(next_error(c, 12).code, proto::ErrorCode::kUnknownOpcode);
    EXPECT_EQ(c.status().state, 1);
  }
  {  // Malformed bodies: record running past the body, READ of the wrong size,
     // empty APPEND, STATUS with a body, non-zero header flags.
    RawClient c(d.socket_path());
    ASSERT_TRUE(c.send(raw_frame(0x02, 21, append_record(1, 100, 10))));
    EXPECT_EQ(next_error(c, 21).code, proto::ErrorCode::kMalformed);
    ASSERT_TRUE(c.send(raw_frame(0x03, 22, std::vector<uint8_t>(5))));
    EXPECT_EQ(next_error(c, 22).code, proto::ErrorCode::kMalformed);
    ASSERT_TRUE(c.send(raw_frame(0x02, 23, {})));
    EXPECT_EQ(next_error(c, 23).code, proto::ErrorCode::kMalformed);
    ASSERT_TRUE(c.send(raw_frame(0x05, 24, {9})));
    EXPECT_EQ(next_error(c, 24).code, proto::ErrorCode::kMalformed);
    auto flagged = raw_frame(0x05, 25, {});
    flagged[5] = 1;
    ASSERT_TRUE(c.send(flagged));
    EXPECT_EQ(next_error(c, 25).code, proto::ErrorCode::kMalformed);
    EXPECT_EQ(c.status().state, 1);
  }
  {  // Reserved record type, oversized record, unsupported version.
    RawClient c(d.socket_path());
    ASSERT_TRUE(c.send(raw_frame(0x02, 31, append_record(0x8004, 4, 4))));
    EXPECT_EQ(next_error(c, 31).code, proto::ErrorCode::kReservedRecordType);
    const uint32_t too_big = (64u << 10) + 1;
    ASSERT_TRUE(c.send(raw_frame(0x02, 32, append_record(1, too_big, too_big))));
    EXPECT_EQ(next_error(c, 32).code, proto::ErrorCode::kRecordTooLarge);
    std::vector<uint8_t> hello;
    proto::encode_hello(33, proto::Hello{.version = 2, .name = "future"}, &hello);
    ASSERT_TRUE(c.send(hello));
    EXPECT_EQ(next_error(c, 33).code, proto::ErrorCode::kUnsupportedVersion);
    EXPECT_EQ(c.status().state, 1);
  }
  {  // Bad APPENDs pipelined between good ones: replies stay in request order.
    RawClient c(d.socket_path());
    c.send_append(41, {TestRecord{.type = 1, .payload = make_payload(3, 1, 30)}});
    ASSERT_TRUE(c.send(raw_frame(0x02, 42, append_record(0x9000, 4, 4))));
    c.send_append(43, {TestRecord{.type = 1, .payload = make_payload(3, 2, 30)}});
    ASSERT_TRUE(c.send(raw_frame(0x02, 44, append_record(1, 50, 3))));
    c.send_append(45, {TestRecord{.type = 1, .payload = make_payload(3, 3, 30)}});
    uint64_t last = 0;
    for (uint64_t id = 41; id <= 45; ++id) {
      auto f = c.read_frame();
      ASSERT_TRUE(f);
      ASSERT_EQ(f->header.request_id, id) << describe(*f);
      if (id % 2 == 1) {
        const proto::Ack a = expect_ack(*f);
        EXPECT_GT(a.first_lsn, last);
        last = a.first_lsn;
      } else {
        expect_error(*f);
      }
    }
  }
  {  // Frame too large: ERROR, then the connection is closed.
    RawClient c(d.socket_path());
    ASSERT_TRUE(c.send(raw_frame(0x02, 51, {}, (256u << 10) + 1)));
    EXPECT_EQ(next_error(c, 51).code, proto::ErrorCode::kFrameTooLarge);
    EXPECT_TRUE(c.wait_closed());
  }
  {  // Truncated frame then close: the daemon drops it and carries on.
    RawClient c(d.socket_path());
    auto frame = raw_frame(0x02, 61, append_record(1, 100, 100));
    frame.resize(frame.size() / 2);
    ASSERT_TRUE(c.send(frame));
  }
  {  // Half a header then close.
    RawClient c(d.socket_path());
    ASSERT_TRUE(c.send({1, 2, 3, 4, 5}));
  }
  {  // Garbage: a huge body_len with a random opcode.
    RawClient c(d.socket_path());
    ASSERT_TRUE(c.send(raw_frame(0xEE, 71, {}, 0xFFFFFFFEu)));
    EXPECT_EQ(next_error(c, 71).code, proto::ErrorCode::kFrameTooLarge);
    EXPECT_TRUE(c.wait_closed());
  }

  // The well-behaved client kept getting ACKs throughout and still does.
  const uint64_t before = good.acks();
  ASSERT_TRUE(d.wait_until([&] { return good.acks() >= before + 20 || !good.error().empty(); },
                           seconds(20)));
  good.stop();
  EXPECT_EQ(good.error(), "");

  // Each error was counted by code.
  const std::string metrics = http_get(d.admin_port(), "/metrics").body;
  for (const char* code : {"MALFORMED", "FRAME_TOO_LARGE", "UNKNOWN_OPCODE", "UNSUPPORTED_VERSION",
                           "RECORD_TOO_LARGE", "RESERVED_RECORD_TYPE"}) {
    const std::string series = std::string("sidewal_errors_total{code=\"") + code + "\"} ";
    const auto at = metrics.find(series);
    ASSERT_NE(at, std::string::npos) << series;
    EXPECT_GE(std::stod(metrics.substr(at + series.size())), 1.0) << series;
  }
}

TEST(BadFrames, LateCancelAndReadFromLsnZeroAreHandled) {
  TempDir dir;
  Daemon d(dir.path());
  d.start_ready();
  RawClient c(d.socket_path());
  // CANCEL of a READ that already ended needs no reply; the next request is
  // answered normally.
  std::vector<uint8_t> cancel;
  proto::encode_cancel(999, &cancel);
  ASSERT_TRUE(c.send(cancel));
  EXPECT_EQ(c.status().state, 1);
  // READ from LSN 0 is malformed (LSNs start at 1).
  std::vector<uint8_t> read;
  proto::encode_read(5, proto::ReadRequest{.from_lsn = 0}, &read);
  ASSERT_TRUE(c.send(read));
  EXPECT_EQ(next_error(c, 5).code, proto::ErrorCode::kMalformed);
  // READ past the end of an empty log: no records, END at the same LSN.
  EXPECT_TRUE(c.read_all(1).empty());
}

}  // namespace
}  // namespace sidewal::it
