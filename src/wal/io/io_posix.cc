#include "wal/io/io_posix.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "wal/io/aligned_buffer.h"

namespace sidewal::wal::posix {
namespace {

// A call that keeps making no progress (EAGAIN forever, a zero-byte write) is
// an I/O error after this many tries, not an endless loop.
constexpr int kMaxFruitlessRetries = 1000;
// preallocate_zeroed writes the zeros 1 MiB at a time and syncs after each
// chunk. It runs beside the log's flushes (the segment preparer makes the
// next segment while commits go on), and an fdatasync empties the device's
// whole volatile cache: a commit's sync that comes while the zeros are being
// written waits for every zero byte written and not yet synced. With the
// 64 MiB written back to back and one sync at the end, commits at 100,000
// appends/s (a new segment every ~5 s) waited up to ~100 ms at each
// rollover; with a sync per chunk, for at most one chunk (BENCHMARKS.md "The
// segment preparer's zeros and the commit tail"). 256 KiB chunks did no
// better for the tail and 4x the syncs cost 4-7 % at 64 x 16 in three
// alternated pairs.
constexpr size_t kZeroChunk = 1u << 20;
constexpr size_t kMaxProbeAlignment = 64u << 10;

std::string at(const FileInfo& info, uint64_t offset, size_t len) {
  return info.path + " offset " + std::to_string(offset) + " length " + std::to_string(len);
}

int open_retry(const char* path, int flags, mode_t mode) {
  int fd;
  do {
    fd = ::open(path, flags, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

// What the kernel says about direct I/O alignment for the open file `fd`.
// Returns kUnsupported when statx reports that the file cannot do direct I/O.
Status kernel_alignment(int fd, const std::string& path, AlignmentProbe* probe) {
  struct statx stx;
  std::memset(&stx, 0, sizeof stx);
#ifdef STATX_DIOALIGN
  if (::statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
      (stx.stx_mask & STATX_DIOALIGN) != 0) {
    if (stx.stx_dio_offset_align == 0) {
      return Status::Unsupported(path +
                                 ": the filesystem does not support O_DIRECT "
                                 "(statx reports no direct I/O alignment)");
    }
    probe->kernel_value = std::max<size_t>(stx.stx_dio_offset_align, stx.stx_dio_mem_align);
    probe->source = "statx STATX_DIOALIGN";
    return Status::Ok();
  }
#endif
  struct stat st;
  if (::fstat(fd, &st) == 0) {
    size_t lbs = sysfs_logical_block_size(st.st_dev);
    if (lbs > 0) {
      probe->kernel_value = lbs;
      probe->source = "sysfs logical_block_size";
      return Status::Ok();
    }
  }
  probe->kernel_value = 0;
  probe->source = "default (kernel reported nothing)";
  return Status::Ok();
}

Status unsupported_direct(const std::string& path, const char* what) {
  return Status::Unsupported(path + ": the filesystem does not support O_DIRECT (" + what +
                             "); sidewal needs direct I/O (ext4, xfs), not silent buffered I/O");
}

}  // namespace

size_t sysfs_logical_block_size(dev_t dev) {
  const std::string base =
      "/sys/dev/block/" + std::to_string(major(dev)) + ":" + std::to_string(minor(dev));
  // A partition has no queue/ of its own; its parent disk's applies.
  for (const char* rel : {"/queue/logical_block_size", "/../queue/logical_block_size"}) {
    std::ifstream in(base + rel);
    size_t v = 0;
    if (in >> v && v > 0) return v;
  }
  return 0;
}

// ---- FileTable ----

void FileTable::add(int fd, FileInfo info) {
  auto ref = std::make_shared<const FileInfo>(std::move(info));
  MutexLock lock(mu_);
  files_[fd] = std::move(ref);
}

bool FileTable::remove(int fd, FileRef* out) {
  MutexLock lock(mu_);
  auto it = files_.find(fd);
  if (it == files_.end()) return false;
  if (out) *out = std::move(it->second);
  files_.erase(it);
  return true;
}

bool FileTable::get(int fd, FileRef* out) const {
  MutexLock lock(mu_);
  auto it = files_.find(fd);
  if (it == files_.end()) return false;
  *out = it->second;
  return true;
}

void FileTable::close_all() {
  MutexLock lock(mu_);
  for (const auto& [fd, info] : files_) ::close(fd);
  files_.clear();
}

// ---- data path ----

Status check_direct(const FileInfo& info, uint64_t offset, const void* buf, size_t len,
                    const char* op) {
  if (!info.direct) return Status::Ok();
  const size_t a = info.alignment;
  const auto addr = reinterpret_cast<uintptr_t>(buf);
  if (offset % a != 0 || len % a != 0 || addr % a != 0) {
    return Status::InvalidArgument(std::string(op) + " " + at(info, offset, len) +
                                   ": O_DIRECT needs offset, length and buffer address "
                                   "aligned to " +
                                   std::to_string(a) + " bytes (buffer % " + std::to_string(a) +
                                   " = " + std::to_string(addr % a) + ")");
  }
  return Status::Ok();
}

Result<FileHandle> open_file(FileTable& table, const std::string& path,
                             const OpenOptions& options) {
  int flags = O_CLOEXEC | (options.writable ? O_RDWR : O_RDONLY);
  if (options.create) flags |= O_CREAT;
  if (options.exclusive) flags |= O_EXCL;
  if (options.direct) flags |= O_DIRECT;
  if (options.dsync) flags |= O_DSYNC;
  int fd = open_retry(path.c_str(), flags, 0644);
  if (fd < 0) {
    int err = errno;
    if (err == EINVAL && options.direct) return unsupported_direct(path, "open gave EINVAL");
    return Status::FromErrno(err, "open " + path);
  }
  FileInfo info{path, options.direct, 1};
  if (options.direct) {
    AlignmentProbe probe;
    Status st = kernel_alignment(fd, path, &probe);
    if (!st.ok()) {
      ::close(fd);
      return st;
    }
    info.alignment = std::max(kMinDirectAlignment, probe.kernel_value);
  }
  table.add(fd, std::move(info));
  return fd;
}

Status close_file(FileTable& table, FileHandle fd) {
  FileRef info;
  if (!table.remove(fd, &info)) {
    return Status::InvalidArgument("close: file handle " + std::to_string(fd) +
                                   " is not open through this backend");
  }
  // close() is not retried on EINTR: Linux releases the descriptor either way.
  if (::close(fd) != 0 && errno != EINTR) return Status::FromErrno(errno, "close " + info->path);
  return Status::Ok();
}

Status pwrite_all(const FileInfo& info, int fd, uint64_t offset, const void* buf, size_t len,
                  size_t max_bytes_per_syscall) {
  SIDEWAL_RETURN_IF_ERROR(check_direct(info, offset, buf, len, "pwrite"));
  const auto* p = static_cast<const uint8_t*>(buf);
  size_t done = 0;
  int fruitless = 0;
  while (done < len) {
    size_t chunk = std::min(len - done, max_bytes_per_syscall);
    ssize_t n = ::pwrite(fd, p + done, chunk, static_cast<off_t>(offset + done));
    if (n < 0) {
      int err = errno;
      if ((err == EINTR || err == EAGAIN) && ++fruitless < kMaxFruitlessRetries) {
        if (err == EAGAIN) sched_yield();
        continue;
      }
      return Status::FromErrno(err, "pwrite " + at(info, offset + done, chunk));
    }
    size_t before = done;
    done += static_cast<size_t>(n);
    // O_DIRECT cannot resume mid-block: go back to the boundary and rewrite
    // the partial block from the same buffer.
    if (info.direct && done < len) done -= done % info.alignment;
    if (done > before) {
      fruitless = 0;
    } else if (++fruitless >= kMaxFruitlessRetries) {
      return Status::IoError("pwrite " + at(info, offset + done, len - done) +
                             ": no progress after " + std::to_string(kMaxFruitlessRetries) +
                             " short writes");
    }
  }
  return Status::Ok();
}

Status pread_all(const FileInfo& info, int fd, uint64_t offset, void* buf, size_t len, size_t* got,
                 size_t max_bytes_per_syscall) {
  *got = 0;
  SIDEWAL_RETURN_IF_ERROR(check_direct(info, offset, buf, len, "pread"));
  auto* p = static_cast<uint8_t*>(buf);
  size_t done = 0;
  int fruitless = 0;
  while (done < len) {
    size_t chunk = std::min(len - done, max_bytes_per_syscall);
    ssize_t n = ::pread(fd, p + done, chunk, static_cast<off_t>(offset + done));
    if (n < 0) {
      int err = errno;
      if ((err == EINTR || err == EAGAIN) && ++fruitless < kMaxFruitlessRetries) continue;
      return Status::FromErrno(err, "pread " + at(info, offset + done, chunk));
    }
    if (n == 0) break;  // end of file
    size_t before = done;
    done += static_cast<size_t>(n);
    if (static_cast<size_t>(n) < chunk) {
      // Short read: end of file, or a short transfer to resume.
      struct stat st;
      if (::fstat(fd, &st) != 0) return Status::FromErrno(errno, "fstat " + info.path);
      if (offset + done >= static_cast<uint64_t>(st.st_size)) break;
      if (info.direct) done -= done % info.alignment;
      if (done <= before && ++fruitless >= kMaxFruitlessRetries) {
        return Status::IoError("pread " + at(info, offset + done, len - done) +
                               ": no progress after repeated short reads");
      }
    }
  }
  *got = done;
  return Status::Ok();
}

Status datasync(const FileInfo& info, int fd) {
  if (::fdatasync(fd) != 0) return Status::FromErrno(errno, "fdatasync " + info.path);
  return Status::Ok();
}

Result<uint64_t> file_size(const FileInfo& info, int fd) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return Status::FromErrno(errno, "fstat " + info.path);
  return static_cast<uint64_t>(st.st_size);
}

Status preallocate_zeroed(const FileInfo& info, int fd, uint64_t bytes, ZeroFill fill,
                          const WriteFn& write, const SyncFn& sync) {
  if (info.direct && bytes % info.alignment != 0) {
    return Status::InvalidArgument("preallocate " + info.path + ": " + std::to_string(bytes) +
                                   " bytes is not a multiple of the O_DIRECT alignment " +
                                   std::to_string(info.alignment));
  }
  if (bytes == 0) return sync();
  if (::fallocate(fd, 0, 0, static_cast<off_t>(bytes)) != 0) {
    int err = errno;
    // Some filesystems cannot fallocate; the zero writes below allocate anyway.
    if (err != EOPNOTSUPP && err != ENOSYS) {
      return Status::FromErrno(err,
                               "fallocate " + info.path + " " + std::to_string(bytes) + " bytes");
    }
  } else if (fill == ZeroFill::kReserve) {
    return sync();  // the allocation and the size, durable
  }
  AlignedBuffer zeros(std::max(info.alignment, kMinDirectAlignment), kZeroChunk);
  for (uint64_t off = 0; off < bytes; off += kZeroChunk) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(kZeroChunk, bytes - off));
    SIDEWAL_RETURN_IF_ERROR(write(off, zeros.data(), n));
    SIDEWAL_RETURN_IF_ERROR(sync());  // see kZeroChunk: no commit waits for more
  }
  return Status::Ok();
}

// ---- namespace ----

Status sync_dir(const std::string& dir) {
  int fd = open_retry(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno(errno, "open directory " + dir + " for fsync");
  Status st;
  if (::fsync(fd) != 0) st = Status::FromErrno(errno, "fsync directory " + dir);
  ::close(fd);
  return st;
}

Status create_dir(const std::string& dir) {
  if (dir.empty()) return Status::InvalidArgument("create_dir: empty path");
  // mkdir -p: each missing ancestor in turn.
  for (size_t pos = dir.find('/', 1);; pos = dir.find('/', pos + 1)) {
    std::string part = pos == std::string::npos ? dir : dir.substr(0, pos);
    if (!part.empty() && ::mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) {
      return Status::FromErrno(errno, "mkdir " + part);
    }
    if (pos == std::string::npos) break;
  }
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return Status::FromErrno(errno, "stat " + dir);
  if (!S_ISDIR(st.st_mode)) {
    return Status::InvalidArgument("create_dir " + dir + ": exists and is not a directory");
  }
  return Status::Ok();
}

Status remove_path(const std::string& path) {
  if (::unlink(path.c_str()) != 0) return Status::FromErrno(errno, "unlink " + path);
  return Status::Ok();
}

Status rename_path(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return Status::FromErrno(errno, "rename " + from + " to " + to);
  }
  return Status::Ok();
}

Result<std::vector<std::string>> list_dir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return Status::FromErrno(errno, "opendir " + dir);
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    names.emplace_back(e->d_name);
  }
  int err = errno;
  ::closedir(d);
  if (err != 0) return Status::FromErrno(err, "readdir " + dir);
  std::sort(names.begin(), names.end());
  return names;
}

