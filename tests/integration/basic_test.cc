// End-to-end behaviour of sidewald over its Unix socket: pipelined appends,
// ACK order, READ after restart, follow/cancel, truncation, SIGTERM drain,
// backpressure, peer-UID checks and socket-file handling.
#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "tests/support/daemon_harness.h"

namespace sidewal::it {
namespace {

using Expected = std::map<uint64_t, TestRecord>;  // lsn -> what was sent

void expect_same(const std::vector<TestRecord>& got, const Expected& want) {
  ASSERT_EQ(got.size(), want.size());
  auto it = want.begin();
  for (const TestRecord& r : got) {
    ASSERT_EQ(r.lsn, it->first);
    ASSERT_EQ(r.type, it->second.type) << "lsn " << r.lsn;
    ASSERT_EQ(r.tenant, it->second.tenant) << "lsn " << r.lsn;
    ASSERT_EQ(r.payload, it->second.payload) << "lsn " << r.lsn;
    ++it;
  }
}

// One connection pipelining `requests` APPENDs with up to `depth` in flight.
// Checks that replies come in request order with increasing LSNs and records
// every acknowledged record in *acked (guarded by *mu).
void pipelined_appender(const std::string& socket, uint32_t stream, int requests, int depth,
                        std::mutex* mu, Expected* acked, std::string* error) {
  try {
    RawClient c(socket);
    std::mt19937 rng(stream);
    std::deque<std::pair<uint64_t, std::vector<TestRecord>>> outstanding;
    uint64_t seq = 0;
    uint64_t last_lsn = 0;
    int sent = 0;
    int done = 0;
    while (done < requests) {
      while (sent < requests && static_cast<int>(outstanding.size()) < depth) {
        std::vector<TestRecord> batch(1 + rng() % 4);
        for (auto& r : batch) {
          r.type = static_cast<uint16_t>(rng() % 0x8000);
          r.tenant = stream;
          r.payload = make_payload(stream, seq++, 12 + rng() % 600);
        }
        const uint64_t id = c.next_id();
        c.send_append(id, batch);
        outstanding.emplace_back(id, std::move(batch));
        ++sent;
      }
      auto f = c.read_frame();
      if (!f) throw std::runtime_error("connection closed");
      auto& [id, batch] = outstanding.front();
      if (f->header.request_id != id) {
        throw std::runtime_error("ACK out of order: got request " +
                                 std::to_string(f->header.request_id) + ", expected " +
                                 std::to_string(id));
      }
      const proto::Ack ack = expect_ack(*f);
      if (ack.count != batch.size()) throw std::runtime_error("ACK count mismatch");
      if (ack.first_lsn <= last_lsn) throw std::runtime_error("LSNs not increasing");
      last_lsn = ack.first_lsn + ack.count - 1;
      {
        std::lock_guard lock(*mu);
        for (size_t i = 0; i < batch.size(); ++i) {
          batch[i].lsn = ack.first_lsn + i;
          if (!acked->emplace(batch[i].lsn, batch[i]).second) {
            throw std::runtime_error("LSN acknowledged twice: " + std::to_string(batch[i].lsn));
          }
        }
      }
      outstanding.pop_front();
      ++done;
    }
  } catch (const std::exception& e) {
    std::lock_guard lock(*mu);
    *error = e.what();
  }
}

TEST(Daemon, PipelinedAppendsFromManyConnectionsAreAckedInOrderAndReadBackAfterRestart) {
  TempDir dir;
  Daemon d(dir.path());
  d.start_ready();

  constexpr int kConns = 8;
  constexpr int kDepth = 32;
  constexpr int kRequests = 250;
  std::mutex mu;
  Expected acked;
  std::string error;
  std::vector<std::thread> threads;
  for (uint32_t s = 0; s < kConns; ++s) {
    threads.emplace_back(pipelined_appender, d.socket_path(), s, kRequests, kDepth, &mu, &acked,
                         &error);
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(error, "");

  // Every LSN from 1 to the last was handed out exactly once.
  ASSERT_FALSE(acked.empty());
  EXPECT_EQ(acked.begin()->first, 1u);
  EXPECT_EQ(acked.rbegin()->first, acked.size());

  RawClient c(d.socket_path());
  const proto::StatusReply st = c.status();
  EXPECT_EQ(st.state, 1);
  EXPECT_EQ(st.first_lsn, 1u);
  EXPECT_EQ(st.durable_lsn, acked.size());
  expect_same(c.read_all(1), acked);

  d.signal(SIGTERM);
  EXPECT_TRUE(c.wait_closed());
  EXPECT_EQ(d.wait_exit(), 0);

  d.start_ready();
  RawClient c2(d.socket_path());
  const proto::StatusReply st2 = c2.status();
  EXPECT_EQ(st2.first_lsn, 1u);
  EXPECT_EQ(st2.durable_lsn, acked.size());
  expect_same(c2.read_all(1), acked);
  // A small max_bytes makes the daemon split the READ; the result is the same.
  expect_same(c2.read_all(1, 4096), acked);
}

TEST(Daemon, SigtermAcksInFlightAppendsThenExitsZero) {
  TempDir dir;
  Daemon d(dir.path());
  d.start_ready();
  RawClient c(d.socket_path());
  std::map<uint64_t, std::vector<TestRecord>> sent;
  constexpr int kRequests = 400;
  for (int i = 0; i < kRequests; ++i) {
    std::vector<TestRecord> batch = {
        TestRecord{.type = 1, .tenant = 2, .payload = make_payload(0, i, 2000)}};
    const uint64_t id = c.next_id();
    c.send_append(id, batch);
    sent[id] = batch;
  }
  // The daemon is working through the pipeline when the signal arrives.
  auto first = c.read_frame();
  ASSERT_TRUE(first);
  d.signal(SIGTERM);

  Expected acked;
  uint64_t expect_id = 1;
  std::optional<Frame> f = first;
  while (f) {
    ASSERT_EQ(f->header.request_id, expect_id) << describe(*f);
    const proto::Ack a = expect_ack(*f);  // never an error: in-flight work completes
    TestRecord r = sent[expect_id][0];
    r.lsn = a.first_lsn;
    acked[a.first_lsn] = r;
    ++expect_id;
    f = c.read_frame();
  }
  EXPECT_EQ(d.wait_exit(), 0);
  EXPECT_GE(acked.size(), 1u);

  d.start_ready();
  RawClient c2(d.socket_path());
  const auto back = c2.read_all(1);
  // Everything ACKed is back; the daemon may have made more durable than it
  // ACKed only if it read requests it then could not answer (it does not:
  // draining stops reading first), so the log is exactly the ACKed prefix.
  ASSERT_GE(back.size(), acked.size());
  for (const auto& [lsn, r] : acked) {
    ASSERT_LE(lsn, back.size());
    EXPECT_EQ(back[lsn - 1].payload, r.payload) << "lsn " << lsn;
  }
}

TEST(Daemon, RepliesComeInRequestOrderAcrossRequestKinds) {
  TempDir dir;
  Daemon d(dir.path());
  d.start_ready();
  RawClient c(d.socket_path());
  // Pipelined without waiting: APPEND, STATUS, READ, APPEND, HELLO, unknown
  // opcode, TRUNCATE, APPEND. Each reply (a READ's frames up to END) comes
  // in request order, although STATUS, HELLO and the ERROR are ready long
  // before the APPENDs ahead of them are durable.
  std::vector<uint8_t> all;
  auto put_append = [&](uint64_t id, uint64_t seq) {
    std::vector<uint8_t> payload = make_payload(2, seq, 64);
    std::vector<proto::AppendRecord> in = {proto::AppendRecord{.type = 1, .payload = payload}};
    proto::encode_append(id, in, &all);
  };
  put_append(1, 1);
  proto::encode_status(2, &all);
  proto::encode_read(3, proto::ReadRequest{.from_lsn = 1}, &all);
  put_append(4, 2);
  proto::encode_hello(5, proto::Hello{.version = 1, .name = "order"}, &all);
  proto::FrameHeader unknown;
  unknown.opcode = 0x33;
  unknown.request_id = 6;
  uint8_t hdr[proto::kHeaderSize];
  proto::encode_header(unknown, hdr);
  all.insert(all.end(), hdr, hdr + sizeof hdr);
  proto::encode_truncate(7, 1, &all);
  put_append(8, 3);
  ASSERT_TRUE(c.send(all));

  // The READ may see LSN 1 and any later APPEND already durable when it runs
  // (all three APPENDs are queued before it), in one RECORDS frame or several:
  // protocol v1 promises "zero or more RECORDS, then END". What is checked is
  // that all of them come between STATUS_OK and the second ACK.
  const std::vector<std::pair<uint64_t, proto::Opcode>> want = {
      {1, proto::Opcode::kAck},   {2, proto::Opcode::kStatusOk}, {3, proto::Opcode::kRecords},
      {3, proto::Opcode::kEnd},   {4, proto::Opcode::kAck},      {5, proto::Opcode::kHelloOk},
      {6, proto::Opcode::kError}, {7, proto::Opcode::kOk},       {8, proto::Opcode::kAck}};
  uint64_t records_seen = 0;
  for (const auto& [id, op] : want) {
    auto f = c.read_frame();
    ASSERT_TRUE(f);
    if (op == proto::Opcode::kEnd) {
      // Further RECORDS frames of the same READ may precede its END.
      while (f->opcode() == proto::Opcode::kRecords && f->header.request_id == 3) {
        std::vector<proto::ReadRecord> recs;
        ASSERT_TRUE(proto::decode_records(f->body, &recs).ok());
        records_seen += recs.size();
        f = c.read_frame();
        ASSERT_TRUE(f);
      }
    }
    EXPECT_EQ(f->header.request_id, id) << describe(*f);
    EXPECT_EQ(f->opcode(), op) << describe(*f);
    if (op == proto::Opcode::kRecords && f->opcode() == op) {
      std::vector<proto::ReadRecord> recs;
      ASSERT_TRUE(proto::decode_records(f->body, &recs).ok());
      records_seen += recs.size();
    }
  }
  // LSN 1 was durable before the READ ran (its ACK came first); LSNs 2 and 3
  // (APPENDs 4 and 8, parsed and queued before the READ reached the front)
  // may be too. Only durable records are sent, so never more than 3.
  EXPECT_GE(records_seen, 1u);
  EXPECT_LE(records_seen, 3u);
}

TEST(Daemon, FollowReadStreamsNewRecordsUntilCancel) {
  TempDir dir;
  Daemon d(dir.path());
  d.start_ready();
  RawClient tail(d.socket_path());
  RawClient writer(d.socket_path());

  expect_ack(writer.append({TestRecord{.type = 7, .payload = make_payload(1, 0, 100)}}));

  const uint64_t rid = tail.next_id();
  std::vector<uint8_t> frame;
  proto::encode_read(rid, proto::ReadRequest{.from_lsn = 1, .follow = 1}, &frame);
  ASSERT_TRUE(tail.send(frame));

  constexpr uint64_t kRecords = 50;
  std::vector<std::vector<uint8_t>> payloads = {make_payload(1, 0, 100)};
  for (uint64_t i = 1; i < kRecords; ++i) {
    payloads.push_back(make_payload(1, i, 10 + i));
    expect_ack(writer.append({TestRecord{.type = 7, .payload = payloads.back()}}));
  }
  uint64_t next = 1;
  while (next <= kRecords) {
    auto f = tail.read_frame();
    ASSERT_TRUE(f);
    ASSERT_EQ(f->header.request_id, rid);
    ASSERT_EQ(f->opcode(), proto::Opcode::kRecords) << describe(*f);
    std::vector<proto::ReadRecord> recs;
    ASSERT_TRUE(proto::decode_records(f->body, &recs).ok());
    for (const auto& r : recs) {
      ASSERT_EQ(r.lsn, next);
      ASSERT_EQ(std::vector<uint8_t>(r.payload.begin(), r.payload.end()), payloads[next - 1]);
      ++next;
    }
  }
  // A record appended now still streams to the follower.
  payloads.push_back(make_payload(1, kRecords, 33));
  expect_ack(writer.append({TestRecord{.type = 7, .payload = payloads.back()}}));
  auto more = tail.read_frame();
  ASSERT_TRUE(more);
  std::vector<proto::ReadRecord> recs;
  ASSERT_TRUE(proto::decode_records(more->body, &recs).ok());
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].lsn, kRecords + 1);

