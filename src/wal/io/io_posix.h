// POSIX building blocks shared by the real backends (PwriteBackend and
// UringBackend): opening files with O_DIRECT/O_DSYNC, the directory namespace
// operations, the direct-I/O alignment probe, and the bookkeeping that lets
// every error message name the file it is about.
//
// Nothing here is io_uring specific; UringBackend only replaces the data path
// (write, write_and_sync, read, sync) and reuses the rest.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"
#include "wal/io/io_backend.h"

namespace sidewal::wal::posix {

// The smallest alignment the log ever uses, even on 512-byte devices: every
// write is a whole 4 KiB page (docs/format.md).
constexpr size_t kMinDirectAlignment = 4096;

// What we remember about an open descriptor: its path (for messages) and, for
// O_DIRECT files, the alignment every offset, length and buffer must meet.
struct FileInfo {
  std::string path;
  bool direct = false;
  size_t alignment = 1;  // 1 for buffered files; >= 4096 for direct ones
};

// Shared and immutable, so a lookup on the I/O path copies a pointer, not a
// path string (no allocation per write).
using FileRef = std::shared_ptr<const FileInfo>;

// fd -> FileInfo, shared by all threads of one backend. Lookups happen once
// per I/O; the map is tiny (a handful of open segments).
class FileTable {
 public:
  void add(int fd, FileInfo info);
  // Removes and returns the entry; false when `fd` is not open here.
  bool remove(int fd, FileRef* out);
  // False when `fd` is not open through this backend.
  bool get(int fd, FileRef* out) const;
  // Closes every descriptor still open (a backend's destructor: a handle the
  // caller forgot must not leak a descriptor in a long-running daemon).
  void close_all();

 private:
  mutable Mutex mu_;
  std::unordered_map<int, FileRef> files_ GUARDED_BY(mu_);
};

// Checks the O_DIRECT rules the kernel enforces (offset, length and buffer
// address multiples of the alignment) before the syscall, so the error names
// the file and the offending value instead of a bare EINVAL.
Status check_direct(const FileInfo& info, uint64_t offset, const void* buf, size_t len,
                    const char* op);

// open(2) with O_DIRECT/O_DSYNC/O_CREAT/O_EXCL as asked. A filesystem that
// refuses O_DIRECT gives kUnsupported naming the path (never a silent
// fallback to buffered I/O). Records the file in `table`.
Result<FileHandle> open_file(FileTable& table, const std::string& path, const OpenOptions& options);
Status close_file(FileTable& table, FileHandle fd);

// pwrite(2) until all `len` bytes are written. Short writes, EINTR and EAGAIN
// are resubmitted for the rest; a short write that ends off an alignment
// boundary on a direct file is resumed from the boundary below (rewriting the
// same bytes is harmless). `max_bytes_per_syscall` caps each call: a test hook
// that forces the short-write path.
Status pwrite_all(const FileInfo& info, int fd, uint64_t offset, const void* buf, size_t len,
                  size_t max_bytes_per_syscall);
// pread(2) until `len` bytes or end of file; *got says how many.
Status pread_all(const FileInfo& info, int fd, uint64_t offset, void* buf, size_t len, size_t* got,
                 size_t max_bytes_per_syscall);
// fdatasync(2). Never retried: after a failure Linux may have dropped the
// dirty pages, so a second call could succeed without the data on disk.
Status datasync(const FileInfo& info, int fd);

Result<uint64_t> file_size(const FileInfo& info, int fd);

// Writes zeros over [0, bytes) in 1 MiB aligned chunks through `write` and
// makes them durable through `sync`. fallocate first (for contiguous extents
// and an early ENOSPC), then real zero writes (each chunk synced before the
// next is written, so a concurrent fdatasync never waits for more than one
// chunk of them), because fallocate alone leaves
// unwritten extents whose first overwrite makes fdatasync journal metadata
// (ZeroFill::kReserve stops after a successful fallocate).
// For a direct file, `bytes` must be a multiple of its alignment.
using WriteFn = std::function<Status(uint64_t offset, const void* buf, size_t len)>;
using SyncFn = std::function<Status()>;
Status preallocate_zeroed(const FileInfo& info, int fd, uint64_t bytes, ZeroFill fill,
                          const WriteFn& write, const SyncFn& sync);

// Namespace operations (see IoBackend).
Status sync_dir(const std::string& dir);
Status create_dir(const std::string& dir);
Status remove_path(const std::string& path);
Status rename_path(const std::string& from, const std::string& to);
Result<std::vector<std::string>> list_dir(const std::string& dir);

// Logical block size of the block device `dev` (a stat st_dev) from
// /sys/dev/block/MAJ:MIN/queue/logical_block_size, or its parent disk's for a
// partition; 0 when the device has no sysfs entry (tmpfs, overlayfs). The
// fallback when statx has no STATX_DIOALIGN.
size_t sysfs_logical_block_size(dev_t dev);

// How direct_alignment() decided, for logs and tests.
struct AlignmentProbe {
  size_t alignment = 0;     // what the log must use: >= kMinDirectAlignment
  size_t kernel_value = 0;  // what the kernel or the device reported (0: nothing)
  std::string source;       // "statx STATX_DIOALIGN", "sysfs logical_block_size", ...
};

// Probes `dir`: opens an anonymous O_TMPFILE (or, where the filesystem lacks
// it, a uniquely named file removed at once) with O_DIRECT, asks statx for
// STATX_DIOALIGN, else reads /sys/dev/block/MAJ:MIN/queue/logical_block_size,
// and confirms with one aligned O_DIRECT write. kUnsupported, naming the
// directory, when the filesystem refuses O_DIRECT.
Result<AlignmentProbe> probe_direct_alignment(const std::string& dir);

}  // namespace sidewal::wal::posix