// ---- alignment probe ----

Result<AlignmentProbe> probe_direct_alignment(const std::string& dir) {
  AlignmentProbe probe;
  // An O_TMPFILE has no name: probing leaves nothing behind, even on a crash.
  int fd = open_retry(dir.c_str(), O_TMPFILE | O_RDWR | O_DIRECT | O_CLOEXEC, 0600);
  if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR)) {
    static std::atomic<uint64_t> counter{0};
    std::string name = dir + "/.sidewal-dio-probe-" + std::to_string(::getpid()) + "-" +
                       std::to_string(counter.fetch_add(1));
    fd = open_retry(name.c_str(), O_CREAT | O_EXCL | O_RDWR | O_DIRECT | O_CLOEXEC, 0600);
    if (fd >= 0) ::unlink(name.c_str());
  }
  if (fd < 0) {
    int err = errno;
    if (err == EINVAL) return unsupported_direct(dir, "open with O_DIRECT gave EINVAL");
    if (err != EROFS && err != EACCES && err != EPERM) {
      return Status::FromErrno(err, "probe O_DIRECT alignment in " + dir);
    }
    // Read-only directory (offline inspection): ask about the directory itself.
    int dfd = open_retry(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (dfd < 0) return Status::FromErrno(errno, "open directory " + dir);
    Status st = kernel_alignment(dfd, dir, &probe);
    ::close(dfd);
    SIDEWAL_RETURN_IF_ERROR(st);
    probe.alignment = std::max(kMinDirectAlignment, probe.kernel_value);
    probe.source += " (read-only directory, not confirmed by a write)";
    return probe;
  }
  Status st = kernel_alignment(fd, dir, &probe);
  if (!st.ok()) {
    ::close(fd);
    return st;
  }
  // Confirm with a real aligned O_DIRECT write; a device whose block is larger
  // than what was reported answers EINVAL, so try the next power of two.
  for (size_t a = std::max(kMinDirectAlignment, probe.kernel_value); a <= kMaxProbeAlignment;
       a *= 2) {
    AlignedBuffer block(a, a);
    ssize_t n;
    do {
      n = ::pwrite(fd, block.data(), a, 0);
    } while (n < 0 && errno == EINTR);
    if (n == static_cast<ssize_t>(a)) {
      ::close(fd);
      probe.alignment = a;
      return probe;
    }
    int err = n < 0 ? errno : EIO;
    if (err != EINVAL) {
      ::close(fd);
      return Status::FromErrno(err,
                               "probe O_DIRECT write of " + std::to_string(a) + " bytes in " + dir);
    }
  }
  ::close(fd);
  return unsupported_direct(dir, "no aligned O_DIRECT write up to 64 KiB succeeded");
}

}  // namespace sidewal::wal::posix
