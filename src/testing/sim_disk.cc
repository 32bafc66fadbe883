#include "testing/sim_disk.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace sidewal::wal {
namespace {

// "/a//b/./c/" -> "/a/b/c"; relative paths are taken from "/".
std::string normalize(const std::string& path) {
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

std::string name_of(const std::string& norm) { return norm.substr(norm.rfind('/') + 1); }

std::string range(const std::string& path, uint64_t offset, size_t len) {
  return path + " offset " + std::to_string(offset) + " length " + std::to_string(len);
}

uint64_t sectors_of(size_t len) {
  return (len + SimDisk::kSectorBytes - 1) / SimDisk::kSectorBytes;
}

}  // namespace

SimDisk::SimDisk(uint64_t seed, CrashModel model) : rng_(seed), model_(model) {
  volatile_ns_.dirs.insert("/");
  durable_ns_.dirs.insert("/");
}

// ---- configuration and plans ----

void SimDisk::set_alignment(size_t alignment) {
  SW_ASSERT(alignment >= kSectorBytes && (alignment & (alignment - 1)) == 0);
  MutexLock lock(mu_);
  alignment_ = alignment;
}

void SimDisk::set_crash_model(CrashModel model) {
  MutexLock lock(mu_);
  model_ = model;
}

void SimDisk::refuse_direct(bool refuse) {
  MutexLock lock(mu_);
  refuse_direct_ = refuse;
}

void SimDisk::crash_after_io(uint64_t k) {
  MutexLock lock(mu_);
  crash_at_ = k;
}

void SimDisk::tear_write_at(uint64_t k, uint32_t sectors) {
  MutexLock lock(mu_);
  tear_at_[k] = sectors;
}

void SimDisk::tear_write_garbage_at(uint64_t k, uint32_t sector) {
  MutexLock lock(mu_);
  tear_at_[k] = sector;
  garbage_at_.insert(k);
}

void SimDisk::set_fault_hook(FaultHook hook) {
  MutexLock lock(mu_);
  hook_ = std::move(hook);
}

void SimDisk::fail_io(uint64_t k, int err) {
  SW_ASSERT(err > 0);
  MutexLock lock(mu_);
  fail_at_[k] = err;
}

uint64_t SimDisk::io_count() const {
  MutexLock lock(mu_);
  return steps_;
}

bool SimDisk::crashed() const {
  MutexLock lock(mu_);
  return crashed_;
}

void SimDisk::set_trace(bool on) {
  MutexLock lock(mu_);
  trace_on_ = on;
}

std::vector<std::string> SimDisk::trace() const {
  MutexLock lock(mu_);
  return trace_;
}

uint64_t SimDisk::unsynced_writes() const {
  MutexLock lock(mu_);
  uint64_t n = 0;
  for (const auto& [id, inode] : inodes_) n += inode.pending.size();
  return n;
}

// ---- internals ----

SimDisk::Step SimDisk::take_step(StepKind kind, const char* op, const std::string& path,
                                 uint64_t offset, uint64_t len, const std::string* to) {
  Step s;
  s.index = steps_++;
  if (auto t = tear_at_.find(s.index); t != tear_at_.end()) {
    s.outcome = kind == StepKind::kWrite ? Step::kTear : Step::kCrash;
    s.tear_sectors = t->second;
    s.garbage = garbage_at_.count(s.index) != 0;
  } else if (crash_at_ && s.index >= *crash_at_) {
    s.outcome = Step::kCrash;
  } else if (auto f = fail_at_.find(s.index); f != fail_at_.end()) {
    s.outcome = Step::kFail;
    s.err = f->second;
  } else if (hook_) {
    StepInfo info{s.index, op, path, to ? *to : std::string(), offset, len};
    const Fault fault = hook_(info);
    switch (fault.kind) {
      case Fault::kNone: break;
      case Fault::kCrash: s.outcome = Step::kCrash; break;
      case Fault::kFail:
        SW_ASSERT(fault.err > 0);
        s.outcome = Step::kFail;
        s.err = fault.err;
        break;
      case Fault::kTear:
        s.outcome = kind == StepKind::kWrite ? Step::kTear : Step::kCrash;
        s.tear_sectors = fault.sectors;
        s.garbage = fault.garbage;
        break;
      case Fault::kTearLater:
        s.tear_later = kind == StepKind::kWrite;
        s.tear_sectors = fault.sectors;
        s.garbage = fault.garbage;
        break;
    }
  }
  if (s.outcome == Step::kCrash || s.outcome == Step::kTear) crashed_ = true;
  return s;
}

Status SimDisk::crash_status(const std::string& what) const {
  return Status::IoError("simulated crash: " + what + " (the disk has crashed; restart() it)");
}

void SimDisk::record(const Step& step, const std::string& what, const Status& result) {
  if (!trace_on_) return;
  trace_.push_back("#" + std::to_string(step.index) + " " + what + " -> " + result.ToString());
}

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

void SimDisk::apply_garbage(Inode& inode, const Pending& p, size_t at) {
  const size_t n = std::min<size_t>(kSectorBytes, p.data.size() - at);
  const uint64_t off = p.offset + at;
  if (inode.durable.size() < off + n) inode.durable.resize(off + n, 0);
  uint8_t* dst = inode.durable.data() + off;
  const uint8_t* fresh = p.data.data() + at;
  std::vector<uint8_t> old(dst, dst + n);
  for (size_t i = 0; i < n; i += 8) {
    const uint64_t r = rng_();
    std::memcpy(dst + i, &r, std::min<size_t>(8, n - i));
  }
  // Neither old nor new, whatever the draw: byte 0 differs from both.
  while (dst[0] == old[0] || dst[0] == fresh[0]) ++dst[0];
}

std::string SimDisk::parent_of(const std::string& norm) const {
  size_t pos = norm.rfind('/');
  return pos == 0 ? "/" : norm.substr(0, pos);
}

bool SimDisk::dir_exists(const Namespace& ns, const std::string& norm) const {
  return ns.dirs.count(norm) != 0;
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

// ---- IoBackend: namespace ----

Status SimDisk::sync_dir(const std::string& dir) {
  MutexLock lock(mu_);
  const std::string what = "fsync directory " + dir;
  if (crashed_) return crash_status(what);
  const std::string norm = normalize(dir);
  if (!dir_exists(volatile_ns_, norm)) return Status::FromErrno(ENOENT, what);
  Step s = take_step(StepKind::kOther, "fsync directory", dir);
  Status st;
  if (s.outcome == Step::kFail) st = Status::FromErrno(s.err, what);
  if (s.outcome == Step::kCrash || s.outcome == Step::kTear) st = crash_status(what);
  record(s, what, st);
  if (!st.ok()) return st;
  // The directory itself and its ancestors.
  for (std::string d = norm;; d = parent_of(d)) {
    durable_ns_.dirs.insert(d);
    if (d == "/") break;
  }
  // Its entries: the durable view of this directory becomes the volatile one.
  for (auto it = durable_ns_.files.begin(); it != durable_ns_.files.end();) {
    it = parent_of(it->first) == norm ? durable_ns_.files.erase(it) : std::next(it);
  }
  for (const auto& [path, id] : volatile_ns_.files) {
    if (parent_of(path) == norm) durable_ns_.files[path] = id;
  }
  for (const auto& d : volatile_ns_.dirs) {
    if (d != "/" && parent_of(d) == norm) durable_ns_.dirs.insert(d);
  }
  return Status::Ok();
}

Status SimDisk::create_dir(const std::string& dir) {
  MutexLock lock(mu_);
  const std::string what = "mkdir " + dir;
  if (crashed_) return crash_status(what);
  Step s = take_step(StepKind::kOther, "mkdir", dir);
  Status st;
  if (s.outcome == Step::kFail) st = Status::FromErrno(s.err, what);
  if (s.outcome == Step::kCrash || s.outcome == Step::kTear) st = crash_status(what);
  record(s, what, st);
  if (!st.ok()) return st;
  const std::string norm = normalize(dir);
  std::vector<std::string> chain;
  for (std::string d = norm; d != "/"; d = parent_of(d)) chain.push_back(d);
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    if (volatile_ns_.files.count(*it) != 0) {
      return Status::InvalidArgument("create_dir " + dir + ": " + *it +
                                     " exists and is not a directory");
    }
    volatile_ns_.dirs.insert(*it);
  }
  return Status::Ok();
}

Status SimDisk::remove(const std::string& path) {
  MutexLock lock(mu_);
  const std::string what = "unlink " + path;
  if (crashed_) return crash_status(what);
  Step s = take_step(StepKind::kOther, "unlink", path);
  Status st;
  if (s.outcome == Step::kFail) st = Status::FromErrno(s.err, what);
  if (s.outcome == Step::kCrash || s.outcome == Step::kTear) st = crash_status(what);
  record(s, what, st);
  if (!st.ok()) return st;
  const std::string norm = normalize(path);
  if (dir_exists(volatile_ns_, norm)) return Status::FromErrno(EISDIR, what);
  // The inode lives on while open handles or the durable namespace use it.
  if (volatile_ns_.files.erase(norm) == 0) return Status::FromErrno(ENOENT, what);
  return Status::Ok();
}

Status SimDisk::rename(const std::string& from, const std::string& to) {
  MutexLock lock(mu_);
  const std::string what = "rename " + from + " to " + to;
  if (crashed_) return crash_status(what);
  Step s = take_step(StepKind::kOther, "rename", from, 0, 0, &to);
  Status st;
  if (s.outcome == Step::kFail) st = Status::FromErrno(s.err, what);
  if (s.outcome == Step::kCrash || s.outcome == Step::kTear) st = crash_status(what);
  record(s, what, st);
  if (!st.ok()) return st;
  const std::string nfrom = normalize(from);
  const std::string nto = normalize(to);
  if (dir_exists(volatile_ns_, nfrom)) {
    return Status::InvalidArgument(what + ": SimDisk renames files, not directories");
  }
  auto it = volatile_ns_.files.find(nfrom);
  if (it == volatile_ns_.files.end()) return Status::FromErrno(ENOENT, what);
  if (!dir_exists(volatile_ns_, parent_of(nto))) return Status::FromErrno(ENOENT, what);
  if (dir_exists(volatile_ns_, nto)) return Status::FromErrno(EISDIR, what);
  const uint64_t id = it->second;
  volatile_ns_.files.erase(it);
  volatile_ns_.files[nto] = id;
  return Status::Ok();
}

Result<std::vector<std::string>> SimDisk::list_dir(const std::string& dir) {
  MutexLock lock(mu_);
  const std::string what = "opendir " + dir;
  if (crashed_) return crash_status(what);
  const std::string norm = normalize(dir);
  if (!dir_exists(volatile_ns_, norm)) {
    return Status::FromErrno(volatile_ns_.files.count(norm) ? ENOTDIR : ENOENT, what);
  }
  std::set<std::string> names;
  for (const auto& [path, id] : volatile_ns_.files) {
    if (parent_of(path) == norm) names.insert(name_of(path));
  }
  for (const auto& d : volatile_ns_.dirs) {
    if (d != "/" && parent_of(d) == norm) names.insert(name_of(d));
  }
  return std::vector<std::string>(names.begin(), names.end());
}

// ---- media faults ----

Status SimDisk::inject_read_error(const std::string& path, uint64_t offset) {
  MutexLock lock(mu_);
  auto it = volatile_ns_.files.find(normalize(path));
  if (it == volatile_ns_.files.end()) {
    return Status::NotFound("inject_read_error: no file " + path);
  }
  inodes_[it->second].bad_sectors.insert(offset / kSectorBytes);
  return Status::Ok();
}

Status SimDisk::flip_bit_at_rest(const std::string& path, uint64_t offset, unsigned bit) {
  SW_ASSERT(bit < 8);
  MutexLock lock(mu_);
  auto it = volatile_ns_.files.find(normalize(path));
  if (it == volatile_ns_.files.end()) return Status::NotFound("flip_bit_at_rest: no file " + path);
  Inode& inode = inodes_[it->second];
  if (offset >= inode.durable.size()) {
    return Status::InvalidArgument("flip_bit_at_rest " + path + ": offset " +
                                   std::to_string(offset) + " is past the durable size " +
                                   std::to_string(inode.durable.size()));
  }
  const auto mask = static_cast<uint8_t>(1u << bit);
  // The cache shows the media unless a newer write has replaced the byte.
  if (offset < inode.cache.size() && inode.cache[offset] == inode.durable[offset]) {
    inode.cache[offset] ^= mask;
  }
  inode.durable[offset] ^= mask;
  return Status::Ok();
}

// ---- power loss ----

SimDisk::RestartReport SimDisk::restart() {
  MutexLock lock(mu_);
  RestartReport rep;
  const bool process_only = model_ == CrashModel::kProcessCrash;
  Namespace ns = process_only ? volatile_ns_ : durable_ns_;

  // A directory survives only with all its ancestors; a file only with its parent.
  Namespace kept;
  for (const auto& d : ns.dirs) {
    bool ok = true;
    for (std::string a = d; a != "/"; a = parent_of(a)) ok = ok && ns.dirs.count(a) != 0;
    if (ok) kept.dirs.insert(d);
  }
  kept.dirs.insert("/");
  for (const auto& [path, id] : ns.files) {
    if (kept.dirs.count(parent_of(path)) != 0) kept.files[path] = id;
  }

  uint64_t newest_seq = 0;
  bool any_pending = false;
  for (const auto& [path, id] : kept.files) {
    for (const Pending& p : inodes_[id].pending) {
      newest_seq = any_pending ? std::max(newest_seq, p.seq) : p.seq;
      any_pending = true;
    }
  }

  std::map<uint64_t, Inode> survivors;
  for (const auto& [path, id] : kept.files) {
    if (survivors.count(id) != 0) continue;
    Inode& old = inodes_[id];
    Inode fresh;
    fresh.durable = std::move(old.durable);
    for (const Pending& p : old.pending) {
      ++rep.unsynced_writes;
      const size_t len = p.data.size();
      size_t landed = 0;
      bool garbage = false;
      if (p.forced_sectors) {
        landed = std::min<size_t>(len, size_t{*p.forced_sectors} * kSectorBytes);
        garbage = p.garbage && landed < len;
      } else {
        switch (model_) {
          case CrashModel::kProcessCrash: landed = len; break;
          case CrashModel::kDropUnsynced: landed = 0; break;
          case CrashModel::kTearLast:
            if (p.seq != newest_seq) {
              landed = len;
            } else if (sectors_of(len) >= 2) {
              landed = (1 + rng_() % (sectors_of(len) - 1)) * kSectorBytes;
            } else {
              landed = rng_() % 2 ? len : 0;
            }
            break;
          case CrashModel::kRandom: {
            const uint64_t pick = rng_() % 3;
            if (pick == 0) {
              landed = 0;
            } else if (pick == 1 || sectors_of(len) < 2) {
              landed = len;
            } else {
              landed = (1 + rng_() % (sectors_of(len) - 1)) * kSectorBytes;
            }
            break;
          }
          case CrashModel::kTearGarbage:
            landed = (rng_() % sectors_of(len)) * kSectorBytes;
            garbage = true;
            break;
        }
      }
      landed = std::min(landed, len);
      if (garbage) {
        ++rep.torn;
      } else if (landed == 0) {
        ++rep.lost;
      } else if (landed == len) {
        ++rep.applied;
      } else {
        ++rep.torn;
      }
      if (landed > 0) apply_durable(fresh, p, landed);
      if (garbage) apply_garbage(fresh, p, landed);
    }
    fresh.cache = fresh.durable;
    fresh.bad_sectors = std::move(old.bad_sectors);
    survivors[id] = std::move(fresh);
  }

  inodes_ = std::move(survivors);
  durable_ns_ = kept;
  volatile_ns_ = std::move(kept);
  handles_.clear();
  steps_ = 0;
  crash_at_.reset();
  tear_at_.clear();
  garbage_at_.clear();
  fail_at_.clear();
  hook_ = nullptr;
  crashed_ = false;
  rep.files = volatile_ns_.files.size();
  if (trace_on_) {
    trace_.push_back("restart: " + std::to_string(rep.unsynced_writes) + " unsynced writes, " +
                     std::to_string(rep.lost) + " lost, " + std::to_string(rep.applied) +
                     " applied, " + std::to_string(rep.torn) + " torn");
  }
  return rep;
}

bool SimDisk::durable_exists(const std::string& path) const {
  MutexLock lock(mu_);
  const std::string norm = normalize(path);
  if (durable_ns_.files.count(norm) == 0) return false;
  for (std::string a = parent_of(norm); a != "/"; a = parent_of(a)) {
    if (durable_ns_.dirs.count(a) == 0) return false;
  }
  return true;
}

Result<std::vector<uint8_t>> SimDisk::durable_content(const std::string& path) const {
  MutexLock lock(mu_);
  auto it = durable_ns_.files.find(normalize(path));
  if (it == durable_ns_.files.end()) {
    return Status::NotFound("durable_content: " + path + " is not in the durable namespace");
  }
  return inodes_.at(it->second).durable;
}

}  // namespace sidewal::wal
