// One fuzz target = one function over bytes. Built with clang and
// -fsanitize=fuzzer (SIDEWAL_FUZZER defined), the macro makes it the
// libFuzzer entry point; in the normal build it registers the function so
// the regression test (regressions_test.cc) replays saved inputs through it.
// A target states what must hold with FUZZ_CHECK (abort on violation: the
// fuzzer then saves the input as a crash).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

namespace sidewal::fuzz {

using TargetFn = int (*)(const uint8_t* data, size_t size);

inline std::map<std::string, TargetFn>& registry() {
  static std::map<std::string, TargetFn> targets;
  return targets;
}
inline bool register_target(const char* name, TargetFn fn) {
  registry()[name] = fn;
  return true;
}

}  // namespace sidewal::fuzz

#define FUZZ_CHECK(cond)                                                                     \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      std::fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                          \
    }                                                                                        \
  } while (0)

#ifdef SIDEWAL_FUZZER
#define SIDEWAL_FUZZ_TARGET(name, fn) \
  extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) { return fn(data, size); }
#else
#define SIDEWAL_FUZZ_TARGET(name, fn) \
  static const bool sidewal_fuzz_registered_##name = ::sidewal::fuzz::register_target(#name, fn);
#endif
