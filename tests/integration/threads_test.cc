// sidewald's threads carry names an operator can read (`top -H`, `ps -L`,
// perf): docs/operations.md "Threads" lists them.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "tests/support/daemon_harness.h"

namespace sidewal::it {
namespace {

// How many of the process's threads bear each name.
std::map<std::string, int> thread_names(pid_t pid) {
  std::map<std::string, int> names;
  const std::filesystem::path tasks = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& task : std::filesystem::directory_iterator(tasks)) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    if (std::getline(comm, name)) ++names[name];
  }
  return names;
}

TEST(Threads, EveryLongLivedThreadOfAReadyDaemonIsNamed) {
  TempDir dir;
  DaemonConfig cfg;
  cfg.set("server", "threads", "3");
  Daemon d(dir.path(), cfg);
  d.start_ready();
  auto names = thread_names(d.pid());
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
