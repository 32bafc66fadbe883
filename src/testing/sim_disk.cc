// SimDisk's IoBackend data operations (sim_disk.h): open, close, write,
// sync, preallocate, read and size over the file table, each mutating call a
// numbered step the fault plan decides (sim_disk_faults.cc). The namespace
// operations are sim_disk_namespace.cc.
#include "testing/sim_disk.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace sidewal::wal {
namespace {

std::string range(const std::string& path, uint64_t offset, size_t len) {
  return path + " offset " + std::to_string(offset) + " length " + std::to_string(len);
}

}  // namespace

SimDisk::SimDisk(uint64_t seed, CrashModel model) : rng_(seed), model_(model) {
  volatile_ns_.dirs.insert("/");
  durable_ns_.dirs.insert("/");
}

// ---- internals ----

std::string SimDisk::normalize(const std::string& path) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    std::string part = path.substr(i, j - i);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(std::move(part));
    }
    i = j + 1;
  }
  std::string out;
  for (const auto& p : parts) out += "/" + p;
  return out.empty() ? "/" : out;
}

uint64_t SimDisk::sectors_of(size_t len) { return (len + kSectorBytes - 1) / kSectorBytes; }

Status SimDisk::lookup(FileHandle file, const char* op, Handle** out) {
  auto it = handles_.find(file);
  if (it == handles_.end()) {
    return Status::InvalidArgument(std::string(op) + ": file handle " + std::to_string(file) +
                                   " is not open on this SimDisk (closed, or stale after "
                                   "restart())");
  }
  *out = &it->second;
  return Status::Ok();
}

Status SimDisk::check_direct(const Handle& h, uint64_t offset, const void* buf, size_t len,
                             const char* op) const {
  if (!h.direct) return Status::Ok();
  const auto addr = reinterpret_cast<uintptr_t>(buf);
  if (offset % alignment_ != 0 || len % alignment_ != 0 || addr % alignment_ != 0) {
    return Status::InvalidArgument(std::string(op) + " " + range(h.path, offset, len) +
                                   ": O_DIRECT needs offset, length and buffer address "
                                   "aligned to " +
                                   std::to_string(alignment_) + " bytes (buffer % " +
                                   std::to_string(alignment_) + " = " +
                                   std::to_string(addr % alignment_) + ")");
  }
  return Status::Ok();
}

void SimDisk::apply_durable(Inode& inode, const Pending& p, size_t bytes) {
  if (inode.durable.size() < p.offset + bytes) inode.durable.resize(p.offset + bytes, 0);
  std::memcpy(inode.durable.data() + p.offset, p.data.data(), bytes);
}

Status SimDisk::do_write(Handle& h, uint64_t offset, const uint8_t* buf, size_t len,
                         const char* op) {
  const std::string what = std::string(op) + " " + range(h.path, offset, len);
  Step s = take_step(StepKind::kWrite, "write", h.path, offset, len);
  Inode& inode = inodes_[h.inode];
  Pending p{offset, std::vector<uint8_t>(buf, buf + len), std::nullopt, false, next_seq_++};
  if (s.tear_later || s.outcome == Step::kTear) {
    p.forced_sectors = static_cast<uint32_t>(std::min<uint64_t>(s.tear_sectors, sectors_of(len)));
    p.garbage = s.garbage;
  }
  Status st;
  switch (s.outcome) {
    case Step::kFail: st = Status::FromErrno(s.err, what); break;
    case Step::kTear: [[fallthrough]];
    case Step::kCrash:
      // In flight when power failed: restart() decides how much landed.
      inode.pending.push_back(std::move(p));
      st = crash_status(what);
      break;
    case Step::kProceed:
      if (inode.cache.size() < offset + len) inode.cache.resize(offset + len, 0);
      std::memcpy(inode.cache.data() + offset, buf, len);
      // A rewritten sector is remapped by the drive: its latent error is gone.
      for (uint64_t sec = (offset + kSectorBytes - 1) / kSectorBytes;
           (sec + 1) * kSectorBytes <= offset + len; ++sec) {
        inode.bad_sectors.erase(sec);
      }
      if (h.dsync) {
        apply_durable(inode, p, len);  // durable on return: a later tear plan is moot
      } else {
        inode.pending.push_back(std::move(p));
      }
      break;
  }
  record(s, what, st);
  return st;
}

