// Replays every saved fuzz input (tests/fuzz/regressions/<target>/: inputs
// that once crashed a target or broke one of its invariants, and
// tests/fuzz/corpus/<target>/: the seed corpus) through the same target
// functions the fuzzer runs, in the normal build. A FUZZ_CHECK failure
// aborts, which fails the test.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "fuzz_target.h"

namespace sidewal::fuzz {
namespace {

namespace fs = std::filesystem;

size_t replay(const std::string& target) {
  const auto it = registry().find(target);
  EXPECT_NE(it, registry().end()) << "no target " << target;
  if (it == registry().end()) return 0;
  size_t n = 0;
  for (const char* kind : {"regressions", "corpus"}) {
    const fs::path dir = fs::path(SIDEWAL_FUZZ_DIR) / kind / target;
    if (!fs::exists(dir)) continue;
    for (const auto& e : fs::directory_iterator(dir)) {
      if (!e.is_regular_file() || e.path().filename() == ".gitkeep") continue;
      std::ifstream in(e.path(), std::ios::binary);
      std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), {});
      SCOPED_TRACE(e.path().string());
      it->second(bytes.data(), bytes.size());
      ++n;
    }
  }
  return n;
}

TEST(FuzzRegressions, FrameDecoder) { EXPECT_GT(replay("frame"), 0u); }
TEST(FuzzRegressions, RecordParser) { EXPECT_GT(replay("record"), 0u); }
TEST(FuzzRegressions, RecoveryScanner) { EXPECT_GT(replay("recovery"), 0u); }
TEST(FuzzRegressions, ConfigLoader) { EXPECT_GT(replay("config"), 0u); }

}  // namespace
}  // namespace sidewal::fuzz
