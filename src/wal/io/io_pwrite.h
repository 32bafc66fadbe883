// PwriteBackend: the plain-syscall IoBackend (pwrite/pread/fdatasync). The
// fallback wherever io_uring is unavailable (old kernel, a seccomp profile
// that blocks io_uring_setup), chosen by make_backend(kAuto).
//
// Thread-safe: every call is an independent syscall on a descriptor; the only
// shared state is the descriptor table, which has its own mutex.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "wal/io/io_backend.h"
#include "wal/io/io_posix.h"

namespace sidewal::wal {

class PwriteBackend final : public IoBackend {
 public:
  // `max_bytes_per_syscall` caps each pwrite/pread (tests use it to force the
  // short-write resubmission path; keep it a multiple of 4096 so O_DIRECT
  // chunks stay aligned); production leaves it unlimited.
  explicit PwriteBackend(size_t max_bytes_per_syscall = std::numeric_limits<size_t>::max());
  ~PwriteBackend() override { files_.close_all(); }

  const char* name() const override { return "pwrite"; }
  Result<size_t> direct_alignment(const std::string& dir) override;
  Result<FileHandle> open(const std::string& path, const OpenOptions& options) override;
  Status close(FileHandle file) override;
  Status preallocate_zeroed(FileHandle file, uint64_t bytes, ZeroFill fill) override;
  Status write(FileHandle file, uint64_t offset, const void* buf, size_t len) override;
  Status read(FileHandle file, uint64_t offset, void* buf, size_t len, size_t* got) override;
  Status sync(FileHandle file) override;
  Result<uint64_t> file_size(FileHandle file) override;
  Status sync_dir(const std::string& dir) override;
  Status create_dir(const std::string& dir) override;
  Status remove(const std::string& path) override;
  Status rename(const std::string& from, const std::string& to) override;
  Result<std::vector<std::string>> list_dir(const std::string& dir) override;

 private:
  Status lookup(FileHandle file, const char* op, posix::FileRef* info) const;

  const size_t max_bytes_per_syscall_;
  posix::FileTable files_;
};

}  // namespace sidewal::wal
