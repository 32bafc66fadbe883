// SimDisk's file table (sim_disk.h, "Model"): the namespace operations
// (mkdir, unlink, rename, list, fsync of a directory) over the volatile view,
// what sync_dir makes durable, and the durable view restart() starts from.
#include "testing/sim_disk.h"

#include <cerrno>

namespace sidewal::wal {
namespace {

std::string name_of(const std::string& norm) { return norm.substr(norm.rfind('/') + 1); }

}  // namespace

std::string SimDisk::parent_of(const std::string& norm) const {
  size_t pos = norm.rfind('/');
  return pos == 0 ? "/" : norm.substr(0, pos);
}

bool SimDisk::dir_exists(const Namespace& ns, const std::string& norm) const {
  return ns.dirs.count(norm) != 0;
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
