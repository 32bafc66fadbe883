// sidewald refuses bad config files and flags at start: exit code 2 and a
// message on stderr naming the key.
#include <gtest/gtest.h>

#include <fstream>

#include "tests/support/daemon_harness.h"

namespace sidewal::it {
namespace {

struct Case {
  std::string yaml;
  std::string key;  // must appear in stderr
};

TEST(ConfigErrors, BadFilesExitTwoNamingTheKey) {
  TempDir dir;
  const std::vector<Case> cases = {
      {"wal:\n  segmnt_bytes: 1MiB\n", "wal.segmnt_bytes"},
      {"limits:\n  max_connections: lots\n", "limits.max_connections"},
      {"wal:\n  max_record_bytes: 64MiB\n", "wal.max_record_bytes"},
      {"wal:\n  io_backend: aio\n", "wal.io_backend"},
      {"socket:\n  mode: \"0999\"\n", "socket.mode"},
      {"socket:\n  allowed_uids: [root]\n", "socket.allowed_uids[0]"},
      {"admin:\n  listen: nowhere\n", "admin.listen"},
      {"limits:\n  max_frame_bytes: 1KiB\n", "limits.max_frame_bytes"},
      {"server:\n  threads: 0\n", "server.threads"},
      {"shutdown:\n  drain_timeout_seconds: -5\n", "shutdown.drain_timeout_seconds"},
      {"data_dir: {a: 1}\n", "data_dir"},
      {"colour: blue\n", "colour"},
  };
  for (const Case& c : cases) {
    const std::string path = dir.path() + "/bad.yaml";
    std::ofstream(path) << c.yaml;
    RunResult r = run_sidewald(
        {"--config", path, "--data-dir", dir.path() + "/d", "--socket", dir.path() + "/s.sock"});
    EXPECT_EQ(r.exit_code, 2) << c.yaml << r.err;
    EXPECT_NE(r.err.find(c.key + ":"), std::string::npos) << "stderr: " << r.err;
    EXPECT_NE(r.err.find(path), std::string::npos) << "stderr: " << r.err;
  }
}

TEST(ConfigErrors, BadFlagsAndMissingFileExitTwo) {
  TempDir dir;
  RunResult r = run_sidewald({"--config", dir.path() + "/missing.yaml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("missing.yaml"), std::string::npos) << r.err;

  r = run_sidewald({"--admin", "not-an-address", "--data-dir", dir.path() + "/d", "--socket",
                    dir.path() + "/s.sock"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--admin"), std::string::npos) << r.err;

  r = run_sidewald({"--no-such-flag"});
  EXPECT_EQ(r.exit_code, 2);

  // The documented example is valid.
  r = run_sidewald(
      {"--config", std::string(SIDEWAL_SOURCE_DIR) + "/config/sidewal.yaml", "--check-config"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

}  // namespace
}  // namespace sidewal::it
