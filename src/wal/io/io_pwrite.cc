#include "wal/io/io_pwrite.h"

namespace sidewal::wal {

PwriteBackend::PwriteBackend(size_t max_bytes_per_syscall)
    : max_bytes_per_syscall_(max_bytes_per_syscall) {
  SW_ASSERT(max_bytes_per_syscall_ > 0);
}

Status PwriteBackend::lookup(FileHandle file, const char* op, posix::FileRef* info) const {
  if (!files_.get(file, info)) {
    return Status::InvalidArgument(std::string(op) + ": file handle " + std::to_string(file) +
                                   " is not open through the pwrite backend");
  }
  return Status::Ok();
}

Result<size_t> PwriteBackend::direct_alignment(const std::string& dir) {
  auto probe = posix::probe_direct_alignment(dir);
  if (!probe.ok()) return probe.status();
  return probe->alignment;
}

Result<FileHandle> PwriteBackend::open(const std::string& path, const OpenOptions& options) {
  return posix::open_file(files_, path, options);
}

Status PwriteBackend::close(FileHandle file) { return posix::close_file(files_, file); }

Status PwriteBackend::preallocate_zeroed(FileHandle file, uint64_t bytes, ZeroFill fill) {
  posix::FileRef ref;
  SIDEWAL_RETURN_IF_ERROR(lookup(file, "preallocate", &ref));
  const posix::FileInfo& info = *ref;
  return posix::preallocate_zeroed(
      info, file, bytes, fill,
      [&](uint64_t off, const void* buf, size_t len) {
        return posix::pwrite_all(info, file, off, buf, len, max_bytes_per_syscall_);
      },
      [&] { return posix::datasync(info, file); });
}

Status PwriteBackend::write(FileHandle file, uint64_t offset, const void* buf, size_t len) {
  posix::FileRef ref;
  SIDEWAL_RETURN_IF_ERROR(lookup(file, "write", &ref));
  const posix::FileInfo& info = *ref;
  return posix::pwrite_all(info, file, offset, buf, len, max_bytes_per_syscall_);
}

Status PwriteBackend::read(FileHandle file, uint64_t offset, void* buf, size_t len, size_t* got) {
  *got = 0;
  posix::FileRef ref;
  SIDEWAL_RETURN_IF_ERROR(lookup(file, "read", &ref));
  const posix::FileInfo& info = *ref;
  return posix::pread_all(info, file, offset, buf, len, got, max_bytes_per_syscall_);
}

Status PwriteBackend::sync(FileHandle file) {
  posix::FileRef ref;
  SIDEWAL_RETURN_IF_ERROR(lookup(file, "sync", &ref));
  const posix::FileInfo& info = *ref;
  return posix::datasync(info, file);
}

Result<uint64_t> PwriteBackend::file_size(FileHandle file) {
  posix::FileRef ref;
  SIDEWAL_RETURN_IF_ERROR(lookup(file, "file_size", &ref));
  const posix::FileInfo& info = *ref;
  return posix::file_size(info, file);
}

Status PwriteBackend::sync_dir(const std::string& dir) { return posix::sync_dir(dir); }
Status PwriteBackend::create_dir(const std::string& dir) { return posix::create_dir(dir); }
Status PwriteBackend::remove(const std::string& path) { return posix::remove_path(path); }
Status PwriteBackend::rename(const std::string& from, const std::string& to) {
  return posix::rename_path(from, to);
}
Result<std::vector<std::string>> PwriteBackend::list_dir(const std::string& dir) {
  return posix::list_dir(dir);
}

}  // namespace sidewal::wal
