// WalOptions::preallocation: how a new segment's zeros are made. kAuto writes
// them after small flushes and only reserves the blocks after large ones;
// a reserved segment is an ordinary segment to every reader and to recovery.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <memory>
#include <mutex>
#include <vector>

#include "testing/sim_disk.h"
#include "wal/wal.h"
#include "wal_test_util.h"

namespace sidewal::wal {
namespace {

using testing::append_one;
using testing::must_open;
using testing::make_payload;
using testing::read_all;
using testing::wait_until;

// Records how every preallocation asked for its zeros.
class FillRecorder : public testing::ForwardingBackend {
 public:
  using ForwardingBackend::ForwardingBackend;
  Status preallocate_zeroed(FileHandle f, uint64_t bytes, ZeroFill fill) override {
    {
      std::lock_guard<std::mutex> g(mu_);
      fills_.push_back(fill);
    }
    return ForwardingBackend::preallocate_zeroed(f, bytes, fill);
  }
  std::vector<ZeroFill> fills() {
    std::lock_guard<std::mutex> g(mu_);
    return fills_;
  }

 private:
  std::mutex mu_;
  std::vector<ZeroFill> fills_;
};

TEST(WalPreallocation, AutoReservesAfterLargeFlushesAndWritesZerosAfterSmallOnes) {
  auto disk = std::make_shared<SimDisk>(5, SimDisk::CrashModel::kDropUnsynced);
  auto io = std::make_shared<FillRecorder>(disk);
  WalOptions o;
  o.dir = "/data/wal";
  o.segment_bytes = 2u << 20;
  o.max_record_bytes = 512u << 10;
  o.io = io;
  auto wal = must_open(o);
  ASSERT_TRUE(wal);
  // The first segment and the first spare: no flush history, zeros written.
  ASSERT_TRUE(wait_until([&] { return wal->status().next_segment_ready; }));
  ASSERT_EQ(io->fills(), (std::vector<ZeroFill>{ZeroFill::kWrite, ZeroFill::kWrite}));

  // One 300 KiB record per flush (append_sync waits for each): the spares
  // created after these flushes are only reserved.
  constexpr size_t kLarge = 300u << 10;
  uint64_t n = 0;
  while (wal->status().segments < 3) {
    ASSERT_TRUE(append_one(*wal, make_payload(++n, kLarge)).ok());
  }
  ASSERT_TRUE(wait_until([&] { return wal->status().next_segment_ready; }));
  std::vector<ZeroFill> fills = io->fills();
  ASSERT_GE(fills.size(), 4u);
  for (size_t i = 2; i < fills.size(); ++i) EXPECT_EQ(fills[i], ZeroFill::kReserve) << i;
  const size_t after_large = fills.size();
  const uint64_t large_records = n;

  // Then 100-byte records, one per flush, across two more rollovers: the
  // spares created after them get their zeros written again.
  while (wal->status().segments < 5) {
    ASSERT_TRUE(append_one(*wal, make_payload(++n, 100)).ok());
  }
  ASSERT_TRUE(wait_until([&] { return wal->status().next_segment_ready; }));
  fills = io->fills();
  ASSERT_GT(fills.size(), after_large + 1);
  EXPECT_EQ(fills.back(), ZeroFill::kWrite);

  // Every record reads back, from reserved and written segments alike, and
  // after a power loss too.
  disk->restart();
  wal.reset();
  o.io = disk;
  wal = must_open(o);
  ASSERT_TRUE(wal);
  auto all = read_all(*wal);
  ASSERT_EQ(all.size(), n);
  for (uint64_t i = 1; i <= n; ++i) {
    EXPECT_EQ(all[i - 1].payload, make_payload(i, i <= large_records ? kLarge : 100)) << i;
  }
}

TEST(WalPreallocation, ExplicitModesAreObeyed) {
  for (auto mode : {WalOptions::Preallocation::kWrite, WalOptions::Preallocation::kReserve}) {
    auto disk = std::make_shared<SimDisk>(6, SimDisk::CrashModel::kDropUnsynced);
    auto io = std::make_shared<FillRecorder>(disk);
    WalOptions o;
    o.dir = "/data/wal";
    o.segment_bytes = 64u << 10;
    o.max_record_bytes = 4096;
    o.preallocation = mode;
    o.io = io;
    auto wal = must_open(o);
    ASSERT_TRUE(wal);
    uint64_t n = 0;
    while (wal->status().segments < 3) ASSERT_TRUE(append_one(*wal, make_payload(++n, 3000)).ok());
    ASSERT_TRUE(wait_until([&] { return wal->status().next_segment_ready; }));
    const ZeroFill want =
        mode == WalOptions::Preallocation::kWrite ? ZeroFill::kWrite : ZeroFill::kReserve;
    for (ZeroFill f : io->fills()) EXPECT_EQ(f, want);
  }
}

// On the real filesystem: reserved segments (fallocate only, unwritten
// extents) hold what was acknowledged across a reopen, and read as zeros
// where nothing was written.
TEST(WalPreallocation, ReservedSegmentsOnTheRealDiskReadBackAfterReopen) {
  testing::ScratchDir dir;
  WalOptions o;
  o.dir = dir.log();
  o.segment_bytes = 1u << 20;
  o.max_record_bytes = 64u << 10;
  o.backend = BackendKind::kPwrite;
  o.preallocation = WalOptions::Preallocation::kReserve;
  uint64_t n = 0;
  {
    auto wal = must_open(o);
    ASSERT_TRUE(wal);
    while (wal->status().segments < 3) {
      ++n;
      ASSERT_TRUE(append_one(*wal, make_payload(n, 40000 + n)).ok());
    }
    ASSERT_TRUE(wal->close().ok());
  }
  auto wal = must_open(o);
  ASSERT_TRUE(wal);
  auto all = read_all(*wal);
  ASSERT_EQ(all.size(), n);
  for (uint64_t i = 1; i <= n; ++i) EXPECT_EQ(all[i - 1].payload, make_payload(i, 40000 + i)) << i;
  EXPECT_TRUE(append_one(*wal, make_payload(n + 1, 100)).ok());
}

}  // namespace
}  // namespace sidewal::wal
