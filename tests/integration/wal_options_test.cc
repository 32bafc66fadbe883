// wal.* keys of the daemon's config reach the engine: what a client can see
// of them through the protocol.
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/support/daemon_harness.h"

namespace sidewal::it {
namespace {

// HELLO with the limits block: the engine's max_batch_bytes among them.
proto::HelloOk hello_limits(RawClient& c) {
  std::vector<uint8_t> hello;
  proto::encode_hello(c.next_id(),
                      proto::Hello{.version = 1, .name = "it", .flags = proto::kHelloLimits}, &hello);
  EXPECT_TRUE(c.send(hello));
  auto f = c.read_frame();
  proto::HelloOk ok;
  EXPECT_TRUE(f.has_value());
  if (!f) return ok;
  EXPECT_EQ(f->opcode(), proto::Opcode::kHelloOk) << describe(*f);
  EXPECT_TRUE(proto::decode_hello_ok(f->body, &ok).ok());
  EXPECT_TRUE(ok.has_limits);
  return ok;
}

TEST(WalOptions, StagingBytesSetsTheLargestBatchTheDaemonTakes) {
  TempDir dir;
  std::filesystem::create_directories(dir.path() + "/default");
  std::filesystem::create_directories(dir.path() + "/large");
  {
    Daemon d(dir.path() + "/default");
    d.start_ready();
    RawClient c(d.socket_path());
    EXPECT_EQ(hello_limits(c).max_batch_bytes, 4u << 20);
  }
  DaemonConfig cfg;
  cfg.set("wal", "staging_bytes", "16MiB");
  Daemon d(dir.path() + "/large", cfg);
  d.start_ready();
  RawClient c(d.socket_path());
  EXPECT_EQ(hello_limits(c).max_batch_bytes, 16u << 20);
}

}  // namespace
}  // namespace sidewal::it
