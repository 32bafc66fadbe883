// The client library against an in-process fake daemon (fake_daemon.h):
// blocking calls, pipelined completions in request order, daemon ERROR
// mapping, broken connections failing what is in flight with Closed (never
// resending), reconnect on the next call, follow/cancel, protocol violations.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "client/client.h"
#include "common/endian.h"
#include "tests/client/fake_daemon.h"
#include "tests/support/temp_dir.h"

namespace sidewal::client {
namespace {

using testing::FakeDaemon;

std::span<const uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string text_of(std::span<const uint8_t> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

// Counts completions and lets the test wait for them (no sleeping).
class Completions {
 public:
  void add(const Status& s, uint64_t first_lsn, uint64_t tag) {
    std::lock_guard lk(mu_);
    statuses.push_back(s);
    lsns.push_back(first_lsn);
    tags.push_back(tag);
    cv_.notify_all();
  }
  bool wait_until(size_t n, std::chrono::seconds limit = std::chrono::seconds(10)) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, limit, [&] { return statuses.size() >= n; });
  }
  std::vector<Status> statuses;
  std::vector<uint64_t> lsns;
  std::vector<uint64_t> tags;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
};

class ClientTest : public ::testing::Test {
 protected:
  ClientOptions options() const {
    ClientOptions o;
    o.socket_path = path_;
    o.connect_timeout = std::chrono::milliseconds(2000);
    return o;
  }

  test::TempDir dir_{"sidewal-client-test-"};
  std::string path_ = dir_.file("s.sock");
};

TEST_F(ClientTest, BlockingCallsRoundTripThroughTheDaemon) {
  FakeDaemon daemon(path_);
  auto c = Client::connect(options());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  Client& client = **c;

  auto hello = client.hello("db-1");
  ASSERT_TRUE(hello.ok()) << hello.status().ToString();
  EXPECT_EQ(hello->version, 1);
  EXPECT_EQ(hello->max_record_bytes, 1u << 20);

  std::string a = "alpha", b = "beta", empty;
  RecordIn batch[3] = {{1, 0, 10, bytes_of(a)},
                       {2, 0, 11, bytes_of(b)},
                       {3, 0, 12, bytes_of(empty)}};
  auto lsn = client.append(batch);
  ASSERT_TRUE(lsn.ok()) << lsn.status().ToString();
  EXPECT_EQ(*lsn, 1u);
  auto lsn2 = client.append(std::span(batch, 1));
  ASSERT_TRUE(lsn2.ok());
  EXPECT_EQ(*lsn2, 4u);

  auto all = client.read(1);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->records.size(), 4u);
  EXPECT_EQ(all->next_lsn, 5u);
  EXPECT_EQ(all->records[0], (Record{1, 1, 0, 10, {'a', 'l', 'p', 'h', 'a'}, 5}));
  EXPECT_EQ(all->records[1].tenant, 11u);
  EXPECT_TRUE(all->records[2].payload.empty());
  EXPECT_EQ(all->records[3].lsn, 4u);

  auto some = client.read(2, 2);
  ASSERT_TRUE(some.ok());
  ASSERT_EQ(some->records.size(), 2u);
  EXPECT_EQ(some->records[0].lsn, 2u);
  EXPECT_EQ(some->next_lsn, 4u);

  auto st = client.status();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->first_lsn, 1u);
  EXPECT_EQ(st->durable_lsn, 4u);
  EXPECT_EQ(st->state, 1);

  auto first = client.truncate(3);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, 3u);
  EXPECT_EQ(daemon.accepted(), 1);
}

TEST_F(ClientTest, HelloIsSentOnConnectWhenANameIsConfigured) {
  FakeDaemon daemon(path_);
  ClientOptions o = options();
  o.name = "orders-db";
  auto c = Client::connect(o);
  ASSERT_TRUE(c.ok());
  std::string p = "x";
  RecordIn r{1, 0, 0, bytes_of(p)};
  ASSERT_TRUE((*c)->append(std::span(&r, 1)).ok());
  EXPECT_EQ(daemon.hello_names(), std::vector<std::string>{"orders-db"});
}

TEST_F(ClientTest, PipelinedAppendsCompleteInRequestOrderEvenIfRepliesArriveReversed) {
  // The daemon holds every ACK until it has all 64 APPENDs, then answers
  // newest first; the client must still complete them oldest first.
  constexpr int kN = 64;
  std::mutex mu;
  std::vector<std::pair<uint64_t, uint32_t>> held;  // request_id, records
  FakeDaemon daemon(path_, [&](FakeDaemon::Conn& c, const proto::FrameHeader& h,
                               std::span<const uint8_t> body) {
    if (h.opcode != static_cast<uint8_t>(proto::Opcode::kAppend)) return false;
    std::vector<proto::AppendRecord> recs;
    EXPECT_TRUE(proto::decode_append(body, &recs).ok());
    std::lock_guard lk(mu);
    held.emplace_back(h.request_id, static_cast<uint32_t>(recs.size()));
    if (held.size() == kN) {
      std::vector<uint64_t> firsts;
      uint64_t next = 1;
      for (auto& [id, n] : held) {
        firsts.push_back(next);
        next += n;
      }
      std::vector<uint8_t> out;
      for (int i = kN - 1; i >= 0; --i) {
        proto::encode_ack(held[i].first, proto::Ack{firsts[i], held[i].second}, &out);
      }
      c.send(out);
    }
    return true;
  });
  auto c = Client::connect(options());
  ASSERT_TRUE(c.ok());
  Completions done;
  std::vector<std::string> payloads;
  for (int i = 0; i < kN; ++i) payloads.push_back("rec-" + std::to_string(i));
  for (int i = 0; i < kN; ++i) {
    // Batch sizes 1..3 so the LSNs are not just the index.
    std::vector<RecordIn> recs(1 + i % 3, RecordIn{1, 0, 0, bytes_of(payloads[i])});
    ASSERT_TRUE((*c)->append_async(recs,
                                   [&done, i](const Status& s, uint64_t lsn, uint32_t n) {
                                     EXPECT_EQ(n, 1u + i % 3);
                                     done.add(s, lsn, i);
                                   })
                    .ok());
  }
  ASSERT_TRUE(done.wait_until(kN));
  uint64_t expect_lsn = 1;
  for (int i = 0; i < kN; ++i) {
    EXPECT_TRUE(done.statuses[i].ok()) << done.statuses[i].ToString();
    EXPECT_EQ(done.tags[i], static_cast<uint64_t>(i));
    EXPECT_EQ(done.lsns[i], expect_lsn);
    expect_lsn += 1 + i % 3;
  }
  EXPECT_EQ((*c)->in_flight(), 0u);
}

