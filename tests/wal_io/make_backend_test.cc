// make_backend(): io_uring where the probe passes, pwrite otherwise, and the
// SIDEWAL_DISABLE_IO_URING=1 switch that forces the fallback.
#include <stdlib.h>

#include <string>

#include <gtest/gtest.h>

#include "wal/io/io_backend.h"
#include "wal/io/io_uring_backend.h"

namespace sidewal::wal {
namespace {

// Sets SIDEWAL_DISABLE_IO_URING for one test and restores it afterwards.
class DisableUring {
 public:
  DisableUring() {
    const char* old = std::getenv(kDisableIoUringEnv);
    had_ = old != nullptr;
    if (had_) old_ = old;
    ::setenv(kDisableIoUringEnv, "1", 1);
  }
  ~DisableUring() {
    if (had_) {
      ::setenv(kDisableIoUringEnv, old_.c_str(), 1);
    } else {
      ::unsetenv(kDisableIoUringEnv);
    }
  }

 private:
  bool had_ = false;
  std::string old_;
};

TEST(MakeBackend, AutoPicksIoUringWhenTheProbePasses) {
  ::unsetenv(kDisableIoUringEnv);
  Status probe = probe_io_uring();
  std::string why;
  auto io = make_backend(BackendKind::kAuto, &why);
  ASSERT_NE(io, nullptr);
  if (probe.ok()) {
    EXPECT_STREQ(io->name(), "io_uring");
    EXPECT_EQ(why, "io_uring: ok");
  } else {
    // This machine cannot run io_uring: the fallback must say why.
    EXPECT_STREQ(io->name(), "pwrite");
    EXPECT_NE(why.find(probe.message()), std::string::npos) << why;
  }
}

TEST(MakeBackend, DisableSwitchFallsBackToPwriteAndSaysWhy) {
  DisableUring off;
  Status probe = probe_io_uring();
  EXPECT_EQ(probe.code(), Code::kUnsupported);
  std::string why;
  auto io = make_backend(BackendKind::kAuto, &why);
  ASSERT_NE(io, nullptr);
  EXPECT_STREQ(io->name(), "pwrite");
  EXPECT_EQ(why, "io_uring unavailable (disabled by SIDEWAL_DISABLE_IO_URING=1), using pwrite");
}

TEST(MakeBackend, ExplicitUringWithoutIoUringReturnsNull) {
  DisableUring off;
  std::string why;
  auto io = make_backend(BackendKind::kUring, &why);
  EXPECT_EQ(io, nullptr);
  EXPECT_NE(why.find("required by configuration"), std::string::npos) << why;
}

TEST(MakeBackend, ExplicitPwriteIsPwrite) {
  std::string why;
  auto io = make_backend(BackendKind::kPwrite, &why);
  ASSERT_NE(io, nullptr);
  EXPECT_STREQ(io->name(), "pwrite");
  EXPECT_NE(why.find("pwrite"), std::string::npos);
  // A null *why is allowed.
  EXPECT_NE(make_backend(BackendKind::kPwrite, nullptr), nullptr);
}

TEST(MakeBackend, OtherValuesOfTheSwitchDoNotDisable) {
  ::setenv(kDisableIoUringEnv, "0", 1);
  Status with_zero = probe_io_uring();
  ::unsetenv(kDisableIoUringEnv);
  Status without = probe_io_uring();
  EXPECT_EQ(with_zero.ok(), without.ok()) << with_zero.ToString();
}

}  // namespace
}  // namespace sidewal::wal
