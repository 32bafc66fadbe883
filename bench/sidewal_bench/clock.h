// The clocks sidewal-bench's modes share: steady-clock nanoseconds (every
// latency and schedule is on this one clock), and where a mode without a
// daemon makes its temporary files.
#pragma once

#include <stdlib.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace sidewal::bench {

inline uint64_t now_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

// `dir` when given, else $TMPDIR, else /tmp.
inline std::string temp_dir_or(const std::string& dir) {
  if (!dir.empty()) return dir;
  const char* env = ::getenv("TMPDIR");
  return env != nullptr && *env != '\0' ? env : "/tmp";
}

}  // namespace sidewal::bench
