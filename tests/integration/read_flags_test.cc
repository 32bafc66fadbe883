// READ flags SKIP_DEAD (0x01) and HEADER_ONLY (0x02) against the real
// sidewald (docs/protocol.md "READ flags"): raw frames for the wire layout,
// the client library (ReadOptions) and the CLI (--skip-dead, --header-only).
//
// Application payloads follow the collection-name convention
// (docs/control-records.md): u16 name length, the name, then the rest.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

#include "client/client.h"
#include "tests/support/daemon_harness.h"

namespace sidewal::it {
namespace {

void le(std::vector<uint8_t>* b, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) b->push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// A convention payload: the collection name, then `rest`.
std::vector<uint8_t> in_collection(const std::string& name, const std::string& rest) {
  std::vector<uint8_t> b;
  le(&b, name.size(), 2);
  for (char ch : name) b.push_back(static_cast<uint8_t>(ch));
  for (char ch : rest) b.push_back(static_cast<uint8_t>(ch));
  return b;
}

// 0x8001 payload, byte for byte from docs/control-records.md.
std::vector<uint8_t> tombstone(uint32_t tenant, const std::string& name, uint64_t purge_lsn) {
  std::vector<uint8_t> b;
  le(&b, tenant, 4);
  le(&b, name.size(), 2);
  for (char ch : name) b.push_back(static_cast<uint8_t>(ch));
  le(&b, purge_lsn, 8);
  return b;
}

TestRecord app(uint32_t tenant, const std::string& collection, const std::string& rest) {
  return TestRecord{.type = 1, .tenant = tenant, .payload = in_collection(collection, rest)};
}

TestRecord tomb(uint32_t tenant, const std::string& collection, uint64_t purge_lsn) {
  return TestRecord{.type = 0x8001,
                    .tenant = 0,
                    .payload = tombstone(tenant, collection, purge_lsn)};
}

struct ReadReply {
  std::vector<TestRecord> records;
  std::vector<uint32_t> payload_lens;  // as the entries announced them
  std::vector<uint8_t> frame_flags;    // header flags of each RECORDS frame
  uint64_t next_lsn = 0;
  size_t body_bytes = 0;  // RECORDS body bytes in total
};

// One READ (follow 0) with header `flags`, until END; fails on ERROR.
ReadReply read_with(RawClient& c, uint64_t from, uint8_t flags, uint32_t max_records = 0) {
  ReadReply out;
  const uint64_t id = c.next_id();
  std::vector<uint8_t> frame;
  proto::encode_read(id,
                     proto::ReadRequest{.from_lsn = from,
                                        .max_records = max_records,
                                        .max_bytes = 0,
                                        .follow = 0,
                                        .flags = flags},
                     &frame);
  EXPECT_TRUE(c.send(frame));
  for (;;) {
    auto f = c.read_frame();
    if (!f) {
      ADD_FAILURE() << "connection closed during READ";
      return out;
    }
    EXPECT_EQ(f->header.request_id, id);
    if (f->opcode() == proto::Opcode::kEnd) {
      EXPECT_TRUE(proto::decode_end(f->body, &out.next_lsn).ok());
      return out;
    }
    if (f->opcode() != proto::Opcode::kRecords) {
      ADD_FAILURE() << "unexpected reply to READ: " << describe(*f);
      return out;
    }
    out.frame_flags.push_back(f->header.flags);
    out.body_bytes += f->body.size();
    std::vector<proto::ReadRecord> recs;
    Status st =
        proto::decode_records(f->body, &recs, (f->header.flags & proto::kRecordsHeaderOnly) != 0);
    EXPECT_TRUE(st.ok()) << st.ToString();
    for (const auto& r : recs) {
      out.records.push_back(TestRecord{.lsn = r.lsn,
                                       .type = r.type,
                                       .tenant = r.tenant,
                                       .payload = {r.payload.begin(), r.payload.end()}});
      out.payload_lens.push_back(r.payload_len);
    }
  }
}

std::vector<uint64_t> lsns(const std::vector<TestRecord>& records) {
  std::vector<uint64_t> v;
  for (const auto& r : records) v.push_back(r.lsn);
  return v;
}

// The log used by several tests (LSNs from 1):
//  1 t1 orders   2 t1 orders   3 t1 users   4 t2 orders   5 t1 orders
//  6 t1 (payload not in the convention)     7 tombstone t1 orders purge 5
//  8 t1 orders
// Dead: 1 and 2 (t1 orders below 5). 5 is not (5 < 5 is false), 4 is another
// tenant, 3 another collection, 6 names no collection, 7 is a control record,
// 8 is above the purge LSN.
std::vector<TestRecord> standard_log() {
  return {app(1, "orders", "a"), app(1, "orders", "b"),
          app(1, "users", "c"),  app(2, "orders", "d"),
          app(1, "orders", "e"), TestRecord{.type = 1, .tenant = 1, .payload = {0xff}},
          tomb(1, "orders", 5),  app(1, "orders", "f")};
}
const std::vector<uint64_t> kLiveInStandardLog = {3, 4, 5, 6, 7, 8};

TEST(ReadFlags, SkipDeadOmitsRecordsDeadByTombstoneAndDeliversTheTombstone) {
  TempDir dir;
  Daemon d(dir.path());
  d.start_ready();
  RawClient c(d.socket_path());
  const auto log = standard_log();
  // Separate APPENDs: the tombstone arrives after the records it kills.
  for (size_t i = 0; i < log.size(); ++i) {
    EXPECT_EQ(expect_ack(c.append({log[i]})).first_lsn, i + 1);
  }
  ReadReply all = read_with(c, 1, 0);
  EXPECT_EQ(lsns(all.records), (std::vector<uint64_t>{1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(all.next_lsn, 9u);

  ReadReply live = read_with(c, 1, proto::kReadSkipDead);
  EXPECT_EQ(lsns(live.records), kLiveInStandardLog);
  EXPECT_EQ(live.next_lsn, 9u);  // skipped records still advance next_lsn
  for (const auto& r : live.records) EXPECT_EQ(r.payload, log[r.lsn - 1].payload);
  for (uint8_t fl : live.frame_flags) EXPECT_EQ(fl, 0);  // full entries

  // From the middle, and with a record limit: skipped records do not count.
  ReadReply part = read_with(c, 2, proto::kReadSkipDead, 2);
  EXPECT_EQ(lsns(part.records), (std::vector<uint64_t>{3, 4}));
  EXPECT_EQ(part.next_lsn, 5u);
  // The dead records before the first live one are passed, not counted.
  ReadReply first = read_with(c, 1, proto::kReadSkipDead, 1);
  EXPECT_EQ(lsns(first.records), (std::vector<uint64_t>{3}));
  EXPECT_EQ(first.next_lsn, 4u);
}

TEST(ReadFlags, HeaderOnlyCarriesTrueLengthsAndNoPayloadBytes) {
  TempDir dir;
  Daemon d(dir.path());
  d.start_ready();
  RawClient c(d.socket_path());
  std::vector<TestRecord> batch = {
      TestRecord{.type = 7, .tenant = 3, .payload = {}},
      TestRecord{.type = 8, .tenant = 4, .payload = make_payload(1, 1, 10)},
      TestRecord{.type = 9, .tenant = 5, .payload = make_payload(1, 2, 5000)},
  };
  ASSERT_EQ(expect_ack(c.append(batch)).first_lsn, 1u);
  ReadReply h = read_with(c, 1, proto::kReadHeaderOnly);
  ASSERT_EQ(h.records.size(), 3u);
  EXPECT_EQ(h.next_lsn, 4u);
  EXPECT_EQ(h.body_bytes, 3 * proto::kReadRecordHeaderSize);  // headers only
  for (uint8_t fl : h.frame_flags) EXPECT_EQ(fl, proto::kRecordsHeaderOnly);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(h.records[i].lsn, i + 1);
    EXPECT_EQ(h.records[i].type, batch[i].type);
    EXPECT_EQ(h.records[i].tenant, batch[i].tenant);
    EXPECT_TRUE(h.records[i].payload.empty());
    EXPECT_EQ(h.payload_lens[i], batch[i].payload.size());
  }
  // The same records as a full READ: limits count the stored lengths.
  ReadReply full = read_with(c, 1, 0);
  EXPECT_EQ(lsns(full.records), lsns(h.records));
  EXPECT_EQ(full.next_lsn, h.next_lsn);
}

// After a restart the records are read from the disk (the tail window is
// empty): HEADER_ONLY then goes through the engine's headers-only reader,
// which steps over payloads it does not need. Same records, lengths and
// next_lsn as the full READ, for records on both sides of its read window.
TEST(ReadFlags, HeaderOnlyFromTheDiskMatchesAFullReadForLargeRecords) {
  TempDir dir;
  Daemon d(dir.path());
  d.start_ready();
  const std::vector<size_t> sizes = {300u << 10, 10, 1u << 20, 0, 600u << 10, 5000, 1u << 20, 7};
  {
    RawClient c(d.socket_path());
    for (size_t i = 0; i < sizes.size(); ++i) {
      TestRecord r{.type = static_cast<uint16_t>(i + 1),
                   .tenant = 6,
                   .payload = make_payload(4, i, sizes[i])};
      ASSERT_EQ(expect_ack(c.append({r})).first_lsn, i + 1);
    }
  }
  d.signal(SIGTERM);
  ASSERT_EQ(d.wait_exit(), 0);
  d.start_ready();
  RawClient c(d.socket_path());
  for (uint64_t from : {1u, 2u, 3u, 6u}) {
    for (uint32_t max_records : {0u, 2u}) {
      SCOPED_TRACE("from " + std::to_string(from) + " max_records " + std::to_string(max_records));
      ReadReply h = read_with(c, from, proto::kReadHeaderOnly, max_records);
      ReadReply full = read_with(c, from, 0, max_records);
      EXPECT_EQ(lsns(h.records), lsns(full.records));
      EXPECT_EQ(h.next_lsn, full.next_lsn);
      EXPECT_EQ(h.body_bytes, h.records.size() * proto::kReadRecordHeaderSize);
      for (size_t i = 0; i < h.records.size(); ++i) {
        const uint64_t lsn = h.records[i].lsn;
        EXPECT_EQ(h.payload_lens[i], sizes[lsn - 1]) << "lsn " << lsn;
        EXPECT_EQ(h.records[i].type, lsn);
        EXPECT_EQ(h.records[i].tenant, 6u);
        EXPECT_TRUE(h.records[i].payload.empty());
        EXPECT_EQ(full.records[i].payload, make_payload(4, lsn - 1, sizes[lsn - 1]));
      }
    }
  }
}

TEST(ReadFlags, BothFlagsCombine) {
  TempDir dir;
  Daemon d(dir.path());
  d.start_ready();
  RawClient c(d.socket_path());
  const auto log = standard_log();
  ASSERT_EQ(expect_ack(c.append(log)).first_lsn, 1u);
  ReadReply r = read_with(c, 1, proto::kReadSkipDead | proto::kReadHeaderOnly);
  EXPECT_EQ(lsns(r.records), kLiveInStandardLog);
  EXPECT_EQ(r.next_lsn, 9u);
  EXPECT_EQ(r.body_bytes, kLiveInStandardLog.size() * proto::kReadRecordHeaderSize);
  for (size_t i = 0; i < r.records.size(); ++i) {
    EXPECT_EQ(r.payload_lens[i], log[r.records[i].lsn - 1].payload.size());
  }
}

TEST(ReadFlags, UnknownFlagBitsAndFlagsOnOtherOpcodesAreMalformed) {
  TempDir dir;
  Daemon d(dir.path());
  d.start_ready();
  RawClient c(d.socket_path());
  ASSERT_EQ(expect_ack(c.append({app(1, "x", "y")})).first_lsn, 1u);
  auto expect_malformed = [&](std::vector<uint8_t> frame, uint8_t flags) {
    frame[5] = flags;
    const uint64_t id = proto::decode_header(frame.data()).request_id;
    ASSERT_TRUE(c.send(frame));
    auto f = c.read_frame();
    ASSERT_TRUE(f.has_value());
    EXPECT_EQ(f->header.request_id, id);
    EXPECT_EQ(expect_error(*f).code, proto::ErrorCode::kMalformed) << describe(*f);
  };
  std::vector<uint8_t> frame;
  proto::encode_read(c.next_id(), proto::ReadRequest{.from_lsn = 1}, &frame);
  expect_malformed(frame, 0x04);
  frame.clear();
  proto::encode_read(c.next_id(), proto::ReadRequest{.from_lsn = 1}, &frame);
  expect_malformed(frame, 0x83);
  frame.clear();
  proto::encode_status(c.next_id(), &frame);
  expect_malformed(frame, proto::kReadSkipDead);
  frame.clear();
  const std::vector<uint8_t> payload = in_collection("x", "z");
  proto::AppendRecord rec{.type = 1, .flags = 0, .tenant = 1, .payload = payload};
  proto::encode_append(c.next_id(), std::span(&rec, 1), &frame);
  expect_malformed(frame, proto::kReadHeaderOnly);
  // The connection is still usable and the flagged APPEND wrote nothing.
  EXPECT_EQ(c.status().durable_lsn, 1u);
  EXPECT_EQ(lsns(read_with(c, 1, proto::kReadSkipDead).records), (std::vector<uint64_t>{1}));
}

// A follower with SKIP_DEAD judges each record against the tombstones durable
// when it is sent. Here the database writes a tombstone whose purge LSN (10)
// is above its own LSN (2): records of that collection appended after it
// with LSNs below 10 are dead when they become durable and are skipped; a
// record sent before the tombstone existed was delivered and stays delivered;
// LSN 10 itself is live (only records below the purge LSN die).
TEST(ReadFlags, FollowWithSkipDeadSkipsRecordsDeadWhenTheyBecomeDurable) {
  TempDir dir;
  Daemon d(dir.path());
  d.start_ready();
  RawClient follower(d.socket_path());
  RawClient writer(d.socket_path());
  const uint64_t rid = follower.next_id();
  std::vector<uint8_t> frame;
  proto::encode_read(rid,
                     proto::ReadRequest{.from_lsn = 1,
                                        .max_records = 0,
                                        .max_bytes = 0,
                                        .follow = 1,
                                        .flags = proto::kReadSkipDead},
                     &frame);
  ASSERT_TRUE(follower.send(frame));
  std::vector<uint64_t> got;
  // Reads RECORDS frames until the follower has seen LSN `until`.
  auto receive_until = [&](uint64_t until) {
    while (got.empty() || got.back() < until) {
      auto f = follower.read_frame();
      ASSERT_TRUE(f.has_value());
      ASSERT_EQ(f->opcode(), proto::Opcode::kRecords) << describe(*f);
      std::vector<proto::ReadRecord> recs;
      ASSERT_TRUE(proto::decode_records(f->body, &recs).ok());
      for (const auto& r : recs) got.push_back(r.lsn);
    }
  };
  ASSERT_EQ(expect_ack(writer.append({app(1, "orders", "early")})).first_lsn, 1u);
  receive_until(1);  // delivered: no tombstone yet
  ASSERT_EQ(expect_ack(writer.append({tomb(1, "orders", 10)})).first_lsn, 2u);
  ASSERT_EQ(expect_ack(writer.append({app(1, "orders", "late")})).first_lsn, 3u);  // dead
  for (uint64_t lsn = 4; lsn <= 9; ++lsn) {
    // 4..9 alternate between a live collection and the dead one.
    TestRecord r = lsn % 2 == 0 ? app(1, "users", "u") : app(1, "orders", "o");
    ASSERT_EQ(expect_ack(writer.append({r})).first_lsn, lsn);
  }
  ASSERT_EQ(expect_ack(writer.append({app(1, "orders", "at-purge")})).first_lsn, 10u);
  receive_until(10);
  EXPECT_EQ(got, (std::vector<uint64_t>{1, 2, 4, 6, 8, 10}));
  frame.clear();
  proto::encode_cancel(rid, &frame);
  ASSERT_TRUE(follower.send(frame));
  auto end = follower.read_frame();
  ASSERT_TRUE(end.has_value());
  ASSERT_EQ(end->opcode(), proto::Opcode::kEnd) << describe(*end);
  uint64_t next = 0;
  ASSERT_TRUE(proto::decode_end(end->body, &next).ok());
  EXPECT_EQ(next, 11u);
  // A fresh READ now also omits LSN 1, which the tombstone kills.
  EXPECT_EQ(lsns(read_with(writer, 1, proto::kReadSkipDead).records),
            (std::vector<uint64_t>{2, 4, 6, 8, 10}));
}

TEST(ReadFlags, TombstonesSurviveARestart) {
  TempDir dir;
  Daemon d(dir.path());
  d.start_ready();
  {
    RawClient c(d.socket_path());
    ASSERT_EQ(expect_ack(c.append(standard_log())).first_lsn, 1u);
  }
  d.signal(SIGTERM);
  ASSERT_EQ(d.wait_exit(), 0);
  d.start_ready();
  RawClient c(d.socket_path());
  // The first SKIP_DEAD READ after the restart builds the set from the log.
  EXPECT_EQ(lsns(read_with(c, 4, proto::kReadSkipDead).records),
            (std::vector<uint64_t>{4, 5, 6, 7, 8}));
  EXPECT_EQ(lsns(read_with(c, 1, proto::kReadSkipDead).records), kLiveInStandardLog);
  // And it keeps following the log after that.
  ASSERT_EQ(expect_ack(c.append({app(1, "orders", "g"), tomb(1, "orders", 100)})).first_lsn, 9u);
  EXPECT_EQ(lsns(read_with(c, 1, proto::kReadSkipDead).records),
            (std::vector<uint64_t>{3, 4, 6, 7, 10}));
}

// ---- Client library.

TEST(ReadFlagsClient, ReadOptionsSelectSkipDeadAndHeaderOnly) {
  TempDir dir;
  Daemon d(dir.path());
  d.start_ready();
  auto cl = client::Client::connect(d.socket_path());
  ASSERT_TRUE(cl.ok()) << cl.status().ToString();
  client::Client& c = **cl;
  std::vector<std::vector<uint8_t>> payloads;
  std::vector<client::RecordIn> in;
  for (const TestRecord& r : standard_log()) payloads.push_back(r.payload);
  const auto log = standard_log();
  for (size_t i = 0; i < log.size(); ++i) {
    in.push_back(client::RecordIn{
        .type = log[i].type, .flags = 0, .tenant = log[i].tenant, .payload = payloads[i]});
  }
  ASSERT_EQ(c.append(in).value(), 1u);

  auto plain = c.read(1);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->records.size(), 8u);
  EXPECT_EQ(plain->records[2].payload_len, payloads[2].size());

  auto live = c.read(1, 0, 0, client::ReadOptions{.skip_dead = true});
  ASSERT_TRUE(live.ok()) << live.status().ToString();
  std::vector<uint64_t> got;
  for (const auto& r : live->records) {
    got.push_back(r.lsn);
    EXPECT_EQ(r.payload, payloads[r.lsn - 1]);
  }
  EXPECT_EQ(got, kLiveInStandardLog);
  EXPECT_EQ(live->next_lsn, 9u);

  auto heads = c.read(1, 0, 0, client::ReadOptions{.skip_dead = true, .header_only = true});
  ASSERT_TRUE(heads.ok()) << heads.status().ToString();
  ASSERT_EQ(heads->records.size(), kLiveInStandardLog.size());
  for (const auto& r : heads->records) {
    EXPECT_TRUE(r.payload.empty());
    EXPECT_EQ(r.payload_len, payloads[r.lsn - 1].size());
  }

  // tail() with options: the follower sees the live records, headers only.
  std::vector<uint64_t> tailed;
  std::vector<uint32_t> lens;
  auto next = c.tail(
      1,
      [&](std::span<const proto::ReadRecord> recs) {
        for (const auto& r : recs) {
          tailed.push_back(r.lsn);
          lens.push_back(r.payload_len);
          EXPECT_TRUE(r.payload.empty());
        }
        return tailed.back() < 8;
      },
      client::ReadOptions{.skip_dead = true, .header_only = true});
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ(tailed, kLiveInStandardLog);
  EXPECT_EQ(*next, 9u);
  for (size_t i = 0; i < tailed.size(); ++i) EXPECT_EQ(lens[i], payloads[tailed[i] - 1].size());

  // Bits the protocol does not define are refused before anything is sent.
  proto::ReadRequest bad{.from_lsn = 1, .flags = 0x04};
  auto id = c.read_async(
      bad, [](auto) {}, [](const Status&, uint64_t) {});
  EXPECT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), Code::kInvalidArgument);
}

// ---- CLI.

// Runs the sidewal CLI to completion; returns its exit code and stdout.
std::pair<int, std::string> run_cli(const std::vector<std::string>& args) {
  RunResult r = run_program(SIDEWAL_CLI_PATH, args);
  return {r.exit_code, std::move(r.out)};
}

TEST(ReadFlagsCli, ReadSkipDeadHeaderOnlyPrintsLiveHeaders) {
  TempDir dir;
  Daemon d(dir.path());
  d.start_ready();
  {
    RawClient c(d.socket_path());
    ASSERT_EQ(expect_ack(c.append(standard_log())).first_lsn, 1u);
  }
  const auto log = standard_log();
  auto [code, text] =
      run_cli({"read", "--socket", d.socket_path(), "--skip-dead", "--header-only"});
  ASSERT_EQ(code, 0) << text;
  std::ostringstream want;
  for (uint64_t lsn : kLiveInStandardLog) {
    const TestRecord& r = log[lsn - 1];
    want << lsn << " " << r.type << " " << r.tenant << " len=" << r.payload.size() << "\n";
  }
  EXPECT_EQ(text, want.str());
  // Without the flags every record is printed, payload included.
  auto [code2, all] = run_cli({"read", "--socket", d.socket_path()});
  ASSERT_EQ(code2, 0);
  EXPECT_EQ(std::count(all.begin(), all.end(), '\n'), 8);
  // --header-only and --raw exclude each other (usage error).
  EXPECT_NE(run_cli({"read", "--socket", d.socket_path(), "--header-only", "--raw"}).first, 0);
}

}  // namespace
}  // namespace sidewal::it
