// sidewald's threads carry names an operator can read (`top -H`, `ps -L`,
// perf): docs/operations.md "Threads" lists them.
#include <gtest/gtest.h>

#include <string>

#include "tests/support/daemon_harness.h"
#include "tests/support/thread_names.h"

namespace sidewal::it {
namespace {

TEST(Threads, EveryLongLivedThreadOfAReadyDaemonIsNamed) {
  TempDir dir;
  DaemonConfig cfg;
  cfg.set("server", "threads", "3");
  Daemon d(dir.path(), cfg);
  d.start_ready();
  auto names = test::thread_names("/proc/" + std::to_string(d.pid()));
  EXPECT_EQ(names["sw-socket-0"], 1);
  EXPECT_EQ(names["sw-socket-1"], 1);
  EXPECT_EQ(names["sw-socket-2"], 1);
  EXPECT_EQ(names.count("sw-socket-3"), 0u);
  EXPECT_EQ(names["sw-admin"], 1);
  EXPECT_EQ(names["sw-blocking-0"], 1);
  EXPECT_EQ(names["sw-blocking-1"], 1);
  EXPECT_EQ(names["sw-flusher"], 1);
  EXPECT_EQ(names["sw-completer"], 1);
  EXPECT_EQ(names["sw-preparer"], 1);
  d.signal(SIGTERM);
  EXPECT_EQ(d.wait_exit(), 0);
}

}  // namespace
}  // namespace sidewal::it
