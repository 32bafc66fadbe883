// Proves the clang build checks the lock annotations (tests/common/CMakeLists.txt).
// Built as it is, it follows the rules and compiles in every tree. Built with
// SIDEWAL_BREAK_GUARDED_BY or SIDEWAL_BREAK_REQUIRES, it breaks one rule, and
// the ctest thread_safety_rejects_* expects the build's own flags
// (-Wthread-safety -Werror) to refuse it with clang's message.
#include "common/mutex.h"

namespace sidewal {
namespace {

class Counter {
 public:
  void bump() EXCLUDES(mu_) {
    MutexLock lock(mu_);
    bump_locked();
  }
  int get() EXCLUDES(mu_) {
#ifdef SIDEWAL_BREAK_GUARDED_BY
    return value_;  // read without mu_
#else
    MutexLock lock(mu_);
    return value_;
#endif
  }
  void reset() EXCLUDES(mu_) {
#ifdef SIDEWAL_BREAK_REQUIRES
    bump_locked();  // called without mu_
#else
    MutexLock lock(mu_);
    value_ = 0;
#endif
  }

 private:
  void bump_locked() REQUIRES(mu_) { ++value_; }

  Mutex mu_;
  int value_ GUARDED_BY(mu_) = 0;
};

}  // namespace

int thread_safety_check() {
  Counter c;
  c.bump();
  c.reset();
  return c.get();
}

}  // namespace sidewal
