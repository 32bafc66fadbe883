// Client::SendBatch / Channel::hold_sends: requests submitted while a
// batch is held are not sent until it ends (then in one send()), unless the
// queue passes its bound; replies and callbacks are unchanged.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "client/channel.h"
#include "client/client.h"
#include "proto/protocol.h"
#include "tests/client/fake_daemon.h"
#include "tests/support/temp_dir.h"

namespace sidewal::client {
namespace {

// Bytes the peer can read right now (never blocks): a send() on a Unix
// stream socket is in the peer's receive queue when it returns.
size_t readable_now(int fd, std::vector<uint8_t>* into) {
  size_t total = 0;
  uint8_t buf[64 << 10];
  for (;;) {
    ssize_t r = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (r <= 0) return total;
    into->insert(into->end(), buf, buf + r);
    total += static_cast<size_t>(r);
  }
}

// Frames of `bytes`, which must be whole frames.
std::vector<proto::Opcode> frames_in(const std::vector<uint8_t>& bytes) {
  std::vector<proto::Opcode> ops;
  size_t off = 0;
  while (off < bytes.size()) {
    if (bytes.size() - off < proto::kHeaderSize) {
      ADD_FAILURE() << "a partial frame header";
      break;
    }
    const proto::FrameHeader h = proto::decode_header(bytes.data() + off);
    ops.push_back(static_cast<proto::Opcode>(h.opcode));
    off += proto::kHeaderSize + h.body_len;
  }
  EXPECT_EQ(off, bytes.size());
  return ops;
}

class ConnectionHoldTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds_), 0); }
  void TearDown() override { ::close(fds_[1]); }

  bool submit_append(Channel& c, uint64_t id, size_t payload_bytes) {
    std::vector<uint8_t> payload(payload_bytes, static_cast<uint8_t>(id));
    proto::AppendRecord r{.type = 1, .flags = 0, .tenant = 0, .payload = payload};
    Pending p;
    p.id = id;
    p.expect = proto::Opcode::kAck;
    p.count = 1;
    p.on_append = [](const Status&, uint64_t, uint32_t) {};
    return c.submit(std::move(p), [&](std::vector<uint8_t>* out) {
      proto::encode_append(id, std::span<const proto::AppendRecord>(&r, 1), out);
    });
  }

  int fds_[2] = {-1, -1};  // [0] is the client's (the Channel closes it)
};

TEST_F(ConnectionHoldTest, HeldSubmissionsGoOutTogetherWhenTheLastHoldIsReleased) {
  ClientOptions o;
  Channel c(fds_[0], o, this);
  std::vector<uint8_t> seen;

  // Not held: each submission is on the wire when submit() returns.
  ASSERT_TRUE(submit_append(c, 1, 100));
  EXPECT_EQ(frames_in((readable_now(fds_[1], &seen), seen)).size(), 1u);
  seen.clear();

  c.hold_sends();
  c.hold_sends();  // holds nest
  for (uint64_t id = 2; id <= 11; ++id) ASSERT_TRUE(submit_append(c, id, 100));
  EXPECT_EQ(readable_now(fds_[1], &seen), 0u) << "a held submission was sent";
  c.release_sends();
  EXPECT_EQ(readable_now(fds_[1], &seen), 0u) << "sent before the last hold was released";
  c.release_sends();
  readable_now(fds_[1], &seen);
  std::vector<proto::Opcode> ops = frames_in(seen);
  EXPECT_EQ(ops.size(), 10u);
  for (proto::Opcode op : ops) EXPECT_EQ(op, proto::Opcode::kAppend);
  EXPECT_EQ(c.in_flight(), 11u);
  c.shutdown(Status::Closed("test over"));
}

TEST_F(ConnectionHoldTest, AHeldQueuePastItsBoundIsSentWithoutWaitingForTheRelease) {
  // max_queued_bytes 8 KiB: a held queue goes out at 4 KiB, so a holder can
  // never wait in backpressure for bytes only its own release would send.
  ClientOptions o;
  o.max_queued_bytes = 8 << 10;
  Channel c(fds_[0], o, this);
  std::vector<uint8_t> seen;
  c.hold_sends();
  ASSERT_TRUE(submit_append(c, 1, 3000));
  EXPECT_EQ(readable_now(fds_[1], &seen), 0u);
  ASSERT_TRUE(submit_append(c, 2, 3000));  // past 4 KiB queued: sent now
  readable_now(fds_[1], &seen);
  EXPECT_EQ(frames_in(seen).size(), 2u);
  seen.clear();
  ASSERT_TRUE(submit_append(c, 3, 100));
  EXPECT_EQ(readable_now(fds_[1], &seen), 0u);
  c.release_sends();
  readable_now(fds_[1], &seen);
  EXPECT_EQ(frames_in(seen).size(), 1u);
  c.shutdown(Status::Closed("test over"));
}

TEST(SendBatchTest, AppendsInABatchAreAllAcknowledgedInOrder) {
  const test::TempDir dir("sidewal-send-batch-");
  const std::string path = dir.file("s.sock");
  testing::FakeDaemon daemon(path);
  ClientOptions o;
  o.socket_path = path;
  auto client = Client::connect(o);
  ASSERT_TRUE(client.ok()) << client.status().ToString();

  std::mutex mu;
  std::condition_variable cv;
  std::vector<uint64_t> lsns;
  const std::string payload = "batched";
  proto::AppendRecord r{.type = 1,
                        .flags = 0,
                        .tenant = 0,
                        .payload = std::span<const uint8_t>(
                            reinterpret_cast<const uint8_t*>(payload.data()), payload.size())};
  constexpr int kBatches = 5, kPerBatch = 40;
  for (int b = 0; b < kBatches; ++b) {
    Client::SendBatch batch(**client);
    for (int i = 0; i < kPerBatch; ++i) {
      ASSERT_TRUE((*client)
                      ->append_async(std::span<const proto::AppendRecord>(&r, 1),
                                     [&](const Status& s, uint64_t lsn, uint32_t) {
                                       EXPECT_TRUE(s.ok()) << s.ToString();
                                       std::lock_guard lk(mu);
                                       lsns.push_back(lsn);
                                       cv.notify_all();
                                     })
                      .ok());
    }
  }
  {
    std::unique_lock lk(mu);
    ASSERT_TRUE(cv.wait_for(lk, std::chrono::seconds(10),
                            [&] { return lsns.size() == kBatches * kPerBatch; }));
    for (size_t i = 0; i < lsns.size(); ++i) EXPECT_EQ(lsns[i], i + 1);
  }
  // A blocking call after the batches still works (nothing was left held).
  auto got = (*client)->append(std::span<const proto::AppendRecord>(&r, 1));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, uint64_t{kBatches * kPerBatch + 1});
  (*client)->close();
  daemon.stop();
}

}  // namespace
}  // namespace sidewal::client