TEST_F(ClientTest, ManyThreadsPipelineOnOneConnection) {
  FakeDaemon daemon(path_);
  auto c = Client::connect(options());
  ASSERT_TRUE(c.ok());
  constexpr int kThreads = 4, kPerThread = 2000;
  Completions done;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::string p = "thread-" + std::to_string(t);
      RecordIn r{static_cast<uint16_t>(t), 0, 0, bytes_of(p)};
      for (int i = 0; i < kPerThread; ++i) {
        Status s = (*c)->append_async(std::span(&r, 1),
                                      [&done, t](const Status& st, uint64_t lsn, uint32_t) {
                                        done.add(st, lsn, static_cast<uint64_t>(t));
                                      });
        ASSERT_TRUE(s.ok()) << s.ToString();
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(done.wait_until(kThreads * kPerThread));
  // Completions in LSN order: the order the daemon received the APPENDs.
  for (size_t i = 0; i < done.lsns.size(); ++i) {
    ASSERT_TRUE(done.statuses[i].ok());
    ASSERT_EQ(done.lsns[i], i + 1);
  }
  auto log = daemon.log();
  ASSERT_EQ(log.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(daemon.accepted(), 1);
}

TEST_F(ClientTest, DaemonErrorMapsToStatusWithItsCodeAndTheConnectionStaysUsable) {
  std::atomic<int> appends{0};
  FakeDaemon daemon(path_, [&](FakeDaemon::Conn& c, const proto::FrameHeader& h,
                               std::span<const uint8_t>) {
    if (h.opcode != static_cast<uint8_t>(proto::Opcode::kAppend)) return false;
    if (appends.fetch_add(1) == 0) {
      std::vector<uint8_t> out;
      proto::encode_error(h.request_id, proto::ErrorCode::kNotReady, "recovering 40%", &out);
      c.send(out);
      return true;
    }
    return false;
  });
  auto c = Client::connect(options());
  ASSERT_TRUE(c.ok());
  std::string p = "x";
  RecordIn r{1, 0, 0, bytes_of(p)};
  auto first = (*c)->append(std::span(&r, 1));
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.status().code(), Code::kBusy);
  EXPECT_EQ(daemon_error_code(first.status()), proto::ErrorCode::kNotReady);
  EXPECT_NE(first.status().message().find("NOT_READY (5): recovering 40%"), std::string::npos)
      << first.status().message();
  auto second = (*c)->append(std::span(&r, 1));
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(*second, 1u);
  EXPECT_EQ(daemon.accepted(), 1);
}

TEST_F(ClientTest, EveryDaemonErrorCodeIsPreservedThroughTheStatus) {
  const std::pair<proto::ErrorCode, Code> table[] = {
      {proto::ErrorCode::kMalformed, Code::kInvalidArgument},
      {proto::ErrorCode::kFrameTooLarge, Code::kInvalidArgument},
      {proto::ErrorCode::kUnknownOpcode, Code::kUnsupported},
      {proto::ErrorCode::kUnsupportedVersion, Code::kUnsupported},
      {proto::ErrorCode::kNotReady, Code::kBusy},
      {proto::ErrorCode::kIoFailed, Code::kFailed},
      {proto::ErrorCode::kNoSpace, Code::kNoSpace},
      {proto::ErrorCode::kLsnTruncated, Code::kTruncated},
      {proto::ErrorCode::kUnauthorized, Code::kInvalidArgument},
      {proto::ErrorCode::kRecordTooLarge, Code::kInvalidArgument},
      {proto::ErrorCode::kReservedRecordType, Code::kInvalidArgument},
  };
  for (auto [pc, sc] : table) {
    Status s = status_for_daemon_error(pc, "why");
    EXPECT_EQ(s.code(), sc) << proto::error_code_name(pc);
    EXPECT_EQ(daemon_error_code(s), pc) << s.message();
  }
  Status unknown = status_for_daemon_error(static_cast<proto::ErrorCode>(77), "new");
  EXPECT_EQ(unknown.code(), Code::kIoError);
  EXPECT_EQ(daemon_error_code(unknown), static_cast<proto::ErrorCode>(77));
  EXPECT_EQ(daemon_error_code(Status::Closed("connection closed by sidewald")), std::nullopt);
  EXPECT_EQ(daemon_error_code(Status::Ok()), std::nullopt);
  // The code travels as a field, not in the text: a local error whose text
  // looks like a daemon's has none, and the daemon's keeps its code
  // whatever the text says.
  EXPECT_EQ(daemon_error_code(Status::IoError("daemon error MALFORMED (1): why")), std::nullopt);
  Status s = status_for_daemon_error(proto::ErrorCode::kLsnTruncated, "daemon error NOT_READY (5)");
  EXPECT_EQ(s.remote_code(), static_cast<uint16_t>(proto::ErrorCode::kLsnTruncated));
  EXPECT_EQ(daemon_error_code(s), proto::ErrorCode::kLsnTruncated);
  EXPECT_EQ(s.message(), "daemon error LSN_TRUNCATED (8): daemon error NOT_READY (5)");
}

TEST_F(ClientTest, AnErrorRepliesCodeArrivesAsTheStatusRemoteCode) {
  // The daemon's ERROR frames, as they come off the socket: IO_FAILED to the
  // first APPEND, a code this client does not know to the second (sent
  // async), then LSN_TRUNCATED to a READ below the first LSN.
  std::atomic<int> appends{0};
  FakeDaemon daemon(path_, [&](FakeDaemon::Conn& c, const proto::FrameHeader& h,
                               std::span<const uint8_t>) {
    if (h.opcode != static_cast<uint8_t>(proto::Opcode::kAppend)) return false;
    const int n = appends.fetch_add(1);
    if (n >= 2) return false;
    std::vector<uint8_t> out;
    if (n == 0) {
      proto::encode_error(h.request_id, proto::ErrorCode::kIoFailed,
                          "the log is fail-stopped after: IoError: fdatasync: EIO", &out);
    } else {
      proto::encode_error(h.request_id, static_cast<proto::ErrorCode>(77), "newer", &out);
    }
    c.send(out);
    return true;
  });
  auto c = Client::connect(options());
  ASSERT_TRUE(c.ok());
  std::string p = "x";
  RecordIn r{1, 0, 0, bytes_of(p)};

  auto failed = (*c)->append(std::span(&r, 1));
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().remote_code(), 6);
  EXPECT_EQ(failed.status().code(), Code::kFailed);
  // The text is what it always was.
  EXPECT_EQ(failed.status().ToString(),
            "Failed: daemon error IO_FAILED (6): the log is fail-stopped after: IoError: "
            "fdatasync: EIO");

  Completions done;
  ASSERT_TRUE((*c)->append_async(std::span(&r, 1), [&done](const Status& st, uint64_t lsn,
                                                           uint32_t) { done.add(st, lsn, 0); })
                  .ok());
  ASSERT_TRUE(done.wait_until(1));
  EXPECT_EQ(done.statuses[0].remote_code(), 77);
  EXPECT_EQ(done.statuses[0].code(), Code::kIoError);
  EXPECT_EQ(done.statuses[0].message(), "daemon error UNKNOWN_ERROR (77): newer");

  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*c)->append(std::span(&r, 1)).ok());
  ASSERT_TRUE((*c)->truncate(3).ok());
  auto read = (*c)->read(1);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().remote_code(), static_cast<uint16_t>(proto::ErrorCode::kLsnTruncated));
  EXPECT_EQ(read.status().code(), Code::kTruncated);

  // Errors the client makes itself carry none.
  (*c)->close();
  auto closed = (*c)->append(std::span(&r, 1));
  ASSERT_FALSE(closed.ok());
  EXPECT_EQ(closed.status().remote_code(), 0) << closed.status().ToString();
}

