// The uploader's transfers: parallel parts of a multipart upload
// (archive.upload_concurrency), the bandwidth cap
// (archive.max_upload_bytes_per_second, RateLimiter) and the lag in bytes.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "archive/rate_limiter.h"
#include "archive/restore.h"
#include "archive_rig.h"

namespace sidewal::archive {
namespace {

using Clock = std::chrono::steady_clock;

// The memory store, with upload_part holding each call until `expect` calls
// are in flight together (or 200 ms pass): so the most parts ever in flight is
// what the uploader sends at once, whatever the scheduling.
class OverlapStore final : public ObjectStore {
 public:
  OverlapStore(testing::MemoryObjectStore* inner, int expect) : inner_(inner), expect_(expect) {}
  Status put(const std::string& k, std::span<const uint8_t> b) override {
    return inner_->put(k, b);
  }
  Status get(const std::string& k, std::string* b) override { return inner_->get(k, b); }
  Status get_range(const std::string& k, uint64_t o, uint64_t n, std::string* b) override {
    return inner_->get_range(k, o, n, b);
  }
  Status list(const std::string& p, std::vector<ObjectInfo>* out) override {
    return inner_->list(p, out);
  }
  Status remove(const std::string& k) override { return inner_->remove(k); }
  Status create_multipart(const std::string& k, std::string* id) override {
    return inner_->create_multipart(k, id);
  }
  Status upload_part(const std::string& k, const std::string& id, int n, std::span<const uint8_t> b,
                     std::string* etag) override {
    {
      std::unique_lock<std::mutex> l(mu_);
      ++in_flight_;
      max_in_flight_ = std::max(max_in_flight_, in_flight_);
      cv_.notify_all();
      // The last wave of an upload may be smaller: it waits out the bound.
      cv_.wait_for(l, std::chrono::milliseconds(200), [&] { return in_flight_ >= expect_; });
    }
    Status s = inner_->upload_part(k, id, n, b, etag);
    std::lock_guard<std::mutex> g(mu_);
    --in_flight_;
    ++parts_;
    return s;
  }
  Status complete_multipart(const std::string& k, const std::string& id,
                            const std::vector<std::string>& etags) override {
    return inner_->complete_multipart(k, id, etags);
  }
  Status abort_multipart(const std::string& k, const std::string& id) override {
    return inner_->abort_multipart(k, id);
  }
  int max_in_flight() {
    std::lock_guard<std::mutex> g(mu_);
    return max_in_flight_;
  }
  int parts() {
    std::lock_guard<std::mutex> g(mu_);
    return parts_;
  }

 private:
  testing::MemoryObjectStore* const inner_;
  const int expect_;
  std::mutex mu_;
  std::condition_variable cv_;
  int in_flight_ = 0, max_in_flight_ = 0, parts_ = 0;
};

// (lsn, payload) of every record restored into `dir` from `store`.
using Lsns = std::vector<std::pair<uint64_t, std::vector<uint8_t>>>;
Lsns restored_records(testing::MemoryObjectStore* store, const std::string& dir) {
  RestoreOptions ro;
  ro.prefix = kPrefix;
  ro.dir = dir;
  RestoreReport rep;
  Status s = restore(store, ro, &rep);
  EXPECT_TRUE(s.ok()) << s.ToString();
  Lsns out;
  auto io = wal::make_backend(wal::BackendKind::kPwrite, nullptr);
  wal::RecoveryReport r;
  s = wal::inspect_dir(
      dir, io.get(), {}, [&](const wal::Record& x) { out.emplace_back(x.lsn, x.payload); }, &r);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

Lsns records_of(wal::Wal& log) {
  Lsns out;
  for (const wal::Record& x : wal::testing::read_all(log)) out.emplace_back(x.lsn, x.payload);
  return out;
}

TEST(UploaderTransfer, PartsGoOutInParallelUpToTheConcurrencyAndRestoreTheSame) {
  for (uint32_t conc : {1u, 3u}) {
    SCOPED_TRACE("concurrency " + std::to_string(conc));
    Rig rig;
    rig.append(200);  // several sealed segments: each a multipart whole piece
    OverlapStore store(&rig.store, static_cast<int>(conc));
    UploaderOptions o = rig.options();
    o.part_bytes = 16 << 10;
    o.concurrency = conc;
    Uploader up(&store, rig.log.get(), rig.io.get(), o);
    ASSERT_TRUE(up.step().ok()) << up.stats().last_error;
    EXPECT_EQ(up.stats().archived_lsn, rig.log->durable_lsn());
    EXPECT_GE(store.parts(), 8 * static_cast<int>(conc));
    EXPECT_EQ(store.max_in_flight(), static_cast<int>(conc));
    EXPECT_EQ(restored_records(&rig.store, rig.scratch.path() + "/r"), records_of(*rig.log));
  }
}

TEST(UploaderTransfer, TheBandwidthCapHoldsTheUploadToItsRate) {
  Rig rig;
  rig.append(400);
  UploaderOptions o = rig.options();
  constexpr double kRate = 512 << 10;
  o.max_bytes_per_second = 512 << 10;
  o.concurrency = 2;
  Uploader up(&rig.store, rig.log.get(), rig.io.get(), o);
  const auto t0 = Clock::now();
  ASSERT_TRUE(up.step().ok()) << up.stats().last_error;
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  const double bytes = static_cast<double>(up.stats().bytes_uploaded);
  ASSERT_GT(bytes, 2 * kRate) << "not enough to upload for the cap to matter";
  // A second's worth goes at once, the rest at the rate (the last request
  // goes as soon as the debt before it is paid).
  EXPECT_GE(seconds, 0.95 * (bytes - kRate - (64 << 10)) / kRate) << bytes << " bytes";
  EXPECT_EQ(restored_records(&rig.store, rig.scratch.path() + "/r"), records_of(*rig.log));
}

TEST(UploaderTransfer, StopWakesAnUploadWaitingForBandwidth) {
  RateLimiter limiter(64 << 10);
  const auto t0 = Clock::now();
  ASSERT_TRUE(limiter.acquire(1 << 20));  // at once, leaving 15 s of debt
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(5));
  std::atomic<bool> result{true};
  std::thread waiter([&] { result = limiter.acquire(1); });
  limiter.cancel();
  waiter.join();
  EXPECT_FALSE(result.load());
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(5));
  limiter.resume();
  RateLimiter unlimited(0);
  EXPECT_TRUE(unlimited.acquire(uint64_t{1} << 40));
}

TEST(UploaderTransfer, LagInBytesGrowsWhileTheStoreIsDownAndIsZeroWhenCaughtUp) {
  Rig rig;
  auto up = rig.uploader();
  rig.append(40);
  rig.catch_up(*up);
  EXPECT_EQ(up->stats().lag_bytes, 0u);
  rig.store.set_down(true);
  uint64_t last = 0;
  for (int round = 0; round < 3; ++round) {
    rig.append(30);
    EXPECT_FALSE(up->step().ok());
    const uint64_t lag = up->stats().lag_bytes;
    // 30 batches of 1-4 records of 8 bytes or more, each with a 24-byte header.
    EXPECT_GE(lag, last + 30 * 32) << "round " << round;
    last = lag;
  }
  rig.store.set_down(false);
  rig.catch_up(*up);
  EXPECT_EQ(up->stats().lag_bytes, 0u);
  EXPECT_EQ(up->stats().lag_records, 0u);
}

}  // namespace
}  // namespace sidewal::archive
