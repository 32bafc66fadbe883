// DirLock (see dir_lock.h): fcntl F_OFD_SETLK on <dir>/LOCK.
#include "wal/dir_lock.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "wal/io/io_posix.h"

namespace sidewal::wal {
namespace {

// Bytes of the LOCK file read back to name a holder: "<pid>\n<host>\n" fits.
constexpr size_t kMaxHolderBytes = 512;
// F_OFD_SETLK refused, then F_OFD_GETLK found no lock: the holder let go in
// between. Try again this many times before reporting "held, holder unknown".
constexpr int kReleasedRetries = 3;

std::string join_path(const std::string& dir, const char* name) {
  if (!dir.empty() && dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

std::string parent_dir(const std::string& dir) {
  std::string d = dir;
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  const size_t slash = d.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return d.substr(0, slash);
}

struct flock whole_file(short type) {
  struct flock fl {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = 0;
  fl.l_len = 0;  // to the end of the file, however long it grows
  fl.l_pid = 0;  // must be 0 for the OFD commands
  return fl;
}

// "<pid>\n<host>\n" as written by the exclusive holder; anything else (an
// empty file, a holder between taking the lock and writing) leaves the
// fields unknown.
void read_holder(int fd, LockHolder* h) {
  char buf[kMaxHolderBytes];
  const ssize_t n = ::pread(fd, buf, sizeof buf, 0);
  if (n <= 0) return;
  const std::string text(buf, static_cast<size_t>(n));
  const size_t eol = text.find('\n');
  if (eol == std::string::npos || eol == 0 || eol > 19) return;
  int64_t pid = 0;
  for (size_t i = 0; i < eol; ++i) {
    if (text[i] < '0' || text[i] > '9') return;
    pid = pid * 10 + (text[i] - '0');
  }
  h->pid = pid;
  const size_t host_end = text.find('\n', eol + 1);
  if (host_end == std::string::npos) return;
  std::string host = text.substr(eol + 1, host_end - eol - 1);
  for (char c : host) {
    if (c < 0x21 || c > 0x7e) return;  // not a hostname: say nothing rather than garbage
  }
  h->host = std::move(host);
}

std::string busy_message(const std::string& dir, DirLock::Mode wanted, const LockHolder& h) {
  if (!h.exclusive) {
    return "data directory " + dir +
           " is locked shared by a reader (sidewal verify or dump); a writer can open it once "
           "the reader exits";
  }
  if (wanted == DirLock::Mode::kShared) {
    return "data directory " + dir + " is locked by a live sidewald (" + describe_holder(h) + ")";
  }
  return "data directory " + dir + " is locked by another sidewald (" + describe_holder(h) +
         "); only one writer per log";
}

bool lock_unsupported(int err) {
  return err == ENOLCK || err == EINVAL || err == EOPNOTSUPP || err == ENOSYS;
}

}  // namespace

std::string describe_holder(const LockHolder& h) {
  if (h.pid <= 0) return "pid unknown";
  std::string s = "pid " + std::to_string(h.pid);
  if (!h.host.empty()) s += ", host " + h.host;
  return s;
}

Result<std::unique_ptr<DirLock>> DirLock::acquire(const std::string& dir, Mode mode,
                                                  LockHolder* holder) {
  LockHolder scratch;
  if (holder == nullptr) holder = &scratch;
  *holder = LockHolder{};
  if (dir.empty()) return Status::InvalidArgument("lock: data directory path is empty");
  const bool exclusive = mode == Mode::kExclusive;
  const std::string path = join_path(dir, kFileName);

  struct stat dst {};
  if (::stat(dir.c_str(), &dst) != 0) {
    const int err = errno;
    if (err != ENOENT || !exclusive) return Status::FromErrno(err, "stat data directory " + dir);
    // The writer creates a missing directory (as Wal::open always did); it
    // is durable only once its parent is synced.
    SIDEWAL_RETURN_IF_ERROR(posix::create_dir(dir));
    SIDEWAL_RETURN_IF_ERROR(posix::sync_dir(parent_dir(dir)));
    if (::stat(dir.c_str(), &dst) != 0)
      return Status::FromErrno(errno, "stat data directory " + dir);
  }
  if (!S_ISDIR(dst.st_mode)) {
    return Status::InvalidArgument("data directory " + dir + " is not a directory");
  }

  // O_CREAT without O_TRUNC: opening an existing LOCK changes none of its
  // bytes (they belong to whoever holds the lock). Readers create nothing.
  const int flags =
      exclusive ? (O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW) : (O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  int fd;
  do {
    fd = ::open(path.c_str(), flags, 0644);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return Status::FromErrno(errno, "open lock file " + path);
  struct stat fst {};
  if (::fstat(fd, &fst) != 0 || !S_ISREG(fst.st_mode)) {
    ::close(fd);
    return Status::InvalidArgument("lock file " + path + " is not a regular file");
  }

  struct flock want = whole_file(exclusive ? F_WRLCK : F_RDLCK);
  for (int attempt = 0;; ++attempt) {
    if (::fcntl(fd, F_OFD_SETLK, &want) == 0) break;
    const int err = errno;
    if (err == EINTR) continue;
    if (err != EAGAIN && err != EACCES) {
      ::close(fd);
      if (lock_unsupported(err)) {
        return Status::Unsupported("lock file " + path + ": the filesystem refuses file locks (" +
                                   std::strerror(err) +
                                   "); sidewal needs them to keep one writer per log");
      }
      return Status::FromErrno(err, "lock " + path);
    }
    struct flock q = whole_file(exclusive ? F_WRLCK : F_RDLCK);
    const bool asked = ::fcntl(fd, F_OFD_GETLK, &q) == 0;
    if (asked && q.l_type == F_UNLCK && attempt < kReleasedRetries) continue;
    // Only a writer conflicts with a reader; a writer conflicts with both.
    holder->exclusive = !exclusive || !asked || q.l_type != F_RDLCK;
    if (holder->exclusive) read_holder(fd, holder);
    ::close(fd);
    return Status::Busy(busy_message(dir, mode, *holder));
  }

  if (exclusive) {
    // The lock is ours, so are the file's bytes: name ourselves for a refused
    // second writer. Best effort (a full disk must not stop the start); write
    // first and trim after, so a reader never sees an empty file mid-way.
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
    const std::string text = std::to_string(::getpid()) + "\n" + host + "\n";
    const ssize_t n = ::pwrite(fd, text.data(), text.size(), 0);
    const off_t keep = n == static_cast<ssize_t>(text.size()) ? static_cast<off_t>(n) : 0;
    if (::ftruncate(fd, keep) != 0) {
      // Stale bytes after ours only make the holder's name less exact.
    }
  }
  return std::unique_ptr<DirLock>(new DirLock(dir, mode, fd, dst.st_dev, dst.st_ino));
}

DirLock::~DirLock() {
  if (mode_ == Mode::kExclusive) {
    // Still held here, so still ours: a clean release leaves an empty file.
    if (::ftruncate(fd_, 0) != 0) {
      // A pid left behind names a dead holder; it blocks nobody.
    }
  }
  ::close(fd_);  // releases the lock (the only descriptor of this open)
}

std::string DirLock::path() const { return join_path(dir_, kFileName); }

bool DirLock::covers(const std::string& dir) const {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return false;
  return st.st_dev == dev_ && st.st_ino == ino_;
}

}  // namespace sidewal::wal