TEST_F(ClientTest, ReadErrorEndsTheReadWithTheDaemonCode) {
  FakeDaemon daemon(path_);
  auto c = Client::connect(options());
  ASSERT_TRUE(c.ok());
  std::string p = "x";
  RecordIn r{1, 0, 0, bytes_of(p)};
  for (int i = 0; i < 5; ++i) ASSERT_TRUE((*c)->append(std::span(&r, 1)).ok());
  ASSERT_TRUE((*c)->truncate(4).ok());
  auto res = (*c)->read(2);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.status().code(), Code::kTruncated);
  EXPECT_EQ(daemon_error_code(res.status()), proto::ErrorCode::kLsnTruncated);
  auto ok = (*c)->read(4);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->records.size(), 2u);
}

TEST_F(ClientTest, BrokenConnectionFailsPendingWithClosedAndNextCallReconnects) {
  // The daemon swallows 5 APPENDs without answering, then hangs up: the
  // client cannot know whether they were durable, so each completes with
  // Closed and none is sent again.
  std::atomic<int> swallowed{0};
  std::atomic<bool> swallowing{true};
  FakeDaemon daemon(path_, [&](FakeDaemon::Conn& c, const proto::FrameHeader& h,
                               std::span<const uint8_t>) {
    if (!swallowing || h.opcode != static_cast<uint8_t>(proto::Opcode::kAppend)) return false;
    if (swallowed.fetch_add(1) == 4) {
      swallowing = false;
      c.hang_up();
    }
    return true;
  });
  auto c = Client::connect(options());
  ASSERT_TRUE(c.ok());
  Completions done;
  std::string p = "maybe-durable";
  RecordIn r{1, 0, 0, bytes_of(p)};
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE((*c)->append_async(std::span(&r, 1), [&done, i](const Status& s, uint64_t lsn,
                                                                uint32_t) { done.add(s, lsn, i); })
                    .ok());
  }
  ASSERT_TRUE(done.wait_until(5));
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(done.statuses[i].code(), Code::kClosed) << done.statuses[i].ToString();
    EXPECT_EQ(done.tags[i], static_cast<uint64_t>(i));
    EXPECT_EQ(done.lsns[i], 0u);
  }
  // The next call reconnects and is answered normally.
  auto lsn = (*c)->append(std::span(&r, 1));
  ASSERT_TRUE(lsn.ok()) << lsn.status().ToString();
  EXPECT_EQ(*lsn, 1u);
  EXPECT_EQ(daemon.accepted(), 2);
  // Five swallowed + one answered: nothing was resent.
  EXPECT_EQ(daemon.requests_seen(proto::Opcode::kAppend), 6u);
  EXPECT_EQ(daemon.requests_seen(proto::Opcode::kHello), 2u);  // one per connection
  EXPECT_EQ(daemon.log().size(), 1u);
}

TEST_F(ClientTest, AnswerAlreadyReceivedSurvivesABreakBehindAnUnansweredOne) {
  // APPEND 1 is never answered, APPEND 2 is ACKed, then the daemon hangs up.
  // Completions stay in request order: 1 gets Closed, 2 keeps its ACK.
  std::atomic<int> n{0};
  FakeDaemon daemon(path_, [&](FakeDaemon::Conn& c, const proto::FrameHeader& h,
                               std::span<const uint8_t>) {
    if (h.opcode != static_cast<uint8_t>(proto::Opcode::kAppend)) return false;
    if (n.fetch_add(1) == 1) {
      std::vector<uint8_t> out;
      proto::encode_ack(h.request_id, proto::Ack{2, 1}, &out);
      c.send(out);
      c.hang_up();
    }
    return true;
  });
  auto c = Client::connect(options());
  ASSERT_TRUE(c.ok());
  Completions done;
  std::string p = "x";
  RecordIn r{1, 0, 0, bytes_of(p)};
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE((*c)->append_async(std::span(&r, 1), [&done, i](const Status& s, uint64_t lsn,
                                                                uint32_t) { done.add(s, lsn, i); })
                    .ok());
  }
  ASSERT_TRUE(done.wait_until(2));
  EXPECT_EQ(done.tags, (std::vector<uint64_t>{0, 1}));
  EXPECT_EQ(done.statuses[0].code(), Code::kClosed);
  EXPECT_TRUE(done.statuses[1].ok());
  EXPECT_EQ(done.lsns[1], 2u);
}

TEST_F(ClientTest, ReconnectsToARestartedDaemon) {
  auto daemon = std::make_unique<FakeDaemon>(path_);
  ClientOptions o = options();
  o.connect_timeout = std::chrono::milliseconds(200);
  auto c = Client::connect(o);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->status().ok());
  daemon->stop();
  // A call racing with the hang-up may still go out on the dying connection
  // and get Closed; once the client has seen the hang-up, the call fails
  // after the connect deadline, naming the path.
  auto st = (*c)->status();
  if (!st.ok() && st.status().code() == Code::kClosed) st = (*c)->status();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.status().message().find(path_), std::string::npos) << st.status().message();
  daemon = std::make_unique<FakeDaemon>(path_);
  auto again = (*c)->status();
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(daemon->accepted(), 1);
}