  std::vector<uint8_t> cancel;
  proto::encode_cancel(rid, &cancel);
  ASSERT_TRUE(tail.send(cancel));
  auto end = tail.read_frame();
  ASSERT_TRUE(end);
  ASSERT_EQ(end->opcode(), proto::Opcode::kEnd) << describe(*end);
  uint64_t next_lsn = 0;
  ASSERT_TRUE(proto::decode_end(end->body, &next_lsn).ok());
  EXPECT_EQ(next_lsn, kRecords + 2);
  EXPECT_EQ(tail.status().durable_lsn, kRecords + 1);  // still usable
}

TEST(Daemon, TruncateDropsWholeSegmentsAndOlderLsnsAreReportedTruncated) {
  TempDir dir;
  DaemonConfig cfg;
  cfg.set("wal", "segment_bytes", "1MiB");
  cfg.set("wal", "max_record_bytes", "64KiB");
  Daemon d(dir.path(), cfg);
  d.start_ready();
  RawClient c(d.socket_path());
  Expected all;
  for (uint64_t i = 0; i < 300; ++i) {
    TestRecord r{.type = 3, .tenant = 9, .payload = make_payload(5, i, 16 * 1024)};
    r.lsn = expect_ack(c.append({r})).first_lsn;
    all[r.lsn] = r;
  }
  EXPECT_GE(c.status().segments, 4u);

  const uint64_t id = c.next_id();
  std::vector<uint8_t> frame;
  proto::encode_truncate(id, 200, &frame);
  ASSERT_TRUE(c.send(frame));
  auto ok = c.read_frame();
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->opcode(), proto::Opcode::kOk) << describe(*ok);
  uint64_t first = 0;
  ASSERT_TRUE(proto::decode_ok(ok->body, &first).ok());
  EXPECT_GT(first, 1u);
  EXPECT_LE(first, 200u);
  EXPECT_EQ(c.status().first_lsn, first);

