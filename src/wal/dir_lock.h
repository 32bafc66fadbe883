// DirLock: one writer per log directory (docs/format.md "Directory", the
// LOCK file; docs/operations.md "One writer per data directory").
//
// An open file description lock (fcntl F_OFD_SETLK, whole file) on
// `<dir>/LOCK`, as RocksDB (LOCK), etcd (flock) and PostgreSQL
// (postmaster.pid) lock their data directories before touching them:
//   - exclusive: the writer (Wal::open, the daemon before it binds anything).
//     Creates the directory and the LOCK file when missing, takes the lock,
//     then writes "<pid>\n<hostname>\n" into the file so a refused second
//     writer can name the holder. Nothing in the directory is written, and
//     the file's bytes are not touched, before the lock is held.
//   - shared: the offline readers (`sidewal verify`, `sidewal dump`). Opens
//     LOCK read-only and creates nothing (a reader may run on a read-only
//     mount); no LOCK file gives NotFound.
// The kernel owns the lock, not the file: it goes away when the holder's
// descriptor is closed, including by kill -9, so a LOCK file left behind (a
// stale pid in it) never blocks anyone. OFD locks conflict between two
// opens even in one process, so a second Wal on the same directory in the
// same process is refused too. The descriptor is O_CLOEXEC; a fork()ed child
// would share it (and the lock) until it exits or execs.
//
// Release (destructor): an exclusive holder first empties the file (it still
// holds the lock, so the bytes are its own), so a LOCK file with a pid in it
// and no holder means the last holder did not exit cleanly.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"

namespace sidewal::wal {

// Who holds a lock that refused us, as far as can be told. The pid (and host)
// are what the exclusive holder wrote into the file: numbers of its PID
// namespace and its hostname (the pod's name under Kubernetes).
struct LockHolder {
  bool exclusive = false;  // a writer (a sidewald); false: shared readers
  int64_t pid = 0;         // 0 when unknown (not written yet, or a reader)
  std::string host;        // empty when unknown
};

class DirLock {
 public:
  enum class Mode { kShared, kExclusive };

  // The lock file's name inside the directory. Not part of the log: recovery
  // and the readers ignore it like every other name that is not a segment.
  static constexpr const char* kFileName = "LOCK";

  // Takes the lock without waiting. A conflicting holder gives kBusy, whose
  // message names the directory and, when known, the holder's pid and host;
  // *holder (may be null) says the same for the caller. Filesystems without
  // lock support give kUnsupported (the caller decides; the engine refuses).
  static Result<std::unique_ptr<DirLock>> acquire(const std::string& dir, Mode mode,
                                                  LockHolder* holder = nullptr);

  ~DirLock();
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

  Mode mode() const { return mode_; }
  const std::string& dir() const { return dir_; }
  std::string path() const;  // dir/LOCK

  // True when `dir` is the directory this lock was taken on (same device and
  // inode, whatever the spelling of the path).
  bool covers(const std::string& dir) const;

 private:
  DirLock(std::string dir, Mode mode, int fd, dev_t dev, ino_t ino)
      : dir_(std::move(dir)), mode_(mode), fd_(fd), dev_(dev), ino_(ino) {}

  const std::string dir_;
  const Mode mode_;
  const int fd_;     // open file description holding the lock; closed on release
  const dev_t dev_;  // of the directory
  const ino_t ino_;
};

// "pid 1234, host sw-0" / "pid 1234" / "pid unknown": for messages.
std::string describe_holder(const LockHolder& h);

}  // namespace sidewal::wal