TEST_F(ClientTest, ConnectGivesUpAtTheDeadlineAfterRetrying) {
  ClientOptions o = options();
  o.connect_timeout = std::chrono::milliseconds(100);
  o.backoff_initial = std::chrono::milliseconds(1);
  o.backoff_max = std::chrono::milliseconds(10);
  auto t0 = std::chrono::steady_clock::now();
  auto c = Client::connect(o);
  auto elapsed = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Code::kNotFound);
  EXPECT_NE(c.status().message().find("gave up after"), std::string::npos) << c.status().message();
  EXPECT_EQ(c.status().message().find("after 1 attempts"), std::string::npos)
      << c.status().message();
  EXPECT_GE(elapsed, std::chrono::milliseconds(100));
  EXPECT_LT(elapsed, std::chrono::seconds(5));
}

TEST_F(ClientTest, TailFollowsNewRecordsUntilTheCallbackStops) {
  FakeDaemon daemon(path_);
  auto c = Client::connect(options());
  ASSERT_TRUE(c.ok());
  auto writer = Client::connect(options());
  ASSERT_TRUE(writer.ok());
  std::string p0 = "before";
  RecordIn r0{1, 0, 0, bytes_of(p0)};
  ASSERT_TRUE((*writer)->append(std::span(&r0, 1)).ok());

  std::vector<std::string> seen;
  std::thread appender;
  auto resume = (*c)->tail(1, [&](std::span<const proto::ReadRecord> recs) {
    for (const auto& r : recs) seen.push_back(text_of(r.payload));
    if (seen.size() == 1) {
      // Appended only once the tail is known to be live.
      appender = std::thread([&] {
        for (int i = 0; i < 3; ++i) {
          std::string p = "after-" + std::to_string(i);
          RecordIn r{1, 0, 0, bytes_of(p)};
          ASSERT_TRUE((*writer)->append(std::span(&r, 1)).ok());
        }
      });
    }
    return seen.size() < 4;
  });
  appender.join();
  ASSERT_TRUE(resume.ok()) << resume.status().ToString();
  EXPECT_EQ(*resume, 5u);
  EXPECT_EQ(seen, (std::vector<std::string>{"before", "after-0", "after-1", "after-2"}));
  // The follow was cancelled: the connection is idle and still usable.
  auto st = (*c)->status();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ((*c)->in_flight(), 0u);
}

TEST_F(ClientTest, CancelEndsAFollowWithOk) {
  FakeDaemon daemon(path_);
  auto c = Client::connect(options());
  ASSERT_TRUE(c.ok());
  std::mutex mu;
  std::condition_variable cv;
  bool ended = false;
  Status end_status = Status::IoError("unset");
  uint64_t end_next = 0;
  auto id = (*c)->follow(
      1, [](std::span<const proto::ReadRecord>) {},
      [&](const Status& s, uint64_t next) {
        std::lock_guard lk(mu);
        ended = true;
        end_status = s;
        end_next = next;
        cv.notify_all();
      });
  ASSERT_TRUE(id.ok());
  EXPECT_EQ((*c)->in_flight(), 1u);
  ASSERT_TRUE((*c)->cancel(*id).ok());
  std::unique_lock lk(mu);
  ASSERT_TRUE(cv.wait_for(lk, std::chrono::seconds(10), [&] { return ended; }));
  EXPECT_TRUE(end_status.ok()) << end_status.ToString();
  EXPECT_EQ(end_next, 1u);
  // Cancelling again (already ended) is harmless.
  EXPECT_TRUE((*c)->cancel(*id).ok());
}

TEST_F(ClientTest, FollowEndsWithClosedWhenTheDaemonGoesAway) {
  auto daemon = std::make_unique<FakeDaemon>(path_);
  auto c = Client::connect(options());
  ASSERT_TRUE(c.ok());
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Status> end;
  auto id = (*c)->follow(1, nullptr, [&](const Status& s, uint64_t) {
    std::lock_guard lk(mu);
    end = s;
    cv.notify_all();
  });
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(daemon->wait_until([&] { return daemon->requests_seen(proto::Opcode::kRead) >= 1; }));
  daemon->stop();
  std::unique_lock lk(mu);
  ASSERT_TRUE(cv.wait_for(lk, std::chrono::seconds(10), [&] { return end.has_value(); }));
  EXPECT_EQ(end->code(), Code::kClosed);
}

TEST_F(ClientTest, ProtocolViolationBreaksTheConnection) {
  // An ACK for the wrong number of records means the daemon and client
  // disagree about the stream: the connection is dropped.
  FakeDaemon daemon(path_, [&](FakeDaemon::Conn& c, const proto::FrameHeader& h,
                               std::span<const uint8_t>) {
    if (h.opcode != static_cast<uint8_t>(proto::Opcode::kAppend)) return false;
    std::vector<uint8_t> out;
    proto::encode_ack(h.request_id, proto::Ack{1, 7}, &out);
    c.send(out);
    return true;
  });
  auto c = Client::connect(options());
  ASSERT_TRUE(c.ok());
  std::string p = "x";
  RecordIn r{1, 0, 0, bytes_of(p)};
  auto res = (*c)->append(std::span(&r, 1));
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.status().code(), Code::kClosed);
  EXPECT_NE(res.status().message().find("protocol violation"), std::string::npos)
      << res.status().message();
  EXPECT_NE(res.status().message().find("ACK of 7 records"), std::string::npos);
}

TEST_F(ClientTest, ErrorForAnUnknownRequestIsAConnectionRefusal) {
  FakeDaemon daemon(path_, [&](FakeDaemon::Conn& c, const proto::FrameHeader&,
                               std::span<const uint8_t>) {
    std::vector<uint8_t> out;
    proto::encode_error(0, proto::ErrorCode::kUnauthorized, "uid 1234 not allowed", &out);
    c.send(out);
    c.hang_up();
    return true;
  });
  // connect() waits for its limits HELLO, so the refusal is its answer.
  auto refused = Client::connect(options());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kClosed);
  EXPECT_NE(refused.status().message().find("UNAUTHORIZED (9): uid 1234 not allowed"),
            std::string::npos)
      << refused.status().message();
  // Without discovery the connection is taken at once and the first request
  // meets the refusal.
  ClientOptions o = options();
  o.discover_limits = false;
  auto c = Client::connect(o);
  ASSERT_TRUE(c.ok());
  auto st = (*c)->status();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.status().code(), Code::kClosed);
  EXPECT_NE(st.status().message().find("UNAUTHORIZED (9): uid 1234 not allowed"), std::string::npos)
      << st.status().message();
}

