// UringBackend: the io_uring IoBackend, default wherever the kernel and the
// container's seccomp profile allow io_uring.
//
// Why io_uring here: a flush's two writes (its pages and their double-write
// slot) go to the device side by side in one submission, and a large write
// goes in pieces without a syscall each. The fdatasync after them is a plain
// fdatasync(2) on the calling thread, never an SQE (io_uring_backend.cc says
// why: an fsync SQE costs a kernel worker's wake-up per commit).
//
// Three rings, each with its own mutex (Ring::mu): one for the writes (write,
// write_and_sync, write2_and_sync, preallocate; normally only the flushing
// thread) and one
// for reads (any thread), so a reader never delays a commit, and one for an
// overlapped flush's bulk write, which start_write() leaves running while the
// flusher syncs the previous flush and finish_writes() reaps. Every other
// call submits, then reaps its own completions before releasing its ring,
// so no ring holds work belonging to another caller.
//
// Namespace operations (open, rename, sync_dir, ...) are plain syscalls from
// io_posix.h: they are rare and gain nothing from a ring.
#pragma once

#include <liburing.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "common/mutex.h"
#include "wal/io/io_backend.h"
#include "wal/io/io_posix.h"

namespace sidewal::wal {

// Environment variable that makes probe_io_uring() fail, so the pwrite
// fallback can be exercised on a kernel that has io_uring: "1" disables.
inline constexpr const char* kDisableIoUringEnv = "SIDEWAL_DISABLE_IO_URING";

// Whether io_uring is usable here: ring setup, the opcodes the backend needs
// (READ, WRITE), and one NOP submitted and completed (a seccomp filter
// may allow io_uring_setup yet block io_uring_enter). The error says why not.
Status probe_io_uring();

class UringBackend final : public IoBackend {
 public:
  // Sets up the rings and runs the same checks as probe_io_uring().
  // `max_bytes_per_submission` caps each read/write SQE (tests use it to force
  // the short-completion path; keep it a multiple of 4096).
  static Result<std::unique_ptr<UringBackend>> create(
      size_t max_bytes_per_submission = std::numeric_limits<size_t>::max());
  ~UringBackend() override;

  const char* name() const override { return "io_uring"; }
  Result<size_t> direct_alignment(const std::string& dir) override;
  Result<FileHandle> open(const std::string& path, const OpenOptions& options) override;
  Status close(FileHandle file) override;
  Status preallocate_zeroed(FileHandle file, uint64_t bytes, ZeroFill fill) override;
  Status write(FileHandle file, uint64_t offset, const void* buf, size_t len) override;
  // The double-write flush: both writes side by side in one submission,
  // each finished when short or interrupted, then fdatasync(2).
  Status write2_and_sync(FileHandle file, uint64_t offset, const void* buf, size_t len,
                         uint64_t offset2, const void* buf2, size_t len2) override;
  Status write2(FileHandle file, uint64_t offset, const void* buf, size_t len, uint64_t offset2,
                const void* buf2, size_t len2) override;
  // Submitted on the async ring, reaped by finish_writes().
  Status start_write(FileHandle file, uint64_t offset, const void* buf, size_t len) override;
  Status finish_writes() override;
  Status read(FileHandle file, uint64_t offset, void* buf, size_t len, size_t* got) override;
  Status sync(FileHandle file) override;
  Result<uint64_t> file_size(FileHandle file) override;
  Status sync_dir(const std::string& dir) override;
  Status create_dir(const std::string& dir) override;
  Status remove(const std::string& path) override;
  Status rename(const std::string& from, const std::string& to) override;
  Result<std::vector<std::string>> list_dir(const std::string& dir) override;

  // One io_uring instance plus the lock that serialises its users.
  struct Ring {
    Mutex mu;
    struct io_uring ring GUARDED_BY(mu);
    bool initialised GUARDED_BY(mu) = false;
    // Set when a submission failed after SQEs were queued: the ring may still
    // hold them, so it is never used again.
    std::string broken GUARDED_BY(mu);
  };

 private:
  explicit UringBackend(size_t max_bytes_per_submission);
  Status lookup(FileHandle file, const char* op, posix::FileRef* info) const;
  Status write_locked(const posix::FileInfo& info, int fd, uint64_t offset, const uint8_t* buf,
                      size_t len) REQUIRES(write_ring_.mu);
  Status write2_ref(const posix::FileInfo& info, FileHandle file, uint64_t offset, const void* buf,
                    size_t len, uint64_t offset2, const void* buf2, size_t len2);

  // The write start_write() left running (one at most).
  struct Started {
    bool active = false;
    posix::FileRef ref;
    int fd = -1;
    uint64_t offset = 0;
    const uint8_t* buf = nullptr;
    size_t len = 0;
    size_t chunk = 0;  // submitted; the rest is written by finish_writes()
  };

  const size_t max_bytes_per_submission_;
  posix::FileTable files_;
  Ring write_ring_;
  Ring read_ring_;
  // The overlapped flush's bulk (start_write/finish_writes): its own ring, so
  // the SQE it leaves running never meets another caller's reaping.
  Ring async_ring_;
  Started started_ GUARDED_BY(async_ring_.mu);
};

}  // namespace sidewal::wal
