// Lock rules as annotations a compiler checks (LevelDB's
// port/thread_annotations.h, after clang's ThreadSafetyAnalysis docs).
//
// clang's -Wthread-safety (on in every clang build, see CMakeLists.txt, and
// an error there with -Werror) checks them: a member declared
// GUARDED_BY(mu_) touched without mu_ held, or a function declared
// REQUIRES(mu_) called without it, fails the build. Other compilers see
// no-ops. Only a capability type can be named: common/mutex.h's Mutex, not
// std::mutex (libstdc++ does not annotate it).
//
//   GUARDED_BY(mu)      member: read or written only with mu held
//   PT_GUARDED_BY(mu)   pointer member: the pointee only with mu held
//   REQUIRES(mu)        function: the caller holds mu ("REQUIRES: mu_ held")
//   EXCLUDES(mu)        function: the caller does not hold mu (it takes it)
//   ACQUIRE / RELEASE   function: takes / gives up mu and returns
//   NO_THREAD_SAFETY_ANALYSIS  function: not checked (say why beside it)
//
// Installed with the C++ client (its headers use them), where a database
// may have the same names from its own header: each is defined only when it
// is not yet, as LevelDB's port/thread_annotations.h does, so the two can be
// included in either order.
#pragma once

#if defined(__clang__)
#define SIDEWAL_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define SIDEWAL_THREAD_ANNOTATION(x)
#endif

#ifndef CAPABILITY
#define CAPABILITY(x) SIDEWAL_THREAD_ANNOTATION(capability(x))
#endif
#ifndef SCOPED_CAPABILITY
#define SCOPED_CAPABILITY SIDEWAL_THREAD_ANNOTATION(scoped_lockable)
#endif
#ifndef GUARDED_BY
#define GUARDED_BY(x) SIDEWAL_THREAD_ANNOTATION(guarded_by(x))
#endif
#ifndef PT_GUARDED_BY
#define PT_GUARDED_BY(x) SIDEWAL_THREAD_ANNOTATION(pt_guarded_by(x))
#endif
#ifndef ACQUIRED_BEFORE
#define ACQUIRED_BEFORE(...) SIDEWAL_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#endif
#ifndef ACQUIRED_AFTER
#define ACQUIRED_AFTER(...) SIDEWAL_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#endif
#ifndef REQUIRES
#define REQUIRES(...) SIDEWAL_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#endif
#ifndef REQUIRES_SHARED
#define REQUIRES_SHARED(...) SIDEWAL_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#endif
#ifndef ACQUIRE
#define ACQUIRE(...) SIDEWAL_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#endif
#ifndef ACQUIRE_SHARED
#define ACQUIRE_SHARED(...) SIDEWAL_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#endif
#ifndef RELEASE
#define RELEASE(...) SIDEWAL_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#endif
#ifndef RELEASE_SHARED
#define RELEASE_SHARED(...) SIDEWAL_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#endif
#ifndef TRY_ACQUIRE
#define TRY_ACQUIRE(...) SIDEWAL_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#endif
#ifndef EXCLUDES
#define EXCLUDES(...) SIDEWAL_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#endif
#ifndef ASSERT_CAPABILITY
#define ASSERT_CAPABILITY(x) SIDEWAL_THREAD_ANNOTATION(assert_capability(x))
#endif
#ifndef RETURN_CAPABILITY
#define RETURN_CAPABILITY(x) SIDEWAL_THREAD_ANNOTATION(lock_returned(x))
#endif
#ifndef NO_THREAD_SAFETY_ANALYSIS
#define NO_THREAD_SAFETY_ANALYSIS SIDEWAL_THREAD_ANNOTATION(no_thread_safety_analysis)
#endif