TEST_F(ClientTest, RepliesLargerThanTheReadBufferAreReassembled) {
  FakeDaemon daemon(path_);
  ClientOptions o = options();
  o.read_buffer_bytes = 4096;
  auto c = Client::connect(o);
  ASSERT_TRUE(c.ok());
  std::string big(1 << 20, 'q');
  for (size_t i = 0; i < big.size(); i += 4093) big[i] = static_cast<char>('a' + i % 26);
  RecordIn r{5, 0, 9, bytes_of(big)};
  ASSERT_TRUE((*c)->append(std::span(&r, 1)).ok());
  ASSERT_TRUE((*c)->append(std::span(&r, 1)).ok());
  auto res = (*c)->read(1);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  ASSERT_EQ(res->records.size(), 2u);
  EXPECT_EQ(text_of(res->records[1].payload), big);
}

TEST_F(ClientTest, LocalChecksRejectBadAppendsWithoutSendingThem) {
  FakeDaemon daemon(path_);
  ClientOptions o = options();
  o.max_request_body = 100;
  auto c = Client::connect(o);
  ASSERT_TRUE(c.ok());
  auto never = [](const Status&, uint64_t, uint32_t) { ADD_FAILURE() << "callback ran"; };
  EXPECT_EQ((*c)->append_async({}, never).code(), Code::kInvalidArgument);
  std::string big(200, 'x');
  RecordIn r{1, 0, 0, bytes_of(big)};
  Status s = (*c)->append_async(std::span(&r, 1), never);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("212-byte frame body"), std::string::npos) << s.message();
  RecordIn flagged{1, 3, 0, {}};
  EXPECT_EQ((*c)->append_async(std::span(&flagged, 1), never).code(), Code::kInvalidArgument);
  ASSERT_TRUE((*c)->status().ok());
  EXPECT_EQ(daemon.requests_seen(proto::Opcode::kAppend), 0u);
  EXPECT_EQ(daemon.requests_seen(proto::Opcode::kStatus), 1u);
}

TEST_F(ClientTest, BlockingCallFromACallbackReturnsBusyInsteadOfDeadlocking) {
  FakeDaemon daemon(path_);
  auto c = Client::connect(options());
  ASSERT_TRUE(c.ok());
  Completions done;
  std::optional<Status> inner;
  ASSERT_TRUE((*c)->status_async([&](const Status& s, const proto::StatusReply&) {
                    auto nested = (*c)->status();
                    inner = nested.status();
                    done.add(s, 0, 0);
                  })
                  .ok());
  ASSERT_TRUE(done.wait_until(1));
  (*c)->close();  // joins the reader before `inner` is read
  ASSERT_TRUE(inner.has_value());
  EXPECT_EQ(inner->code(), Code::kBusy);
}

TEST_F(ClientTest, CallbacksMayPipelineMoreAppends) {
  // A callback chaining the next APPEND (the async API is allowed there).
  FakeDaemon daemon(path_);
  auto c = Client::connect(options());
  ASSERT_TRUE(c.ok());
  Completions done;
  std::string p = "chain";
  RecordIn r{1, 0, 0, bytes_of(p)};
  std::function<void(const Status&, uint64_t, uint32_t)> next;
  next = [&](const Status& s, uint64_t lsn, uint32_t) {
    done.add(s, lsn, 0);
    if (lsn < 100) {
      ASSERT_TRUE((*c)->append_async(std::span(&r, 1), next).ok());
    }
  };
  ASSERT_TRUE((*c)->append_async(std::span(&r, 1), next).ok());
  ASSERT_TRUE(done.wait_until(100));
  EXPECT_EQ(done.lsns.back(), 100u);
  (*c)->close();  // joins the reader: the last callback has returned before `next` dies
}

// Thread ids seen by callbacks (all must be the reader thread's).
class ThreadsSeen {
 public:
  void add() {
    std::lock_guard lk(mu_);
    ids_.insert(std::this_thread::get_id());
  }
  std::set<std::thread::id> ids() {
    std::lock_guard lk(mu_);
    return ids_;
  }

 private:
  std::mutex mu_;
  std::set<std::thread::id> ids_;
};

TEST_F(ClientTest, BlockingAppendsReadTheirOwnAckAndAsyncCallbacksStayOnTheReader) {
  // A blocking APPEND on an idle connection reads its own ACK (channel.h
  // "Caller reads"). Mixed with async APPENDs from another thread and a
  // follow, every LSN is handed out once, every call completes, and every
  // callback still runs on the one reader thread.
  FakeDaemon daemon(path_);
  auto c = Client::connect(options());
  ASSERT_TRUE(c.ok());
  Client& cl = **c;
  std::string p = "mixed";
  RecordIn r{1, 0, 0, bytes_of(p)};
  std::set<uint64_t> lsns;
  auto blocking = [&](int n) {
    for (int i = 0; i < n; ++i) {
      auto lsn = cl.append(std::span(&r, 1));
      ASSERT_TRUE(lsn.ok()) << lsn.status().ToString();
      lsns.insert(*lsn);
    }
  };
  blocking(20);  // the reader parks after the first; the rest read for themselves

  // Async APPENDs from this thread while another thread appends blocking.
  ThreadsSeen callback_threads;
  Completions async_done;
  std::vector<uint64_t> blocker_lsns;
  std::thread blocker([&] {
    for (int i = 0; i < 300; ++i) {
      auto lsn = cl.append(std::span(&r, 1));
      if (!lsn.ok()) return;
      blocker_lsns.push_back(*lsn);
    }
  });
  constexpr int kAsync = 300;
  bool all_queued = true;  // no ASSERT while `blocker` runs: it must be joined
  for (int i = 0; i < kAsync && all_queued; ++i) {
    all_queued = cl.append_async(std::span(&r, 1), [&](const Status& s, uint64_t lsn, uint32_t) {
                     callback_threads.add();
                     async_done.add(s, lsn, 0);
                   }).ok();
    // Now and then let the connection go idle, so blocking calls park the
    // reader and read for themselves between async ones.
    if (all_queued && i % 7 == 0) all_queued = async_done.wait_until(i + 1);
  }
  blocker.join();
  ASSERT_TRUE(all_queued);
  ASSERT_TRUE(async_done.wait_until(kAsync));
  ASSERT_EQ(blocker_lsns.size(), 300u);
  for (int i = 0; i < kAsync; ++i) {
    ASSERT_TRUE(async_done.statuses[i].ok()) << async_done.statuses[i].ToString();
    lsns.insert(async_done.lsns[i]);
  }
  lsns.insert(blocker_lsns.begin(), blocker_lsns.end());
  blocking(20);

  // A follow (its frames are the reader's) with blocking APPENDs beside it.
  std::mutex mu;
  std::condition_variable cv;
  uint64_t followed = 0;
  bool ended = false;
  auto id = cl.follow(
      1,
      [&](std::span<const proto::ReadRecord> recs) {
        callback_threads.add();
        std::lock_guard lk(mu);
        followed += recs.size();
        cv.notify_all();
      },
      [&](const Status&, uint64_t) {
        callback_threads.add();
        std::lock_guard lk(mu);
        ended = true;
        cv.notify_all();
      });
  ASSERT_TRUE(id.ok());
  blocking(30);
  {
    std::unique_lock lk(mu);
    ASSERT_TRUE(cv.wait_for(lk, std::chrono::seconds(10), [&] { return followed >= 670; }));
  }
  ASSERT_TRUE(cl.cancel(*id).ok());
  {
    std::unique_lock lk(mu);
    ASSERT_TRUE(cv.wait_for(lk, std::chrono::seconds(10), [&] { return ended; }));
  }
  blocking(30);  // idle again: parks and reads for itself once more
  cl.close();

  EXPECT_EQ(lsns.size(), 700u);  // each LSN handed out once
  EXPECT_EQ(*lsns.begin(), 1u);
  EXPECT_EQ(*lsns.rbegin(), 700u);
  EXPECT_EQ(daemon.log().size(), 700u);
  const auto ids = callback_threads.ids();
  EXPECT_EQ(ids.size(), 1u) << "async and follow callbacks ran on more than one thread";
  EXPECT_EQ(ids.count(std::this_thread::get_id()), 0u) << "a callback ran on the test thread";
}

