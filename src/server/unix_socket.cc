#include "server/unix_socket.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace sidewal::server {

Status claim_socket_path(const std::string& path) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::Ok();
    return Status::FromErrno(errno, "lstat socket.path " + path);
  }
  if (!S_ISSOCK(st.st_mode)) {
    return Status::InvalidArgument("socket.path " + path +
                                   " exists and is not a socket; refusing to replace it");
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno(errno, "socket(AF_UNIX)");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  const int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  const int err = errno;
  ::close(fd);
  if (rc == 0) {
    return Status::Busy("socket.path " + path +
                        " is in use by a live process (connect succeeded); is another sidewald "
                        "running on it? Refusing to steal the socket");
  }
  if (err != ECONNREFUSED) {
    return Status::FromErrno(err, "probing existing socket.path " + path +
                                      " (expected connection refused for a stale socket)");
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Status::FromErrno(errno, "removing stale socket " + path);
  }
  return Status::Ok();
}

Status ensure_parent_dir(const std::string& path, const std::string& key) {
  const auto parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) return Status::Ok();
  std::error_code ec;
  std::filesystem::create_directories(parent, ec);
  if (ec) {
    return Status::IoError(key + ": cannot create directory " + parent.string() + ": " +
                           ec.message());
  }
  return Status::Ok();
}

}  // namespace sidewal::server
