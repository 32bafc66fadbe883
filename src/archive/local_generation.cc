#include "archive/local_generation.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "archive/archive_names.h"

namespace sidewal::archive {

Status read_generation_file(const std::string& dir, std::string* id) {
  const std::string path = dir + "/" + kGenerationFileName;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open " + path);
  char buf[64];
  ssize_t n = ::read(fd, buf, sizeof buf);
  const int err = errno;
  ::close(fd);
  if (n < 0) return Status::FromErrno(err, "read " + path);
  std::string text(buf, static_cast<size_t>(n));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (!valid_generation_id(text)) {
    return Status::Corruption(path + " does not hold a generation id (16 lowercase hex digits)");
  }
  *id = text;
  return Status::Ok();
}

Status write_generation_file(const std::string& dir, const std::string& id) {
  if (!valid_generation_id(id)) return Status::InvalidArgument("bad generation id '" + id + "'");
  const std::string path = dir + "/" + kGenerationFileName;
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::FromErrno(errno, "create " + tmp);
  const std::string text = id + "\n";
  ssize_t n = ::write(fd, text.data(), text.size());
  int err = errno;
  if (n != static_cast<ssize_t>(text.size())) {
    ::close(fd);
    return Status::FromErrno(n < 0 ? err : EIO, "write " + tmp);
  }
  if (::fsync(fd) != 0) {
    err = errno;
    ::close(fd);
    return Status::FromErrno(err, "fsync " + tmp);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Status::FromErrno(errno, "rename " + tmp);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return Status::FromErrno(errno, "open " + dir);
  const int rc = ::fsync(dfd);
  err = errno;
  ::close(dfd);
  if (rc != 0) return Status::FromErrno(err, "fsync " + dir);
  return Status::Ok();
}

}  // namespace sidewal::archive