TEST_F(ClientTest, AHangUpWhileBlockingCallsReadForThemselvesFailsThemAndTheNextReconnects) {
  // The daemon answers 10 APPENDs, then hangs up when the 11th arrives
  // without answering it: that blocking call (reading its own reply, the
  // reader parked) gets Closed, and the next call reconnects.
  std::atomic<int> appends{0};
  FakeDaemon daemon(path_, [&](FakeDaemon::Conn& c, const proto::FrameHeader& h,
                               std::span<const uint8_t>) {
    if (h.opcode != static_cast<uint8_t>(proto::Opcode::kAppend)) return false;
    if (appends.fetch_add(1) != 10) return false;
    c.hang_up();
    return true;
  });
  auto c = Client::connect(options());
  ASSERT_TRUE(c.ok());
  std::string p = "x";
  RecordIn r{1, 0, 0, bytes_of(p)};
  for (int i = 0; i < 10; ++i) ASSERT_TRUE((*c)->append(std::span(&r, 1)).ok());
  auto lost = (*c)->append(std::span(&r, 1));
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.status().code(), Code::kClosed) << lost.status().ToString();
  auto next = (*c)->append(std::span(&r, 1));
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ(*next, 11u);
  EXPECT_EQ(daemon.accepted(), 2);
}

TEST_F(ClientTest, CloseFailsInFlightRequestsWithClosed) {
  FakeDaemon daemon(path_, [](FakeDaemon::Conn&, const proto::FrameHeader& h,
                              std::span<const uint8_t>) {
    return h.opcode == static_cast<uint8_t>(proto::Opcode::kAppend);  // never answered
  });
  auto c = Client::connect(options());
  ASSERT_TRUE(c.ok());
  Completions done;
  std::string p = "x";
  RecordIn r{1, 0, 0, bytes_of(p)};
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE((*c)->append_async(std::span(&r, 1), [&done, i](const Status& s, uint64_t lsn,
                                                                uint32_t) { done.add(s, lsn, i); })
                    .ok());
  }
  ASSERT_TRUE(daemon.wait_until([&] { return daemon.requests_seen(proto::Opcode::kAppend) >= 3; }));
  (*c)->close();
  ASSERT_EQ(done.statuses.size(), 3u);  // close() returns after the completions ran
  for (const Status& s : done.statuses) EXPECT_EQ(s.code(), Code::kClosed);
  EXPECT_EQ((*c)->append_async(std::span(&r, 1), [](const Status&, uint64_t, uint32_t) {}).code(),
            Code::kClosed);
}

TEST_F(ClientTest, QueuedBytesAboveTheLimitBlockTheSubmitterUntilTheSocketDrains) {
  // The daemon does not read while it holds `gate`; with a small queue limit
  // async submitters must wait instead of buffering without bound.
  std::mutex gate;
  FakeDaemon daemon(path_,
                    [&](FakeDaemon::Conn&, const proto::FrameHeader& h, std::span<const uint8_t>) {
                      // The limits HELLO of connect() is answered at once.
                      if (h.opcode == static_cast<uint8_t>(proto::Opcode::kHello)) return false;
                      std::lock_guard lk(gate);
                      return false;
                    });
  // Taken after the daemon exists, so it is released before the daemon's
  // destructor joins a serving thread that may wait on it.
  std::unique_lock held(gate);
  ClientOptions o = options();
  o.max_queued_bytes = 64 << 10;
  auto c = Client::connect(o);
  ASSERT_TRUE(c.ok());
  Completions done;
  std::string p(16 << 10, 'b');
  RecordIn r{1, 0, 0, bytes_of(p)};
  constexpr int kN = 200;  // ~3 MiB: far above the socket buffers plus the limit
  std::thread submitter([&] {
    for (int i = 0; i < kN; ++i) {
      ASSERT_TRUE(
          (*c)->append_async(std::span(&r, 1), [&done, i](const Status& s, uint64_t lsn,
                                                          uint32_t) { done.add(s, lsn, i); })
              .ok());
    }
  });
  ASSERT_TRUE(daemon.wait_until([&] { return daemon.requests_seen(proto::Opcode::kAppend) >= 1; }));
  held.unlock();
  submitter.join();
  ASSERT_TRUE(done.wait_until(kN));
  for (int i = 0; i < kN; ++i) ASSERT_EQ(done.lsns[i], static_cast<uint64_t>(i + 1));
}

}  // namespace
}  // namespace sidewal::client

