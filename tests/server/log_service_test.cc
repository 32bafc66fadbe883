// LogService (src/server/log_service.h) over the engine on the simulated
// disk: fail-stop has one owner. After an injected fdatasync failure the
// daemon's answers (its state for STATUS, /readyz and /healthz, the ERROR
// code and the /healthz error) are the engine's own Wal::state() and
// Wal::failure(), already when the failed append's callback runs; and a
// NO_SPACE that only refused a new segment leaves both ready.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "server/log_service.h"
#include "server/metrics.h"
#include "server/session/fail_stop.h"
#include "testing/sim_disk.h"
#include "wal/wal.h"

namespace sidewal::server {
namespace {

using wal::LogState;
using wal::SimDisk;

constexpr const char* kDir = "/data/wal";

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// What an append's callback saw, including the daemon's view at that moment.
struct Completion {
  Status status;
  LogState state_in_callback = LogState::kRecovering;
};

class LogServiceFailStop : public ::testing::Test {
 protected:
  LogServiceFailStop() : disk_(std::make_shared<SimDisk>(14)) {}

  // Fails, once armed, every step `op` on a file whose name ends with
  // `suffix` with `err`. The hook sees operations, not step numbers, which
  // move with the preparer's background work.
  void fail_when_armed(std::string op, std::string suffix, int err) {
    disk_->set_fault_hook([armed = armed_, op = std::move(op), suffix = std::move(suffix),
                           err](const SimDisk::StepInfo& s) {
      if (armed->load() && s.op == op && ends_with(s.path, suffix)) {
        return SimDisk::Fault::fail(err);
      }
      return SimDisk::Fault::none();
    });
  }

  void open(uint64_t segment_bytes) {
    wal::WalOptions o;
    o.dir = kDir;
    o.segment_bytes = segment_bytes;
    o.max_record_bytes = 2048;
    o.io = disk_;
    metrics_ = std::make_unique<Metrics>(kDir, segment_bytes);
    log_ = std::make_unique<LogService>(o, metrics_.get());
    EXPECT_EQ(log_->state(), LogState::kRecovering);
    std::promise<Status> opened;
    log_->start_recovery(
        [&opened](const Status& st, const wal::RecoveryReport&) { opened.set_value(st); });
    const Status st = opened.get_future().get();
    ASSERT_TRUE(st.ok()) << st.ToString();
    ASSERT_NE(log_->wal(), nullptr);
  }

  Completion append(size_t payload_bytes) {
    const std::vector<uint8_t> payload(payload_bytes, 0x5a);
    const wal::RecordIn r{.type = 1, .flags = 0, .tenant = 0, .payload = payload};
    std::promise<Completion> done;
    log_->wal()->append(std::span<const wal::RecordIn>(&r, 1),
                        [this, &done](const Status& st, uint64_t) {
                          done.set_value(Completion{st, log_->state()});
                        });
    return done.get_future().get();
  }

  void TearDown() override {
    if (log_) (void)log_->close();
  }

  std::shared_ptr<SimDisk> disk_;
  std::shared_ptr<std::atomic<bool>> armed_ = std::make_shared<std::atomic<bool>>(false);
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<LogService> log_;
};

TEST_F(LogServiceFailStop, AfterAFailedFdatasyncTheDaemonReportsFailedFromTheEngine) {
  fail_when_armed("fdatasync", ".wal", EIO);
  open(256 * 1024);
  ASSERT_TRUE(append(200).status.ok());
  EXPECT_EQ(log_->state(), LogState::kReady);
  EXPECT_EQ(log_->failure_message(), "OK");

  armed_->store(true);
  const Completion failed = append(200);
  ASSERT_EQ(failed.status.code(), Code::kFailed) << failed.status.ToString();
  // The engine's state is the daemon's, with no lag: failed already when
  // the failed append's callback runs (before the observer's on_failed).
  EXPECT_EQ(failed.state_in_callback, LogState::kFailed);
  EXPECT_EQ(append_error_code(failed.status, *log_), proto::ErrorCode::kIoFailed);

  wal::Wal& engine = *log_->wal();
  EXPECT_EQ(engine.state(), LogState::kFailed);
  EXPECT_EQ(log_->state(), LogState::kFailed);
  const Status why = engine.failure();
  EXPECT_EQ(why.code(), Code::kIoError) << why.ToString();
  EXPECT_NE(why.message().find("fdatasync"), std::string::npos) << why.ToString();
  EXPECT_EQ(log_->failure_code(), proto::ErrorCode::kIoFailed);
  EXPECT_EQ(log_->failure_message(), why.ToString());
  EXPECT_EQ(engine.status().state, LogState::kFailed);
  EXPECT_EQ(engine.status().failure, why.ToString());

  // For good: the disk works again, the log stays failed.
  armed_->store(false);
  const Completion later = append(10);
  EXPECT_EQ(later.status.code(), Code::kFailed) << later.status.ToString();
  EXPECT_EQ(later.state_in_callback, LogState::kFailed);
  EXPECT_EQ(error_code_for(later.status, *log_), proto::ErrorCode::kIoFailed);
  EXPECT_EQ(engine.failure().ToString(), why.ToString()) << "the first failure is the cause";
  EXPECT_FALSE(log_->close().ok());
  EXPECT_EQ(log_->state(), LogState::kFailed);
}

TEST_F(LogServiceFailStop, EnospcOnADataSyncFailsTheLogWithNoSpace) {
  fail_when_armed("fdatasync", ".wal", ENOSPC);
  open(256 * 1024);
  ASSERT_TRUE(append(200).status.ok());
  armed_->store(true);
  const Completion failed = append(200);
  ASSERT_EQ(failed.status.code(), Code::kNoSpace) << failed.status.ToString();
  EXPECT_EQ(failed.state_in_callback, LogState::kFailed);
  EXPECT_EQ(append_error_code(failed.status, *log_), proto::ErrorCode::kNoSpace);
  EXPECT_EQ(log_->state(), LogState::kFailed);
  EXPECT_EQ(log_->wal()->failure().code(), Code::kNoSpace);
  EXPECT_EQ(log_->failure_code(), proto::ErrorCode::kNoSpace);
  // A later request that meets the failed log gets the same code.
  EXPECT_EQ(error_code_for(Status::Failed("the log is fail-stopped"), *log_),
            proto::ErrorCode::kNoSpace);
}

TEST_F(LogServiceFailStop, EnospcForANewSegmentRefusesAppendsAndLeavesTheLogReady) {
  // Nothing was written: the engine stays ready, so the daemon does too
  // (docs/operations.md "Disk full is not always a fail-stop").
  fail_when_armed("preallocate", ".spare", ENOSPC);
  open(32 * 1024);
  armed_->store(true);
  Completion refused;
  for (int i = 0; i < 256 && refused.status.ok(); ++i) refused = append(1000);
  ASSERT_EQ(refused.status.code(), Code::kNoSpace)
      << "no refusal after 256 KiB with ENOSPC on every new segment";
  EXPECT_EQ(refused.state_in_callback, LogState::kReady);
  EXPECT_EQ(append_error_code(refused.status, *log_), proto::ErrorCode::kNoSpace);
  EXPECT_EQ(log_->wal()->state(), LogState::kReady);
  EXPECT_EQ(log_->state(), LogState::kReady);
  EXPECT_TRUE(log_->wal()->failure().ok());
  EXPECT_EQ(log_->failure_message(), "OK");
  // A record that still fits in the current segment is acknowledged.
  EXPECT_TRUE(append(10).status.ok());
}

}  // namespace
}  // namespace sidewal::server