Status SimDisk::do_sync(Handle& h, const char* op) {
  const std::string what = std::string(op) + " " + h.path;
  Step s = take_step(StepKind::kOther, "fdatasync", h.path);
  Inode& inode = inodes_[h.inode];
  Status st;
  switch (s.outcome) {
    case Step::kFail:
      // Linux: the failed writeback's pages are marked clean; the data stays
      // readable in the cache but no later fsync will ever write it.
      inode.pending.clear();
      st = Status::FromErrno(s.err, what);
      break;
    case Step::kCrash:
    case Step::kTear: st = crash_status(what); break;
    case Step::kProceed:
      for (const Pending& p : inode.pending) apply_durable(inode, p, p.data.size());
      inode.pending.clear();
      break;
  }
  record(s, what, st);
  return st;
}

// ---- IoBackend: data ----

Result<size_t> SimDisk::direct_alignment(const std::string& dir) {
  MutexLock lock(mu_);
  if (crashed_) return crash_status("direct_alignment " + dir);
  if (!dir_exists(volatile_ns_, normalize(dir))) {
    return Status::FromErrno(ENOENT, "probe O_DIRECT alignment in " + dir);
  }
  if (refuse_direct_) {
    return Status::Unsupported(dir +
                               ": the filesystem does not support O_DIRECT (simulated: "
                               "SimDisk::refuse_direct)");
  }
  return alignment_;
}

Result<FileHandle> SimDisk::open(const std::string& path, const OpenOptions& options) {
  MutexLock lock(mu_);
  const std::string what = "open " + path;
  if (crashed_) return crash_status(what);
  if (options.direct && refuse_direct_) {
    return Status::Unsupported(path +
                               ": the filesystem does not support O_DIRECT (simulated: "
                               "SimDisk::refuse_direct)");
  }
  const std::string norm = normalize(path);
  if (options.create) {
    Step s = take_step(StepKind::kOther, "open", path);
    Status st;
    if (s.outcome == Step::kFail) st = Status::FromErrno(s.err, what);
    if (s.outcome == Step::kCrash || s.outcome == Step::kTear) st = crash_status(what);
    record(s, what + " (create)", st);
    if (!st.ok()) return st;
  }
  if (dir_exists(volatile_ns_, norm)) return Status::FromErrno(EISDIR, what);
  uint64_t id;
  auto it = volatile_ns_.files.find(norm);
  if (it != volatile_ns_.files.end()) {
    if (options.create && options.exclusive) return Status::FromErrno(EEXIST, what);
    id = it->second;
  } else {
    if (!options.create) return Status::FromErrno(ENOENT, what);
    if (!dir_exists(volatile_ns_, parent_of(norm))) return Status::FromErrno(ENOENT, what);
    id = next_inode_++;
    inodes_[id];
    volatile_ns_.files[norm] = id;
  }
  FileHandle h = next_handle_++;
  handles_[h] = Handle{id, path, options.writable, options.direct, options.dsync};
  return h;
}

Status SimDisk::close(FileHandle file) {
  MutexLock lock(mu_);
  // Allowed after a crash: a dying process still closes its descriptors.
  if (handles_.erase(file) == 0) {
    return Status::InvalidArgument("close: file handle " + std::to_string(file) +
                                   " is not open on this SimDisk");
  }
  return Status::Ok();
}

Status SimDisk::write(FileHandle file, uint64_t offset, const void* buf, size_t len) {
  MutexLock lock(mu_);
  Handle* h = nullptr;
  SIDEWAL_RETURN_IF_ERROR(lookup(file, "write", &h));
  if (crashed_) return crash_status("write " + range(h->path, offset, len));
  SIDEWAL_RETURN_IF_ERROR(check_direct(*h, offset, buf, len, "write"));
  if (!h->writable) return Status::FromErrno(EBADF, "write " + range(h->path, offset, len));
  return do_write(*h, offset, static_cast<const uint8_t*>(buf), len, "write");
}

Status SimDisk::write_and_sync(FileHandle file, uint64_t offset, const void* buf, size_t len) {
  MutexLock lock(mu_);
  Handle* h = nullptr;
  SIDEWAL_RETURN_IF_ERROR(lookup(file, "write_and_sync", &h));
  if (crashed_) return crash_status("write_and_sync " + range(h->path, offset, len));
  SIDEWAL_RETURN_IF_ERROR(check_direct(*h, offset, buf, len, "write_and_sync"));
  if (!h->writable) return Status::FromErrno(EBADF, "write " + range(h->path, offset, len));
  SIDEWAL_RETURN_IF_ERROR(do_write(*h, offset, static_cast<const uint8_t*>(buf), len, "write"));
  return do_sync(*h, "fdatasync");
}

