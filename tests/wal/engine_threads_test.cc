// The engine's threads carry names (what `top -H`, `ps -L` and perf show),
// so an operator can tell the flusher from the rest: one of each while the
// log is open, none once it is closed.
#include <gtest/gtest.h>

#include "tests/support/thread_names.h"
#include "wal/wal.h"
#include "wal_test_util.h"

namespace sidewal::wal {
namespace {

using testing::append_one;
using testing::make_payload;
using testing::must_open;
using testing::ScratchDir;

std::map<std::string, int> thread_names() { return test::thread_names("/proc/self"); }

TEST(WalThreads, EachEngineThreadIsNamedWhileTheLogIsOpen) {
  ScratchDir d;
  WalOptions o;
  o.dir = d.log();
  o.segment_bytes = 64 * 1024;
  o.max_record_bytes = 4096;
  o.backend = BackendKind::kPwrite;
  auto before = thread_names();
  ASSERT_EQ(before.count("sw-flusher"), 0u) << "a log from another test is still open";
  auto wal = must_open(o);
  ASSERT_TRUE(wal);
  ASSERT_TRUE(append_one(*wal, make_payload(1, 100)).ok());
  auto open = thread_names();
  EXPECT_EQ(open["sw-flusher"], 1);
  EXPECT_EQ(open["sw-completer"], 1);
  EXPECT_EQ(open["sw-preparer"], 1);
  ASSERT_TRUE(wal->close().ok());
  wal.reset();
  auto after = thread_names();
  EXPECT_EQ(after.count("sw-flusher"), 0u);
  EXPECT_EQ(after.count("sw-completer"), 0u);
  EXPECT_EQ(after.count("sw-preparer"), 0u);
}

}  // namespace
}  // namespace sidewal::wal