namespace sidewal::client {
namespace {

TEST_F(ClientTest, CallbacksNeverBlockTheReaderWhenTheDaemonStopsReading) {
  // Tenant-1 APPENDs stall the daemon's reading of this connection while the
  // test holds `gate`. A callback queues 4 MiB of them from the reader thread:
  // far more than the socket buffers. The callback must return at once, and
  // the reader must keep delivering replies (here a follow READ fed by a
  // second connection) while those bytes wait, because a real daemon under
  // backpressure waits for us to read before it reads more.
  std::mutex gate;
  FakeDaemon daemon(path_, [&](FakeDaemon::Conn&, const proto::FrameHeader& h,
                               std::span<const uint8_t> body) {
    if (h.opcode == static_cast<uint8_t>(proto::Opcode::kAppend) && body.size() >= 8 &&
        get_u32(body.data() + 4) == 1) {
      std::lock_guard lk(gate);
    }
    return false;
  });
  // Taken after the daemon exists, so it is released before the daemon's
  // destructor joins a serving thread that may wait on it.
  std::unique_lock held(gate);
  // Declared before the clients: their callbacks may run until the clients close.
  Completions followed, submitted, acked, ended;
  auto c = Client::connect(options());
  ASSERT_TRUE(c.ok());
  auto other = Client::connect(options());
  ASSERT_TRUE(other.ok());

  auto id = (*c)->follow(
      1,
      [&](std::span<const proto::ReadRecord> recs) {
        for (const auto& r : recs) followed.add(Status::Ok(), r.lsn, r.tenant);
      },
      [&](const Status& s, uint64_t next) { ended.add(s, next, 0); });
  ASSERT_TRUE(id.ok());
  std::string big(64 << 10, 'z');
  constexpr int kN = 64;
  // STATUS is submitted from a thread of its own: when its reply (and so the
  // callback's APPENDs) arrives while that thread is still the connection's
  // writer, the thread goes on to send those APPENDs and waits with them for
  // the daemon, as any non-reader submitter may. Only the reader thread must
  // never wait, and this test holds the gate on the main thread.
  std::thread status_thread([&] {
    EXPECT_TRUE((*c)->status_async([&](const Status&, const proto::StatusReply&) {
                      RecordIn r{1, 0, 1, bytes_of(big)};
                      for (int i = 0; i < kN; ++i) {
                        Status s =
                            (*c)->append_async(std::span(&r, 1),
                                               [&acked, i](const Status& st, uint64_t lsn,
                                                           uint32_t) { acked.add(st, lsn, i); });
                        EXPECT_TRUE(s.ok()) << s.ToString();
                      }
                      submitted.add(Status::Ok(), 0, 0);
                    })
                    .ok());
  });
  // However the test ends: open the gate, then wait for that thread.
  struct OpenAndJoin {
    std::unique_lock<std::mutex>& gate;
    std::thread& thread;
    ~OpenAndJoin() {
      if (gate.owns_lock()) gate.unlock();
      if (thread.joinable()) thread.join();
    }
  } open_and_join{held, status_thread};
  ASSERT_TRUE(submitted.wait_until(1)) << "a callback blocked in send";

  std::string small = "from-the-other-connection";
  RecordIn r2{1, 0, 2, bytes_of(small)};
  ASSERT_TRUE((*other)->append(std::span(&r2, 1)).ok());
  ASSERT_TRUE(followed.wait_until(1)) << "the reader stopped reading while its sends waited";
  EXPECT_EQ(followed.tags[0], 2u);  // the other connection's record, while ours are stalled
  EXPECT_TRUE(acked.statuses.empty());

  held.unlock();
  status_thread.join();  // its send (if it had become the writer) completes now
  ASSERT_TRUE(acked.wait_until(kN));
  for (int i = 0; i < kN; ++i) {
    EXPECT_TRUE(acked.statuses[i].ok());
    EXPECT_EQ(acked.lsns[i], static_cast<uint64_t>(i + 2));
  }
  ASSERT_TRUE((*c)->cancel(*id).ok());
  ASSERT_TRUE(ended.wait_until(1));
  EXPECT_TRUE(ended.statuses[0].ok());
}

}  // namespace
}  // namespace sidewal::client

// ---- Limits (docs/protocol.md "Limits").
namespace sidewal::client {
namespace {

// Payloads whose encoded sizes are exact: round_up(24 + n, 8) == 24 + n when
// n is a multiple of 8.
std::vector<std::string> payloads_of(std::initializer_list<size_t> sizes) {
  std::vector<std::string> v;
  for (size_t n : sizes) v.emplace_back(n, 'p');
  return v;
}
std::vector<RecordIn> records_of(const std::vector<std::string>& payloads) {
  std::vector<RecordIn> v;
  for (const std::string& p : payloads) v.push_back(RecordIn{1, 0, 0, bytes_of(p)});
  return v;
}

TEST_F(ClientTest, ConnectAsksForTheLimitsAndEnforcesTheAdvertisedOnesLocally) {
  FakeDaemon daemon(path_);
  proto::HelloOk block;
  block.max_frame_body = 64 << 10;
  block.max_reply_body = 4096;
  block.max_batch_bytes = 1000;
  block.record_extra_bytes = 0;
  daemon.set_hello({.max_record_bytes = 500, .refuse_limits_flag = false, .limits = block});
  ClientOptions o = options();
  o.max_request_body = 100;  // replaced by the advertised 64 KiB
  auto c = Client::connect(o);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(daemon.hello_flags(), std::vector<uint8_t>{proto::kHelloLimits});

  auto lim = (*c)->server_limits();
  ASSERT_TRUE(lim.ok());
  EXPECT_EQ(lim->source, ServerLimits::Source::kAdvertised);
  EXPECT_EQ(lim->max_frame_body, 64u << 10);
  EXPECT_EQ(lim->max_record_bytes, 500u);
  EXPECT_EQ(lim->max_batch_bytes, 1000u);
  EXPECT_EQ(lim->max_reply_body, 4096u);

  auto never = [](const Status&, uint64_t, uint32_t) { ADD_FAILURE() << "callback ran"; };
  // A record above max_record_bytes: refused before sending, as RECORD_TOO_LARGE.
  auto big = payloads_of({501});
  Status s = (*c)->append_async(records_of(big), never);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(daemon_error_code(s), proto::ErrorCode::kRecordTooLarge);
  EXPECT_NE(s.message().find("refused by the client before sending"), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("max_record_bytes is 500"), std::string::npos) << s.message();
  // A batch exactly at max_batch_bytes (5 x (24 + 176) = 1000) goes out; one
  // encoded byte more (the last payload 177: rounds to 208) does not.
  auto at_limit = payloads_of({176, 176, 176, 176, 176});
  ASSERT_EQ(proto::encoded_batch_bytes(records_of(at_limit)), 1000u);
  auto ok = (*c)->append(records_of(at_limit));
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();  // body 940 > 100: the option was replaced
  auto over = payloads_of({176, 176, 176, 176, 177});
  s = (*c)->append_async(records_of(over), never);
  EXPECT_EQ(daemon_error_code(s), proto::ErrorCode::kRecordTooLarge) << s.ToString();
  EXPECT_NE(s.message().find("1008 bytes encoded"), std::string::npos) << s.message();
  ASSERT_TRUE((*c)->status().ok());
  EXPECT_EQ(daemon.requests_seen(proto::Opcode::kAppend), 1u);  // only the accepted one

  // Replies above the advertised max_reply_body are a protocol violation:
  // the fake packs every record into one RECORDS frame, here 5 x (20 + 176)
  // + 7 x (20 + 500) = 4620 bytes.
  auto largest = payloads_of({500});
  for (int i = 0; i < 7; ++i) ASSERT_TRUE((*c)->append(records_of(largest)).ok());
  auto read = (*c)->read(1);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), Code::kClosed);
  EXPECT_NE(read.status().message().find("exceeds the limit of 4096 the daemon advertised"),
            std::string::npos)
      << read.status().message();
}