Status SimDisk::write2_and_sync(FileHandle file, uint64_t offset, const void* buf, size_t len,
                                uint64_t offset2, const void* buf2, size_t len2) {
  MutexLock lock(mu_);
  Handle* h = nullptr;
  SIDEWAL_RETURN_IF_ERROR(lookup(file, "write2_and_sync", &h));
  if (crashed_) return crash_status("write2_and_sync " + range(h->path, offset, len));
  SIDEWAL_RETURN_IF_ERROR(check_direct(*h, offset, buf, len, "write2_and_sync"));
  SIDEWAL_RETURN_IF_ERROR(check_direct(*h, offset2, buf2, len2, "write2_and_sync"));
  if (!h->writable) return Status::FromErrno(EBADF, "write " + range(h->path, offset, len));
  SIDEWAL_RETURN_IF_ERROR(do_write(*h, offset, static_cast<const uint8_t*>(buf), len, "write"));
  SIDEWAL_RETURN_IF_ERROR(do_write(*h, offset2, static_cast<const uint8_t*>(buf2), len2, "write"));
  return do_sync(*h, "fdatasync");
}

Status SimDisk::sync(FileHandle file) {
  MutexLock lock(mu_);
  Handle* h = nullptr;
  SIDEWAL_RETURN_IF_ERROR(lookup(file, "sync", &h));
  if (crashed_) return crash_status("fdatasync " + h->path);
  return do_sync(*h, "fdatasync");
}

Status SimDisk::preallocate_zeroed(FileHandle file, uint64_t bytes, ZeroFill /*fill*/) {
  // Both fills read as zeros and are durable after the call; the simulation
  // has no extents, so they are the same here.
  MutexLock lock(mu_);
  Handle* h = nullptr;
  SIDEWAL_RETURN_IF_ERROR(lookup(file, "preallocate", &h));
  const std::string what = "preallocate " + h->path + " " + std::to_string(bytes) + " bytes";
  if (crashed_) return crash_status(what);
  if (h->direct && bytes % alignment_ != 0) {
    return Status::InvalidArgument(what + ": not a multiple of the O_DIRECT alignment " +
                                   std::to_string(alignment_));
  }
  if (!h->writable) return Status::FromErrno(EBADF, what);
  Step s = take_step(StepKind::kOther, "preallocate", h->path, 0, bytes);
  Inode& inode = inodes_[h->inode];
  Pending zeros{0, std::vector<uint8_t>(bytes, 0), std::nullopt, false, next_seq_++};
  Status st;
  switch (s.outcome) {
    case Step::kFail: st = Status::FromErrno(s.err, what); break;
    case Step::kCrash:
    case Step::kTear:
      // The zero writes were under way: restart() decides how much landed.
      inode.pending.push_back(std::move(zeros));
      st = crash_status(what);
      break;
    case Step::kProceed:
      if (inode.cache.size() < bytes) inode.cache.resize(bytes, 0);
      std::fill(inode.cache.begin(), inode.cache.begin() + static_cast<ptrdiff_t>(bytes), 0);
      inode.bad_sectors.erase(inode.bad_sectors.begin(),
                              inode.bad_sectors.lower_bound(bytes / kSectorBytes));
      // Ends with fdatasync: everything written to the file so far is durable.
      inode.pending.push_back(std::move(zeros));
      for (const Pending& p : inode.pending) apply_durable(inode, p, p.data.size());
      inode.pending.clear();
      break;
  }
  record(s, what, st);
  return st;
}

Status SimDisk::read(FileHandle file, uint64_t offset, void* buf, size_t len, size_t* got) {
  *got = 0;
  MutexLock lock(mu_);
  Handle* h = nullptr;
  SIDEWAL_RETURN_IF_ERROR(lookup(file, "read", &h));
  if (crashed_) return crash_status("read " + range(h->path, offset, len));
  SIDEWAL_RETURN_IF_ERROR(check_direct(*h, offset, buf, len, "read"));
  const Inode& inode = inodes_[h->inode];
  const uint64_t size = inode.cache.size();
  const size_t n = offset >= size ? 0 : static_cast<size_t>(std::min<uint64_t>(len, size - offset));
  if (n > 0) {
    auto bad = inode.bad_sectors.lower_bound(offset / kSectorBytes);
    if (bad != inode.bad_sectors.end() && *bad * kSectorBytes < offset + n) {
      return Status::FromErrno(EIO, "read " + range(h->path, offset, len) +
                                        " (latent sector error at offset " +
                                        std::to_string(*bad * kSectorBytes) + ")");
    }
    std::memcpy(buf, inode.cache.data() + offset, n);
  }
  *got = n;
  return Status::Ok();
}

Result<uint64_t> SimDisk::file_size(FileHandle file) {
  MutexLock lock(mu_);
  Handle* h = nullptr;
  SIDEWAL_RETURN_IF_ERROR(lookup(file, "file_size", &h));
  if (crashed_) return crash_status("fstat " + h->path);
  return static_cast<uint64_t>(inodes_[h->inode].cache.size());
}

}  // namespace sidewal::wal
