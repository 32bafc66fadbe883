// The client library's wake-ups against the real daemon.
// - One APPEND at a time costs the reader thread one wake-up (the reply),
//   not two. Blocked inside recv() on a Unix stream socket, a thread is also
//   woken whenever the peer reads bytes it sent (the kernel wakes the
//   sender's waiters when they are freed), so the daemon reading each
//   request woke the reader for nothing (src/client/channel_reader.cc,
//   BENCHMARKS.md "The client's reader and the write-space wake-up").
// - A blocking APPEND on an idle connection wakes only its caller, which
//   reads its own ACK (src/client/channel.h "Caller reads").
#include <gtest/gtest.h>

#include <cinttypes>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "client/client.h"
#include "tests/support/daemon_harness.h"
#include "tests/support/temp_dir.h"

namespace sidewal::it {
namespace {

// The voluntary_ctxt_switches line of a /proc .../status file, or 0 when it
// cannot be read (a thread that just ended).
uint64_t voluntary_switches_in(const std::string& status_path) {
  FILE* f = std::fopen(status_path.c_str(), "r");
  if (f == nullptr) return 0;
  char line[256];
  uint64_t n = 0;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::sscanf(line, "voluntary_ctxt_switches: %" SCNu64, &n) == 1) break;
  }
  std::fclose(f);
  return n;
}

// Voluntary context switches of the calling thread so far (Linux).
uint64_t voluntary_switches_of_this_thread() {
  return voluntary_switches_in("/proc/thread-self/status");
}

// Voluntary context switches of every thread of this process so far.
uint64_t voluntary_switches_of_this_process() {
  uint64_t total = 0;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    total += voluntary_switches_in(task.path() / "status");
  }
  return total;
}

// A fresh daemon and one client connected to it.
class ClientWakeups : public ::testing::Test {
 protected:
  void SetUp() override {
    daemon_.start_ready();
    auto cl = client::Client::connect(daemon_.socket_path());
    ASSERT_TRUE(cl.ok()) << cl.status().ToString();
    client_ = std::move(*cl);
  }

  TempDir dir_;
  Daemon daemon_{dir_.path()};
  std::unique_ptr<client::Client> client_;
};

TEST_F(ClientWakeups, TheReaderWakesOncePerReplyNotWhenTheDaemonReadsTheRequest) {
  client::Client& c = *client_;

  // Each APPEND is sent from the previous one's callback, on the reader
  // thread, as sidewal-bench's closed loop does: the reader sends, waits,
  // and is woken by the ACK. Counted after the first appends (connection
  // set-up, the log's first flushes).
  constexpr uint64_t kAppends = 400;
  constexpr uint64_t kFirstCounted = 50;
  const std::string payload = "one at a time";
  const client::RecordIn rec{1,
                             0,
                             0,
                             {reinterpret_cast<const uint8_t*>(payload.data()), payload.size()}};
  std::mutex mu;
  std::condition_variable cv;
  uint64_t acked = 0;
  Status failure;
  uint64_t switches_at_first = 0, switches_at_last = 0;  // the reader thread's
  std::function<void(const Status&, uint64_t, uint32_t)> next;
  next = [&](const Status& s, uint64_t, uint32_t) {
    std::lock_guard lk(mu);
    if (!s.ok()) {
      failure = s;
      cv.notify_all();
      return;
    }
    ++acked;
    if (acked == kFirstCounted) switches_at_first = voluntary_switches_of_this_thread();
    if (acked == kAppends) switches_at_last = voluntary_switches_of_this_thread();
    if (acked < kAppends) {
      Status sent = c.append_async(std::span(&rec, 1), next);
      if (!sent.ok()) failure = sent;
    }
    cv.notify_all();
  };
  ASSERT_TRUE(c.append_async(std::span(&rec, 1), next).ok());
  {
    std::unique_lock lk(mu);
    ASSERT_TRUE(cv.wait_for(lk, std::chrono::seconds(60),
                            [&] { return acked == kAppends || !failure.ok(); }));
    ASSERT_TRUE(failure.ok()) << failure.ToString();
  }
  c.close();  // joins the reader: nothing runs `next` any more
  ASSERT_GT(switches_at_first, 0u) << "/proc/thread-self/status gave no count";
  const double per_append = static_cast<double>(switches_at_last - switches_at_first) /
                            static_cast<double>(kAppends - kFirstCounted);
  // One per ACK, less when an ACK arrives before the reader sleeps; the
  // wake-up for the daemon's read of the request made it ~2.
  EXPECT_LT(per_append, 1.5) << "reader thread context switches per one-at-a-time APPEND";
  ::testing::Test::RecordProperty("reader_switches_per_append", std::to_string(per_append));
}

TEST_F(ClientWakeups, ABlockingAppendOnAnIdleConnectionWakesOnlyItsCaller) {
  // Client::append on an idle connection reads its ACK on the calling
  // thread (src/client/channel.h "Caller reads"): one wake-up per commit in
  // this process. Through the reader thread it was two: the reader's for
  // the ACK, then the caller's when the reader handed it over.
  client::Client& c = *client_;
  const std::string payload = "a blocking commit";
  const client::RecordIn rec{1,
                             0,
                             0,
                             {reinterpret_cast<const uint8_t*>(payload.data()), payload.size()}};
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(c.append(std::span(&rec, 1)).ok());
  constexpr int kCounted = 300;
  const uint64_t before = voluntary_switches_of_this_process();
  for (int i = 0; i < kCounted; ++i) ASSERT_TRUE(c.append(std::span(&rec, 1)).ok());
  const uint64_t after = voluntary_switches_of_this_process();
  c.close();
  const double per_append = static_cast<double>(after - before) / kCounted;
  EXPECT_LT(per_append, 1.5) << "context switches of the client process per blocking APPEND";
  ::testing::Test::RecordProperty("process_switches_per_append", std::to_string(per_append));
}

}  // namespace
}  // namespace sidewal::it
