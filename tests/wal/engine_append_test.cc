// append() never waits for the engine: a batch that needs the next segment
// while the preparer is still making it (or that finds the fill buffer full
// or sealed) is parked with a copy of its records and admitted in call
// order, so the caller's thread (an Asio thread in the daemon) returns at
// once. Parked appends end like any other: acknowledged in LSN order, or
// refused with Closed at close().
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "testing/sim_disk.h"
#include "wal/codecs/format.h"
#include "wal/wal.h"
#include "wal_test_util.h"

namespace sidewal::wal {
namespace {

using testing::make_payload;
using testing::must_open;
using testing::read_all;
using testing::wait_until;

constexpr size_t kRecordBytes = 1000;
constexpr int kAppends = 100;  // about three 32 KiB segments of 1000-byte records

WalOptions small_segments(std::shared_ptr<IoBackend> io) {
  WalOptions o;
  o.dir = "/data/wal";
  o.segment_bytes = 32 * 1024;
  o.max_record_bytes = 2048;
  o.io = std::move(io);
  return o;
}

// Holds the creation of every spare segment with id >= hold_from until
// release(): the preparer's thread waits inside open(), nothing else does.
class HeldSpareCreation : public testing::ForwardingBackend {
 public:
  using ForwardingBackend::ForwardingBackend;
  Result<FileHandle> open(const std::string& path, const OpenOptions& o) override {
    uint64_t id = 0;
    const std::string name = std::filesystem::path(path).filename();
    if (o.create && format::parse_spare_file_name(name, &id)) {
      std::unique_lock<std::mutex> lk(mu_);
      if (id >= hold_from_) {
        ++held_;
        cv_.notify_all();
        cv_.wait(lk, [&] { return released_; });
      }
    }
    return inner_->open(path, o);
  }
  void hold_from(uint64_t id) {
    std::lock_guard<std::mutex> g(mu_);
    hold_from_ = id;
  }
  void release() {
    std::lock_guard<std::mutex> g(mu_);
    released_ = true;
    cv_.notify_all();
  }
  int held() {
    std::lock_guard<std::mutex> g(mu_);
    return held_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t hold_from_ = UINT64_MAX;
  bool released_ = false;
  int held_ = 0;
};

struct Outcomes {
  std::mutex mu;
  std::map<uint64_t, uint64_t> acked;  // lsn -> tag; guarded by mu
  std::vector<Status> errors;          // guarded by mu
  std::atomic<int> done{0};
};

// Appends tags [first, first + n), one record per call, each payload freed
// as soon as append() returns (the log must have copied it).
void append_tags(Wal& wal, Outcomes& out, uint64_t first, int n) {
  for (int i = 0; i < n; ++i) {
    const uint64_t tag = first + static_cast<uint64_t>(i);
    std::vector<uint8_t> payload = make_payload(tag, kRecordBytes);
    RecordIn r;
    r.payload = payload;
    wal.append(std::span<const RecordIn>(&r, 1), [&out, tag](const Status& st, uint64_t lsn) {
      std::lock_guard<std::mutex> g(out.mu);
      if (st.ok()) {
        out.acked[lsn] = tag;
      } else {
        out.errors.push_back(st);
      }
      out.done++;
    });
  }
}

// Runs append_tags on a thread of its own and says whether every append()
// call returned within `seconds`, callbacks or not.
bool appends_return(Wal& wal, Outcomes& out, uint64_t first, int n, double seconds) {
  auto calls = std::async(std::launch::async, [&] { append_tags(wal, out, first, n); });
  const bool returned =
      calls.wait_for(std::chrono::duration<double>(seconds)) == std::future_status::ready;
  return returned;
}

TEST(WalAppend, DoesNotWaitForTheNextSegmentAndKeepsCallOrder) {
  auto disk = std::make_shared<SimDisk>(21);
  auto io = std::make_shared<HeldSpareCreation>(disk);
  io->hold_from(2);  // segment 1 is made by open; every later one waits
  auto wal = must_open(small_segments(io));
  ASSERT_TRUE(wal);
  ASSERT_TRUE(wait_until([&] { return io->held() == 1; })) << "the preparer never started";

  Outcomes out;
  const bool returned = appends_return(*wal, out, 1, kAppends, 30);
  // Segment 1 fills and is acknowledged; the rest waits for segment 2.
  const bool first_segment_acked = wait_until([&] { return out.done.load() > 0; });
  const int done_while_held = out.done.load();
  const uint64_t segments_while_held = wal->status().segments;
  io->release();
  ASSERT_TRUE(returned) << "append() waited for the preparer";
  ASSERT_TRUE(first_segment_acked);
  EXPECT_LT(done_while_held, kAppends);
  EXPECT_EQ(segments_while_held, 1u);

  ASSERT_TRUE(wait_until([&] { return out.done.load() == kAppends; }));
  std::lock_guard<std::mutex> g(out.mu);
  EXPECT_TRUE(out.errors.empty()) << out.errors.front().ToString();
  ASSERT_EQ(out.acked.size(), static_cast<size_t>(kAppends));
  for (const auto& [lsn, tag] : out.acked) EXPECT_EQ(lsn, tag) << "LSNs follow the call order";
  EXPECT_GE(wal->status().segments, 3u);
  auto all = read_all(*wal);
  ASSERT_EQ(all.size(), static_cast<size_t>(kAppends));
  for (const Record& r : all) EXPECT_EQ(r.payload, make_payload(r.lsn, kRecordBytes));
  EXPECT_TRUE(wal->close().ok());
}

TEST(WalAppend, ParkedAppendsAreRefusedWithClosedAtClose) {
  auto disk = std::make_shared<SimDisk>(22);
  auto io = std::make_shared<HeldSpareCreation>(disk);
  io->hold_from(2);
  auto wal = must_open(small_segments(io));
  ASSERT_TRUE(wal);
  ASSERT_TRUE(wait_until([&] { return io->held() == 1; }));

  Outcomes out;
  ASSERT_TRUE(appends_return(*wal, out, 1, kAppends, 30));
  // close() refuses what waits for segment 2, then waits for the preparer.
  auto closed = std::async(std::launch::async, [&] { return wal->close(); });
  const bool all_done = wait_until([&] { return out.done.load() == kAppends; });
  io->release();
  EXPECT_TRUE(closed.get().ok());
  ASSERT_TRUE(all_done);
  std::lock_guard<std::mutex> g(out.mu);
  ASSERT_FALSE(out.errors.empty());
  for (const Status& st : out.errors) EXPECT_EQ(st.code(), Code::kClosed) << st.ToString();
  // Acknowledged: exactly segment 1's records, LSNs in call order.
  uint64_t want = 1;
  for (const auto& [lsn, tag] : out.acked) {
    EXPECT_EQ(lsn, want++);
    EXPECT_EQ(tag, lsn);
  }
  EXPECT_EQ(out.acked.size() + out.errors.size(), static_cast<size_t>(kAppends));
}

}  // namespace
}  // namespace sidewal::wal