  const uint64_t rid = c.next_id();
  std::vector<uint8_t> read;
  proto::encode_read(rid, proto::ReadRequest{.from_lsn = 1}, &read);
  ASSERT_TRUE(c.send(read));
  auto err = c.read_frame();
  ASSERT_TRUE(err);
  EXPECT_EQ(expect_error(*err).code, proto::ErrorCode::kLsnTruncated);

  Expected rest(all.lower_bound(first), all.end());
  expect_same(c.read_all(first), rest);
}

TEST(Daemon, ClientThatDoesNotReadRepliesIsThrottledWhileOthersAreServed) {
  TempDir dir;
  DaemonConfig cfg;
  cfg.set("limits", "max_inflight_bytes_per_connection", "64KiB");
  Daemon d(dir.path(), cfg);
  d.start_ready();

  RawClient hog(d.socket_path());
  // Small socket buffers so the stall shows up after little data.
  int small = 32 * 1024;
  setsockopt(hog.fd(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  setsockopt(hog.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);

  const std::vector<TestRecord> batch = {TestRecord{.type = 1, .payload = make_payload(9, 0, 16)}};
  std::vector<uint8_t> frame;
  std::vector<proto::AppendRecord> in = {
      proto::AppendRecord{.type = 1, .tenant = 0, .payload = batch[0].payload}};
  uint64_t frames_sent = 0;
  uint64_t bytes_sent = 0;
  size_t partial = 0;  // bytes of the current frame already sent
  // Small frames: a stall comes from the daemon no longer reading, not from
  // the log's write bandwidth.
  constexpr uint64_t kAttempt = 16ull << 20;
  // Send without ever reading replies, until sending stalls for 500 ms.
  while (bytes_sent < kAttempt) {
    if (partial == 0) {
      frame.clear();
      proto::encode_append(frames_sent + 1, in, &frame);
    }
    ssize_t n = ::send(hog.fd(), frame.data() + partial, frame.size() - partial,
                       MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      partial += static_cast<size_t>(n);
      bytes_sent += static_cast<uint64_t>(n);
      if (partial == frame.size()) {
        partial = 0;
        ++frames_sent;
      }
      continue;
    }
    ASSERT_TRUE(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) << strerror(errno);
    pollfd p{hog.fd(), POLLOUT, 0};
    if (::poll(&p, 1, 500) == 0) break;  // the daemon stopped reading us
  }
  // The daemon took at most the bound plus what socket buffers hold, not
  // everything offered.
  EXPECT_LT(bytes_sent, 4ull << 20) << "sent " << bytes_sent << " bytes without a stall";

  // Another client is unaffected.
  RawClient other(d.socket_path());
  for (int i = 0; i < 20; ++i) {
    expect_ack(other.append({TestRecord{.type = 2, .payload = make_payload(10, i, 100)}}));
  }

  // Finish the partial frame, then read: every request is ACKed, in order.
  if (partial != 0) {
    std::vector<uint8_t> rest(frame.begin() + static_cast<long>(partial), frame.end());
    std::thread finisher([&] { ASSERT_TRUE(hog.send(rest)); });
    for (uint64_t id = 1; id <= frames_sent + 1; ++id) {
      auto f = hog.read_frame();
      ASSERT_TRUE(f);
      ASSERT_EQ(f->header.request_id, id);
      expect_ack(*f);
    }
    finisher.join();
  } else {
    for (uint64_t id = 1; id <= frames_sent; ++id) {
      auto f = hog.read_frame();
      ASSERT_TRUE(f);
      ASSERT_EQ(f->header.request_id, id);
      expect_ack(*f);
    }
  }
}

TEST(Daemon, PeerUidNotInAllowListGetsUnauthorized) {
  TempDir dir;
  DaemonConfig cfg;
  cfg.set("socket", "allowed_uids", "[" + std::to_string(getuid() + 1) + "]");
  Daemon d(dir.path(), cfg);
  d.start_ready();
  RawClient c(d.socket_path());
  auto f = c.read_frame();
  ASSERT_TRUE(f);
  EXPECT_EQ(expect_error(*f).code, proto::ErrorCode::kUnauthorized);
  EXPECT_TRUE(c.wait_closed());
}

TEST(Daemon, PeerUidInAllowListIsServedAndSocketHasConfiguredMode) {
  TempDir dir;
  DaemonConfig cfg;
  cfg.set("socket", "allowed_uids", "[" + std::to_string(getuid()) + "]");
  cfg.set("socket", "mode", "\"0600\"");
  Daemon d(dir.path(), cfg);
  d.start_ready();
  RawClient c(d.socket_path());
  EXPECT_EQ(c.status().state, 1);
  struct stat st {};
  ASSERT_EQ(::stat(d.socket_path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // HELLO reports the limits and the log's LSNs.
  expect_ack(c.append({TestRecord{.type = 1, .payload = make_payload(1, 1, 20)}}));
  std::vector<uint8_t> hello;
  proto::encode_hello(c.next_id(), proto::Hello{.version = 1, .name = "it"}, &hello);
  ASSERT_TRUE(c.send(hello));
  auto f = c.read_frame();
  ASSERT_TRUE(f);
  ASSERT_EQ(f->opcode(), proto::Opcode::kHelloOk) << describe(*f);
  proto::HelloOk ok;
  ASSERT_TRUE(proto::decode_hello_ok(f->body, &ok).ok());
  EXPECT_EQ(ok.max_record_bytes, 1u << 20);
  EXPECT_EQ(ok.first_lsn, 1u);
  EXPECT_EQ(ok.durable_lsn, 1u);
}

TEST(Daemon, StaleSocketFileIsReplacedButALiveOneIsNotStolen) {
  TempDir dir;
  Daemon d(dir.path());
  {
    // A socket file nobody listens on: what a crashed daemon leaves behind.
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, d.socket_path().c_str(), sizeof(addr.sun_path) - 1);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::close(fd);
  }
  d.start_ready();
  RawClient c(d.socket_path());
  EXPECT_EQ(c.status().state, 1);

  // A second daemon on the same socket (its own data dir) refuses to start.
  TempDir other;
  std::ofstream(other.path() + "/c.yaml") << "data_dir: " << other.path() << "/data\n"
                                          << "admin:\n  listen: 127.0.0.1:0\n";
  RunResult r = run_sidewald({"--config", other.path() + "/c.yaml", "--socket", d.socket_path()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("in use by a live process"), std::string::npos) << r.out << r.err;
  // ... and the first one keeps serving on it.
  EXPECT_EQ(c.status().state, 1);
  RawClient c2(d.socket_path());
  EXPECT_EQ(c2.status().state, 1);
}

TEST(Daemon, ThousandIdleConnectionsAreFine) {
  TempDir dir;
  Daemon d(dir.path());
  d.start_ready();
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 1000; ++i) idle.push_back(std::make_unique<RawClient>(d.socket_path()));
  // Every one of them is served, and the metric counts them.
  for (auto& c : idle) ASSERT_EQ(c->status().state, 1);
  const std::string metrics = http_get(d.admin_port(), "/metrics").body;
  EXPECT_NE(metrics.find("\nsidewal_connections 1000"), std::string::npos);
  idle.clear();
  EXPECT_TRUE(d.wait_until(
      [&] {
        return http_get(d.admin_port(), "/metrics").body.find("\nsidewal_connections 0") !=
               std::string::npos;
      },
      seconds(10)));
}

TEST(Daemon, LogsAreOneJsonObjectPerLine) {
  TempDir dir;
  Daemon d(dir.path());
  d.start_ready();
  d.signal(SIGTERM);
  ASSERT_EQ(d.wait_exit(), 0);
  std::istringstream out(d.output());
  std::string line;
  int lines = 0;
  while (std::getline(out, line)) {
    ++lines;
    EXPECT_EQ(line.rfind("{\"ts\":\"", 0), 0u) << line;
    EXPECT_EQ(line.back(), '}') << line;
    EXPECT_NE(line.find("\"level\":\""), std::string::npos) << line;
    EXPECT_NE(line.find("\"msg\":\""), std::string::npos) << line;
    EXPECT_NE(line.find("\"fields\":{"), std::string::npos) << line;
  }
  EXPECT_GE(lines, 4);  // starting, listening, recovery finished, ready, ... stopped
  EXPECT_NE(d.output().find("\"msg\":\"stopped\""), std::string::npos);
}

}  // namespace
}  // namespace sidewal::it
