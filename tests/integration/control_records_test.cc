// Control records through the protocol: sidewald accepts record types
// 0x8001-0x8003 from clients only with a valid payload (MALFORMED with the
// decoder's message otherwise, nothing written); every other type in
// 0x8000-0xFFFF stays RESERVED_RECORD_TYPE. Payloads are built by hand here,
// byte by byte from docs/control-records.md, so the test also pins the layout.
#include <gtest/gtest.h>

#include "tests/support/daemon_harness.h"

namespace sidewal::it {
namespace {

// Little-endian appends, one byte at a time (GCC 12's -Warray-bounds
// misfires on vector::insert into small vectors).
void le(std::vector<uint8_t>* b, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) b->push_back(static_cast<uint8_t>(v >> (8 * i)));
}

void name_field(std::vector<uint8_t>* b, const std::string& name) {
  le(b, name.size(), 2);
  for (char ch : name) b->push_back(static_cast<uint8_t>(ch));
}

std::vector<uint8_t> tombstone(uint32_t tenant, const std::string& name, uint64_t purge_lsn) {
  std::vector<uint8_t> b;
  le(&b, tenant, 4);
  name_field(&b, name);
  le(&b, purge_lsn, 8);
  return b;
}

std::vector<uint8_t> temporal_purge(uint32_t tenant, uint8_t engine, const std::string& name,
                                    int64_t cutoff_ms, uint64_t versions) {
  std::vector<uint8_t> b;
  le(&b, tenant, 4);
  b.push_back(engine);
  name_field(&b, name);
  le(&b, static_cast<uint64_t>(cutoff_ms), 8);
  le(&b, versions, 8);
  return b;
}

std::vector<uint8_t> calvin(uint64_t epoch, uint32_t position, uint32_t shard) {
  std::vector<uint8_t> b;
  le(&b, epoch, 8);
  le(&b, position, 4);
  le(&b, shard, 4);
  return b;
}

TEST(ControlRecords, ValidControlRecordsAreAcceptedAndReadBackUnchanged) {
  TempDir dir;
  Daemon d(dir.path());
  d.start_ready();
  RawClient c(d.socket_path());
  std::vector<TestRecord> batch = {
      TestRecord{.type = 1, .tenant = 3, .payload = {1, 2, 3}},
      TestRecord{.type = 0x8001, .tenant = 0, .payload = tombstone(3, "orders", 2)},
      TestRecord{.type = 0x8002, .tenant = 0, .payload = temporal_purge(3, 2, "hist", -5, 9)},
      TestRecord{.type = 0x8003, .tenant = 0, .payload = calvin(4, 5, 6)},
  };
  const proto::Ack ack = expect_ack(c.append(batch));
  EXPECT_EQ(ack.count, 4u);
  std::vector<TestRecord> got = c.read_all(ack.first_lsn);
  ASSERT_EQ(got.size(), batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    EXPECT_EQ(got[i].lsn, ack.first_lsn + i);
    EXPECT_EQ(got[i].type, batch[i].type);
    EXPECT_EQ(got[i].payload, batch[i].payload);
  }
}

TEST(ControlRecords, InvalidPayloadsAreMalformedWithTheDecodersMessageAndWriteNothing) {
  TempDir dir;
  Daemon d(dir.path());
  d.start_ready();
  RawClient c(d.socket_path());
  struct Case {
    uint16_t type;
    std::vector<uint8_t> payload;
    std::string says;
  };
  std::vector<uint8_t> trailing = calvin(1, 2, 3);
  trailing.push_back(0);
  const std::vector<Case> cases = {
      {0x8003, {1, 2, 3}, "exactly 16"},
      {0x8003, trailing, "exactly 16"},
      {0x8002, temporal_purge(3, 9, "hist", 0, 1), "unknown engine tag 9"},
      {0x8001, tombstone(3, "", 5), "name"},
      {0x8001, tombstone(3, std::string(256, 'x'), 5), "255"},
      {0x8001, tombstone(3, "bad\xC0\x80utf8", 5), "UTF-8"},
      {0x8001, tombstone(3, "orders", 0), "purge_lsn"},
  };
  for (const Case& k : cases) {
    // A valid application record first: the whole APPEND must be refused.
    Frame f = c.append({TestRecord{.type = 1, .tenant = 1, .payload = {7}},
                        TestRecord{.type = k.type, .tenant = 0, .payload = k.payload}});
    const proto::ErrorReply e = expect_error(f);
    EXPECT_EQ(e.code, proto::ErrorCode::kMalformed) << k.says;
    EXPECT_NE(e.message.find(k.says), std::string::npos) << e.message;
    EXPECT_NE(e.message.find("record 1"), std::string::npos) << e.message;
  }
  EXPECT_EQ(c.status().durable_lsn, 0u) << "a refused APPEND wrote something";
}

TEST(ControlRecords, OtherReservedTypesStayReservedRecordType) {
  TempDir dir;
  Daemon d(dir.path());
  d.start_ready();
  RawClient c(d.socket_path());
  for (uint16_t type : {uint16_t{0x8000}, uint16_t{0x8004}, uint16_t{0x9000}, uint16_t{0xFFFF}}) {
    // Even with a payload that would be a valid Calvin marker.
    const proto::ErrorReply e =
        expect_error(c.append({TestRecord{.type = type, .tenant = 0, .payload = calvin(1, 2, 3)}}));
    EXPECT_EQ(e.code, proto::ErrorCode::kReservedRecordType) << type;
  }
  EXPECT_EQ(c.status().durable_lsn, 0u);
}

}  // namespace
}  // namespace sidewal::it