TEST_F(ClientTest, AnOlderDaemonRefusingTheLimitsFlagIsAskedPlainlyAndDefaultsApply) {
  // A daemon that predates the LIMITS flag answers it with MALFORMED: the
  // client asks again without it and learns max_record_bytes only.
  FakeDaemon daemon(path_);
  daemon.set_hello({.max_record_bytes = 1000, .refuse_limits_flag = true, .limits = {}});
  ClientOptions o = options();
  o.name = "orders-db";
  auto c = Client::connect(o);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(daemon.hello_flags(), (std::vector<uint8_t>{proto::kHelloLimits, 0}));
  EXPECT_EQ(daemon.hello_names(), (std::vector<std::string>{"orders-db", "orders-db"}));
  auto lim = (*c)->server_limits();
  ASSERT_TRUE(lim.ok());
  EXPECT_EQ(lim->source, ServerLimits::Source::kOlderDaemon);
  EXPECT_EQ(lim->max_record_bytes, 1000u);
  EXPECT_EQ(lim->max_frame_body, proto::kDefaultMaxFrameBody);  // the defaults
  EXPECT_EQ(lim->max_reply_body, ClientOptions{}.max_reply_body);
  EXPECT_EQ(lim->max_batch_bytes, 0u);  // unknown: left to the daemon

  auto never = [](const Status&, uint64_t, uint32_t) { ADD_FAILURE() << "callback ran"; };
  auto big = payloads_of({1001});
  Status s = (*c)->append_async(records_of(big), never);
  EXPECT_EQ(daemon_error_code(s), proto::ErrorCode::kRecordTooLarge) << s.ToString();
  // Many records at the limit: no local batch check against an older daemon.
  auto many = payloads_of({1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000});
  ASSERT_TRUE((*c)->append(records_of(many)).ok());
  EXPECT_EQ(daemon.requests_seen(proto::Opcode::kAppend), 1u);
}

TEST_F(ClientTest, AHelloOkWithoutTheBlockIsAcceptedAsAnOlderDaemons) {
  // The fake's default: a 24-byte HELLO_OK even to a flagged HELLO.
  FakeDaemon daemon(path_);
  auto c = Client::connect(options());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(daemon.hello_flags(), std::vector<uint8_t>{proto::kHelloLimits});
  auto lim = (*c)->server_limits();
  ASSERT_TRUE(lim.ok());
  EXPECT_EQ(lim->source, ServerLimits::Source::kOlderDaemon);
  EXPECT_EQ(lim->max_record_bytes, 1u << 20);
  EXPECT_EQ(lim->max_frame_body, proto::kDefaultMaxFrameBody);
}

TEST_F(ClientTest, LimitsUnknownWhileRecoveringAreAskedForAgainLater) {
  // The first HELLO gets NOT_READY (the daemon is recovering): the connection
  // is usable, only ClientOptions' limits apply, and the next server_limits()
  // (or APPEND) asks again.
  std::atomic<int> hellos{0};
  FakeDaemon daemon(path_, [&](FakeDaemon::Conn& c, const proto::FrameHeader& h,
                               std::span<const uint8_t>) {
    if (h.opcode != static_cast<uint8_t>(proto::Opcode::kHello) || hellos.fetch_add(1) > 0) {
      return false;
    }
    std::vector<uint8_t> out;
    proto::encode_error(h.request_id, proto::ErrorCode::kNotReady, "recovery in progress", &out);
    c.send(out);
    return true;
  });
  proto::HelloOk block;
  block.max_frame_body = 1 << 20;
  block.max_reply_body = 1 << 20;
  block.max_batch_bytes = 4 << 20;
  daemon.set_hello({.max_record_bytes = 64, .refuse_limits_flag = false, .limits = block});
  auto c = Client::connect(options());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(hellos.load(), 1);
  auto lim = (*c)->server_limits();  // asks again and waits
  ASSERT_TRUE(lim.ok());
  EXPECT_EQ(hellos.load(), 2);
  EXPECT_EQ(lim->source, ServerLimits::Source::kAdvertised);
  EXPECT_EQ(lim->max_record_bytes, 64u);
  auto big = payloads_of({65});
  Status s = (*c)->append_async(records_of(big), [](const Status&, uint64_t, uint32_t) {});
  EXPECT_EQ(daemon_error_code(s), proto::ErrorCode::kRecordTooLarge) << s.ToString();
}

TEST_F(ClientTest, WithoutDiscoveryNoLimitsHelloIsSent) {
  FakeDaemon daemon(path_);
  ClientOptions o = options();
  o.discover_limits = false;
  auto c = Client::connect(o);
  ASSERT_TRUE(c.ok());
  auto lim = (*c)->server_limits();
  ASSERT_TRUE(lim.ok());
  EXPECT_EQ(lim->source, ServerLimits::Source::kUnknown);
  EXPECT_EQ(lim->max_frame_body, proto::kDefaultMaxFrameBody);
  EXPECT_EQ(lim->max_record_bytes, 0u);
  std::string p(2 << 20, 'x');  // above the daemon's 1 MiB, not checked here
  RecordIn r{1, 0, 0, bytes_of(p)};
  ASSERT_TRUE((*c)->append(std::span(&r, 1)).ok());  // the fake enforces nothing
  EXPECT_EQ(daemon.requests_seen(proto::Opcode::kHello), 0u);
}

}  // namespace
}  // namespace sidewal::client
