// IoBackend: the one seam between the log and the operating system.
//
// Every byte the log writes or reads, every file it creates, renames, removes
// or syncs, and every directory it fsyncs goes through this interface. Two
// implementations here, and a test double:
//   - UringBackend  (io_uring; default where the kernel and seccomp allow it)
//   - PwriteBackend (pwrite/pread/fdatasync; fallback, chosen automatically
//                    when io_uring setup fails)
//   - SimDisk       (src/testing/sim_disk.h, linked by tests only: in-memory,
//                    deterministic; crash after the k-th I/O, tear a write at
//                    a 512-byte boundary, drop unflushed writes, fail a write
//                    or a flush with EIO/ENOSPC)
//
// Contract for every implementation:
//   - write() writes all `len` bytes or returns an error. Short writes, EINTR
//     and EAGAIN are resubmitted for the remaining bytes, never reported as
//     success.
//   - For files opened with direct=true, offset, len and the buffer address
//     are multiples of alignment(); every backend checks this before the I/O
//     and returns kInvalidArgument naming the file (as the kernel's EINVAL
//     would), so a misaligned write fails the log instead of reaching disk.
//   - Nothing written is durable until sync() of that file returns Ok; a file
//     created, renamed or removed is durable only after sync_dir() of its
//     directory returns Ok.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace sidewal::wal {

// Opaque handle to an open file; valid until close().
using FileHandle = int;

enum class BackendKind : uint8_t { kAuto, kUring, kPwrite };

struct OpenOptions {
  bool create = false;     // create if missing (O_CREAT)
  bool exclusive = false;  // fail if it exists (O_EXCL)
  bool writable = true;
  bool direct = true;  // O_DIRECT; refused filesystems give kUnsupported
  bool dsync = false;  // O_DSYNC: each write is durable on return
};

// How preallocate_zeroed makes a file read as zeros (see there).
enum class ZeroFill { kWrite, kReserve };

class IoBackend {
 public:
  virtual ~IoBackend() = default;

  // "io_uring", "pwrite" or "sim": logged at start and exported as a metric label.
  virtual const char* name() const = 0;

  // Alignment required for O_DIRECT offsets, lengths and buffers in `dir`:
  // the larger of 4096 and what the kernel reports (statx STATX_DIOALIGN, else
  // the block device's logical block size). kUnsupported, with a clear
  // message, when `dir` cannot do O_DIRECT at all.
  virtual Result<size_t> direct_alignment(const std::string& dir) = 0;

  virtual Result<FileHandle> open(const std::string& path, const OpenOptions& options) = 0;
  virtual Status close(FileHandle file) = 0;

  // Makes [0, bytes) read as zeros, allocated, and durable. kWrite writes the
  // zeros, so later overwrites need no metadata journalling on fdatasync
  // (written extents); kReserve only allocates (fallocate: unwritten extents
  // read as zeros, and the fdatasync after the first write into one also
  // commits its conversion), which costs no device writes now. Filesystems
  // without fallocate get zeros written either way.
  virtual Status preallocate_zeroed(FileHandle file, uint64_t bytes, ZeroFill fill) = 0;

  virtual Status write(FileHandle file, uint64_t offset, const void* buf, size_t len) = 0;
  // One write followed by a data sync of the same file: write() then sync()
  // (no backend needs more; io_uring's sync is fdatasync(2) on this thread).
  virtual Status write_and_sync(FileHandle file, uint64_t offset, const void* buf, size_t len) {
    SIDEWAL_RETURN_IF_ERROR(write(file, offset, buf, len));
    return sync(file);
  }
  // Two writes of the same file, then one data sync: a flush and its
  // double-write slot (docs/format.md "Double-write buffer"). The two writes
  // may reach the media in either order; nothing is durable before the sync
  // returns. io_uring submits the two writes unlinked in one submission,
  // reaps both, then calls fdatasync(2) on this thread. Default: write(),
  // write(), sync().
  virtual Status write2_and_sync(FileHandle file, uint64_t offset, const void* buf, size_t len,
                                 uint64_t offset2, const void* buf2, size_t len2) {
    SIDEWAL_RETURN_IF_ERROR(write(file, offset, buf, len));
    SIDEWAL_RETURN_IF_ERROR(write(file, offset2, buf2, len2));
    return sync(file);
  }
  // The two writes of write2_and_sync without the sync: the flusher calls
  // sync() itself once it has started the next flush's bulk
  // (docs/format.md "Overlapped flushes"). Default: write(), write().
  virtual Status write2(FileHandle file, uint64_t offset, const void* buf, size_t len,
                        uint64_t offset2, const void* buf2, size_t len2) {
    SIDEWAL_RETURN_IF_ERROR(write(file, offset, buf, len));
    return write(file, offset2, buf2, len2);
  }
  // A write that may still run when the call returns: finish_writes() waits
  // for it and reports its outcome (the first error, with the file and the
  // range). At most one is outstanding, started and finished by the same
  // caller (the flush-token holder); `buf` stays untouched until
  // finish_writes() returns. Like any write it is durable only after a sync
  // issued once finish_writes() returned Ok. io_uring submits it and returns
  // (an O_DIRECT write needs no kernel worker); the default writes now and
  // keeps the status for finish_writes(), so every backend (and SimDisk's
  // step numbering) sees the same order of writes and syncs.
  virtual Status start_write(FileHandle file, uint64_t offset, const void* buf, size_t len) {
    started_write_ = write(file, offset, buf, len);
    return Status::Ok();
  }
  virtual Status finish_writes() {
    Status st = std::move(started_write_);
    started_write_ = Status::Ok();
    return st;
  }
  // Reads up to `len` bytes; *got < len only at end of file.
  virtual Status read(FileHandle file, uint64_t offset, void* buf, size_t len, size_t* got) = 0;
  virtual Status sync(FileHandle file) = 0;  // fdatasync
  virtual Result<uint64_t> file_size(FileHandle file) = 0;

  // Namespace operations.
  virtual Status sync_dir(const std::string& dir) = 0;
  virtual Status create_dir(const std::string& dir) = 0;  // ok if it exists
  virtual Status remove(const std::string& path) = 0;
  virtual Status rename(const std::string& from, const std::string& to) = 0;
  virtual Result<std::vector<std::string>> list_dir(const std::string& dir) = 0;  // names only

 private:
  Status started_write_;  // the default start_write's outcome, until finish_writes()
};

// Builds the backend for `kind`. kAuto probes io_uring (setup plus one no-op
// submission, so a seccomp filter that blocks io_uring_enter is caught) and
// falls back to pwrite; *why says which one runs and why. kUring returns
// nullptr (with *why saying why) when io_uring is unavailable. Setting the
// environment variable SIDEWAL_DISABLE_IO_URING=1 makes the probe fail, so
// the fallback path can be exercised on the real binary.
std::unique_ptr<IoBackend> make_backend(BackendKind kind, std::string* why);

}  // namespace sidewal::wal
