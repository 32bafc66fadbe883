// Limits that agree and can be discovered (docs/protocol.md "Limits"),
// against the real sidewald: HELLO_OK's limits block (raw frames and the
// client library), the batch limit at its exact boundary (formula,
// proto::encoded_batch_bytes, and the daemon agree), and RECORDS frames
// bounded in total bytes for a log of empty records.
#include <signal.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "client/client.h"
#include "tests/support/daemon_harness.h"

namespace sidewal::it {
namespace {

// HELLO with `flags` on a raw connection; the decoded HELLO_OK and its size.
proto::HelloOk hello(RawClient& c, uint8_t flags, size_t* body_size = nullptr) {
  std::vector<uint8_t> frame;
  proto::Hello h;
  h.name = "limits-test";
  h.flags = flags;
  const uint64_t id = c.next_id();
  proto::encode_hello(id, h, &frame);
  EXPECT_TRUE(c.send(frame));
  auto f = c.read_frame();
  EXPECT_TRUE(f.has_value());
  proto::HelloOk ok;
  if (!f) return ok;
  EXPECT_EQ(f->header.request_id, id);
  EXPECT_EQ(f->opcode(), proto::Opcode::kHelloOk) << describe(*f);
  Status st = proto::decode_hello_ok(f->body, &ok);
  EXPECT_TRUE(st.ok()) << st.ToString();
  if (body_size != nullptr) *body_size = f->body.size();
  return ok;
}

// Records whose encoded_batch_bytes is exactly `target` (a multiple of 8, at
// least 24): payloads of at most `max_payload` bytes, all multiples of 8, so
// each record encodes to exactly 24 + extra + payload.
std::vector<TestRecord> batch_of_exactly(uint64_t target, uint32_t max_payload, uint32_t extra) {
  std::vector<TestRecord> v;
  const uint64_t largest = (max_payload / 8) * 8;
  uint64_t left = target;
  while (left > 0) {
    EXPECT_GE(left, 24u + extra);
    uint64_t payload = std::min<uint64_t>(largest, left - 24 - extra);
    // Leave room for one more record rather than a remainder below 24 + extra.
    if (left - 24 - extra - payload != 0 && left - 24 - extra - payload < 24 + extra) {
      payload -= 24 + extra;
    }
    v.push_back(TestRecord{.type = 1,
                           .tenant = 3,
                           .payload = make_payload(9, v.size(), static_cast<size_t>(payload))});
    left -= 24 + extra + payload;
  }
  return v;
}

// Views into `records`, which must outlive them.
std::vector<proto::AppendRecord> views(const std::vector<TestRecord>& records) {
  std::vector<proto::AppendRecord> v;
  for (const TestRecord& r : records) {
    v.push_back(
        proto::AppendRecord{.type = r.type, .flags = 0, .tenant = r.tenant, .payload = r.payload});
  }
  return v;
}

TEST(Limits, ADaemonWithSmallLimitsAdvertisesThemAndTheClientEnforcesThem) {
  TempDir dir;
  DaemonConfig cfg;
  cfg.set("limits", "max_frame_bytes", "64KiB");
  cfg.set("wal", "max_record_bytes", "16KiB");
  cfg.set("wal", "segment_bytes", "1MiB");
  Daemon d(dir.path(), cfg);
  d.start_ready();
  RawClient c(d.socket_path());

  // The original HELLO gets the original 24-byte reply.
  size_t size = 0;
  proto::HelloOk plain = hello(c, 0, &size);
  EXPECT_EQ(size, 24u);
  EXPECT_FALSE(plain.has_limits);
  EXPECT_EQ(plain.max_record_bytes, 16u << 10);
  // With the LIMITS flag: the block.
  proto::HelloOk ok = hello(c, proto::kHelloLimits, &size);
  EXPECT_EQ(size, 48u);
  ASSERT_TRUE(ok.has_limits);
  EXPECT_EQ(ok.max_record_bytes, 16u << 10);
  EXPECT_EQ(ok.max_frame_body, 64u << 10);
  EXPECT_EQ(ok.max_reply_body, proto::max_reply_body(16u << 10));
  EXPECT_EQ(ok.max_reply_body, proto::kRecordsFrameBudget);
  EXPECT_EQ(ok.record_extra_bytes, 0u);
  // Two records of the largest size always fit in a batch, and a segment
  // (1 MiB minus its preamble and double-write pages) bounds it.
  EXPECT_GE(ok.max_batch_bytes, 2 * proto::encoded_record_bytes(16u << 10));
  EXPECT_LT(ok.max_batch_bytes, 1u << 20);
  // HELLO defines no other flag: MALFORMED, and the connection stays usable.
  {
    std::vector<uint8_t> frame;
    const uint64_t id = c.next_id();
    proto::encode_hello(id, proto::Hello{.version = 1, .name = "x", .flags = 0x02}, &frame);
    ASSERT_TRUE(c.send(frame));
    auto f = c.read_frame();
    ASSERT_TRUE(f.has_value());
    EXPECT_EQ(f->header.request_id, id);
    const proto::ErrorReply e = expect_error(*f);
    EXPECT_EQ(e.code, proto::ErrorCode::kMalformed);
    EXPECT_NE(e.message.find("HELLO: only 0x01 LIMITS"), std::string::npos) << e.message;
  }

  // The daemon refuses a record one byte over, as advertised.
  TestRecord over{.type = 1, .tenant = 1, .payload = make_payload(1, 1, (16u << 10) + 1)};
  EXPECT_EQ(expect_error(c.append({over})).code, proto::ErrorCode::kRecordTooLarge);
  TestRecord at{.type = 1, .tenant = 1, .payload = make_payload(1, 2, 16u << 10)};
  EXPECT_EQ(expect_ack(c.append({at})).first_lsn, 1u);

  // The client learns the same limits and refuses before sending.
  auto cl = client::Client::connect(d.socket_path());
  ASSERT_TRUE(cl.ok()) << cl.status().ToString();
  auto lim = (*cl)->server_limits();
  ASSERT_TRUE(lim.ok()) << lim.status().ToString();
  EXPECT_EQ(lim->source, client::ServerLimits::Source::kAdvertised);
  EXPECT_EQ(lim->max_frame_body, ok.max_frame_body);
  EXPECT_EQ(lim->max_record_bytes, ok.max_record_bytes);
  EXPECT_EQ(lim->max_batch_bytes, ok.max_batch_bytes);
  EXPECT_EQ(lim->max_reply_body, ok.max_reply_body);
  const std::vector<TestRecord> over_batch = {over};  // views() points into it
  auto over_v = views(over_batch);
  auto r = (*cl)->append(over_v);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(client::daemon_error_code(r.status()), proto::ErrorCode::kRecordTooLarge);
  EXPECT_NE(r.status().message().find("refused by the client before sending"), std::string::npos)
      << r.status().message();
  // Five records of 16 KiB: each allowed, but an 80 KiB frame is above the
  // daemon's 64 KiB max_frame_bytes (which would close the connection).
  std::vector<TestRecord> five(5, at);
  auto five_v = views(five);
  r = (*cl)->append(five_v);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("limits.max_frame_bytes 65536"), std::string::npos)
      << r.status().message();
  // The connection is still the same, usable one.
  const std::vector<TestRecord> at_batch = {at};
  auto at_v = views(at_batch);
  auto lsn = (*cl)->append(at_v);
  ASSERT_TRUE(lsn.ok()) << lsn.status().ToString();
  EXPECT_EQ(*lsn, 2u);
}

TEST(Limits, ABatchExactlyAtMaxBatchBytesIsAcceptedAndOneByteMoreIsRecordTooLarge) {
  TempDir dir;
  DaemonConfig cfg;
  // Frames larger than the batch limit, so the batch limit is what binds.
  cfg.set("limits", "max_frame_bytes", "8MiB");
  Daemon d(dir.path(), cfg);
  d.start_ready();
  RawClient c(d.socket_path());
  const proto::HelloOk ok = hello(c, proto::kHelloLimits);
  ASSERT_TRUE(ok.has_limits);
  EXPECT_EQ(ok.max_record_bytes, proto::kDefaultMaxRecordBytes);
  EXPECT_EQ(ok.max_batch_bytes, proto::kDefaultMaxBatchBytes);  // the default engine limit
  ASSERT_EQ(ok.max_batch_bytes % 8, 0u);

  std::vector<TestRecord> exact =
      batch_of_exactly(ok.max_batch_bytes, ok.max_record_bytes, ok.record_extra_bytes);
  ASSERT_EQ(proto::encoded_batch_bytes(views(exact), ok.record_extra_bytes), ok.max_batch_bytes);
  // The formula by hand: round_up(24 + payload_len + extra, 8) per record.
  uint64_t by_hand = 0;
  for (const TestRecord& r : exact) {
    by_hand += (24 + r.payload.size() + ok.record_extra_bytes + 7) / 8 * 8;
  }
  EXPECT_EQ(by_hand, ok.max_batch_bytes);

  // One payload byte more (encoded sizes move in steps of 8).
  std::vector<TestRecord> over = exact;
  over.back().payload.push_back(0x5A);
  ASSERT_GT(proto::encoded_batch_bytes(views(over), ok.record_extra_bytes), ok.max_batch_bytes);
  const proto::ErrorReply e = expect_error(c.append(over));
  EXPECT_EQ(e.code, proto::ErrorCode::kRecordTooLarge) << e.message;
  EXPECT_EQ(c.status().durable_lsn, 0u);  // nothing written
  EXPECT_EQ(expect_ack(c.append(exact)).first_lsn, 1u);
  EXPECT_EQ(c.status().durable_lsn, exact.size());

  // The client library agrees: the exact batch goes out, the other is refused
  // locally with the daemon's code.
  auto cl = client::Client::connect(d.socket_path());
  ASSERT_TRUE(cl.ok()) << cl.status().ToString();
  auto exact_v = views(exact);
  auto lsn = (*cl)->append(exact_v);
  ASSERT_TRUE(lsn.ok()) << lsn.status().ToString();
  EXPECT_EQ(*lsn, exact.size() + 1);
  auto over_v = views(over);
  auto r = (*cl)->append(over_v);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(client::daemon_error_code(r.status()), proto::ErrorCode::kRecordTooLarge);
  EXPECT_NE(r.status().message().find("refused by the client"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(c.status().durable_lsn, 2 * exact.size());
}

TEST(Limits, WithEncryptionTheBatchFormulaCountsTheTagAndStillMeetsTheDaemonExactly) {
  TempDir dir;
  const std::string key = dir.path() + "/key-1";
  {
    std::ofstream f(key, std::ios::binary);
    for (int i = 0; i < 32; ++i) f.put(static_cast<char>(i * 5 + 3));
  }
  DaemonConfig cfg;
  cfg.set("wal", "segment_bytes", "1MiB");
  cfg.set("wal", "max_record_bytes", "64KiB");
  cfg.set("encryption", "enabled", "true");
  cfg.set("encryption", "current_key_id", "1");
  cfg.set("encryption", "keys", "[{id: 1, file: \"" + key + "\"}]");
  Daemon d(dir.path(), cfg);
  d.start_ready();
  RawClient c(d.socket_path());
  const proto::HelloOk ok = hello(c, proto::kHelloLimits);
  ASSERT_TRUE(ok.has_limits);
  EXPECT_EQ(ok.record_extra_bytes, 16u);  // the GCM tag of every record
  std::vector<TestRecord> exact =
      batch_of_exactly(ok.max_batch_bytes, ok.max_record_bytes, ok.record_extra_bytes);
  ASSERT_EQ(proto::encoded_batch_bytes(views(exact), 16), ok.max_batch_bytes);
  // Without the tag term the same batch looks smaller than it is.
  EXPECT_LT(proto::encoded_batch_bytes(views(exact)), ok.max_batch_bytes);
  std::vector<TestRecord> over = exact;
  over.back().payload.push_back(1);
  EXPECT_EQ(expect_error(c.append(over)).code, proto::ErrorCode::kRecordTooLarge);
  EXPECT_EQ(expect_ack(c.append(exact)).first_lsn, 1u);
  auto cl = client::Client::connect(d.socket_path());
  ASSERT_TRUE(cl.ok()) << cl.status().ToString();
  auto over_v = views(over);
  auto r = (*cl)->append(over_v);
  EXPECT_EQ(client::daemon_error_code(r.status()), proto::ErrorCode::kRecordTooLarge);
  auto exact_v = views(exact);
  ASSERT_TRUE((*cl)->append(exact_v).ok());
}

// Reads every RECORDS frame of one READ (follow 0) until END, checking that
// none is above `max_reply_body`; returns the LSNs and how many frames.
struct FramedRead {
  std::vector<uint64_t> lsns;
  size_t frames = 0;
  size_t largest = 0;
  uint64_t next_lsn = 0;
};
FramedRead read_framed(RawClient& c, uint64_t from, uint8_t flags, uint32_t max_reply_body) {
  FramedRead out;
  const uint64_t id = c.next_id();
  std::vector<uint8_t> frame;
  proto::encode_read(id, proto::ReadRequest{.from_lsn = from, .flags = flags}, &frame);
  EXPECT_TRUE(c.send(frame));
  for (;;) {
    auto f = c.read_frame();
    if (!f) {
      ADD_FAILURE() << "connection closed during READ";
      return out;
    }
    if (f->opcode() == proto::Opcode::kEnd) {
      EXPECT_TRUE(proto::decode_end(f->body, &out.next_lsn).ok());
      return out;
    }
    if (f->opcode() != proto::Opcode::kRecords) {
      ADD_FAILURE() << "unexpected reply: " << describe(*f);
      return out;
    }
    ++out.frames;
    out.largest = std::max(out.largest, f->body.size());
    EXPECT_LE(f->body.size(), max_reply_body) << "frame " << out.frames;
    std::vector<proto::ReadRecord> recs;
    EXPECT_TRUE(
        proto::decode_records(f->body, &recs, (f->header.flags & proto::kRecordsHeaderOnly) != 0)
            .ok());
    for (const auto& r : recs) out.lsns.push_back(r.lsn);
  }
}

TEST(Limits, ReadOfManyEmptyRecordsKeepsEveryFrameWithinTheAdvertisedMaxReply) {
  TempDir dir;
  Daemon d(dir.path());
  d.start_ready();
  constexpr uint64_t kCount = 150000;  // 3 MB of entry headers, no payload at all
  {
    RawClient c(d.socket_path());
    std::vector<TestRecord> empty(kCount / 3, TestRecord{.type = 4, .tenant = 2, .payload = {}});
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(expect_ack(c.append(empty)).first_lsn, 1 + i * (kCount / 3));
    }
  }
  auto check = [&](const char* when) {
    RawClient c(d.socket_path());
    const proto::HelloOk ok = hello(c, proto::kHelloLimits);
    ASSERT_TRUE(ok.has_limits);
    EXPECT_EQ(ok.max_reply_body, proto::max_reply_body(proto::kDefaultMaxRecordBytes));
    for (uint8_t flags : {uint8_t{0}, proto::kReadHeaderOnly, proto::kReadSkipDead,
                          uint8_t(proto::kReadSkipDead | proto::kReadHeaderOnly)}) {
      SCOPED_TRACE(std::string(when) + " flags " + std::to_string(flags));
      FramedRead r = read_framed(c, 1, flags, ok.max_reply_body);
      ASSERT_EQ(r.lsns.size(), kCount);
      for (uint64_t i = 0; i < kCount; ++i) ASSERT_EQ(r.lsns[i], i + 1);
      EXPECT_EQ(r.next_lsn, kCount + 1);
      // 20-byte entries: at least 3 MB / 1 MiB frames, each within the budget.
      EXPECT_GE(r.frames, kCount * proto::kReadRecordHeaderSize / proto::kRecordsFrameBudget);
      EXPECT_LE(r.largest, proto::kRecordsFrameBudget);
    }
  };
  check("from memory");  // the tail window holds the records
  d.signal(SIGTERM);
  ASSERT_EQ(d.wait_exit(), 0);
  d.start_ready();
  check("from disk");  // after a restart: the disk path
}

TEST(Limits, TheClientReadsLargeRecordsUnderTheAdvertisedReplyLimit) {
  // Records of the largest size make frames of one record each, up to
  // max_reply_body = 20 + max_record_bytes, which the client accepts.
  TempDir dir;
  DaemonConfig cfg;
  cfg.set("wal", "max_record_bytes", "2MiB");
  cfg.set("limits", "max_frame_bytes", "5MiB");
  Daemon d(dir.path(), cfg);
  d.start_ready();
  auto cl = client::Client::connect(d.socket_path());
  ASSERT_TRUE(cl.ok()) << cl.status().ToString();
  auto lim = (*cl)->server_limits();
  ASSERT_TRUE(lim.ok());
  EXPECT_EQ(lim->max_reply_body, (2u << 20) + 20);
  std::vector<uint8_t> big = make_payload(3, 1, 2u << 20), small = make_payload(3, 2, 10);
  std::vector<proto::AppendRecord> recs = {{1, 0, 0, big}, {1, 0, 0, small}, {1, 0, 0, big}};
  ASSERT_TRUE((*cl)->append(recs).ok());
  auto all = (*cl)->read(1);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->records.size(), 3u);
  EXPECT_EQ(all->records[2].payload, big);
}

}  // namespace
}  // namespace sidewal::it
