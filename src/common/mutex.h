// Mutex, MutexLock and CondVar: std::mutex and std::condition_variable with
// the capability annotations of common/thread_annotations.h, so that clang's
// -Wthread-safety can check GUARDED_BY / REQUIRES (libstdc++'s std::mutex
// carries none). Same cost as the std types: every call is an inline
// forward.
//
//   class Queue {
//     void push(int v) EXCLUDES(mu_) {
//       MutexLock lock(mu_);
//       items_.push_back(v);
//       cv_.notify_one();
//     }
//     int pop() EXCLUDES(mu_) {
//       MutexLock lock(mu_);
//       cv_.wait(mu_, [&]() REQUIRES(mu_) { return !items_.empty(); });
//       ...
//     }
//     Mutex mu_;
//     CondVar cv_;
//     std::deque<int> items_ GUARDED_BY(mu_);
//   };
//
// A predicate passed to a CondVar wait runs with the mutex held: declare it
// REQUIRES(mu_) as above, or the analysis rejects what it reads.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <utility>

#include "common/thread_annotations.h"

namespace sidewal {

class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() ACQUIRE() { mu_.lock(); }
  void unlock() RELEASE() { mu_.unlock(); }
  bool try_lock() TRY_ACQUIRE(true) { return mu_.try_lock(); }
  // Tells the analysis the caller holds this mutex where it cannot see it
  // (no run-time check).
  void assert_held() const ASSERT_CAPABILITY(this) {}

 private:
  friend class CondVar;
  std::mutex mu_;
};

// Holds a Mutex from construction to the end of the scope. unlock() and
// lock() let go of it and take it back inside the scope (the analysis
// follows both); the destructor unlocks only if it is held.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~MutexLock() RELEASE() {
    if (locked_) mu_.unlock();
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void unlock() RELEASE() {
    mu_.unlock();
    locked_ = false;
  }
  void lock() ACQUIRE() {
    mu_.lock();
    locked_ = true;
  }

 private:
  Mutex& mu_;
  bool locked_ = true;
};

// std::condition_variable waiting on a Mutex the caller holds. Waits
// release the mutex while blocked and hold it again when they return.
class CondVar {
 public:
  CondVar() = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  void notify_one() noexcept { cv_.notify_one(); }
  void notify_all() noexcept { cv_.notify_all(); }

  void wait(Mutex& mu) REQUIRES(mu) {
    std::unique_lock<std::mutex> lk(mu.mu_, std::adopt_lock);
    cv_.wait(lk);
    lk.release();  // the caller keeps holding it
  }
  // The predicate runs with `mu` held (the analysis cannot see that through
  // the call, hence NO_THREAD_SAFETY_ANALYSIS here and REQUIRES on the
  // predicate at the call site).
  template <class Predicate>
  void wait(Mutex& mu, Predicate stop_waiting) REQUIRES(mu) NO_THREAD_SAFETY_ANALYSIS {
    while (!stop_waiting()) wait(mu);
  }

  template <class Clock, class Duration>
  std::cv_status wait_until(Mutex& mu, const std::chrono::time_point<Clock, Duration>& deadline)
      REQUIRES(mu) {
    std::unique_lock<std::mutex> lk(mu.mu_, std::adopt_lock);
    const std::cv_status s = cv_.wait_until(lk, deadline);
    lk.release();
    return s;
  }
  // False when `deadline` passed with the predicate still false.
  template <class Clock, class Duration, class Predicate>
  bool wait_until(Mutex& mu, const std::chrono::time_point<Clock, Duration>& deadline,
                  Predicate stop_waiting) REQUIRES(mu) NO_THREAD_SAFETY_ANALYSIS {
    while (!stop_waiting()) {
      if (wait_until(mu, deadline) == std::cv_status::timeout) return stop_waiting();
    }
    return true;
  }

  template <class Rep, class Period>
  std::cv_status wait_for(Mutex& mu, const std::chrono::duration<Rep, Period>& timeout)
      REQUIRES(mu) {
    return wait_until(mu, std::chrono::steady_clock::now() + timeout);
  }
  template <class Rep, class Period, class Predicate>
  bool wait_for(Mutex& mu, const std::chrono::duration<Rep, Period>& timeout,
                Predicate stop_waiting) REQUIRES(mu) {
    return wait_until(mu, std::chrono::steady_clock::now() + timeout, std::move(stop_waiting));
  }

 private:
  std::condition_variable cv_;
};

}  // namespace sidewal
