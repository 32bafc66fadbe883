#include "metrics_scrape.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>

namespace sidewal::bench {

namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

Result<std::string> http_get(const std::string& address, const std::string& path,
                             int timeout_ms) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    return Status::InvalidArgument("admin address '" + address + "': expected host:port");
  }
  const std::string host = address.substr(0, colon), port = address.substr(colon + 1);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    return Status::InvalidArgument("admin address '" + address + "': " + gai_strerror(rc));
  }
  Fd fd(::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const int crc = fd.get() < 0 ? -1 : ::connect(fd.get(), res->ai_addr, res->ai_addrlen);
  const int cerr = errno;
  ::freeaddrinfo(res);
  if (crc != 0) return Status::FromErrno(cerr, "connect " + address);

  const std::string req = "GET " + path + " HTTP/1.0\r\nHost: " + host + "\r\n\r\n";
  for (size_t off = 0; off < req.size();) {
    const ssize_t n = ::send(fd.get(), req.data() + off, req.size() - off, MSG_NOSIGNAL);
    if (n < 0) return Status::FromErrno(errno, "send to " + address);
    off += static_cast<size_t>(n);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string reply;
  char buf[16384];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return Status::IoError("GET " + path + " from " + address + ": timed out");
    pollfd p{fd.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) < 0 && errno != EINTR) {
      return Status::FromErrno(errno, "poll " + address);
    }
    const ssize_t n = ::recv(fd.get(), buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return Status::FromErrno(errno, "recv from " + address);
    }
    reply.append(buf, static_cast<size_t>(n));
  }
  const size_t body = reply.find("\r\n\r\n");
  if (body == std::string::npos || reply.compare(0, 5, "HTTP/") != 0) {
    return Status::Corruption("GET " + path + " from " + address + ": not an HTTP reply");
  }
  const size_t sp = reply.find(' ');
  if (sp == std::string::npos || reply.compare(sp + 1, 3, "200") != 0) {
    return Status::IoError("GET " + path + " from " + address + ": " +
                           reply.substr(0, reply.find('\r')));
  }
  return reply.substr(body + 4);
}

std::optional<double> metric_value(std::string_view text, std::string_view name) {
  std::optional<double> total;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty() || line.front() == '#' || !line.starts_with(name)) continue;
    std::string_view rest = line.substr(name.size());
    if (!rest.empty() && rest.front() == '{') {
      const size_t close = rest.find('}');
      if (close == std::string_view::npos) continue;
      rest.remove_prefix(close + 1);
    }
    if (rest.empty() || rest.front() != ' ') continue;  // a longer name sharing the prefix
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    const std::string value(rest.substr(0, rest.find(' ')));  // drop an optional timestamp
    char* parse_end = nullptr;
    const double v = std::strtod(value.c_str(), &parse_end);
    if (parse_end == value.c_str()) continue;
    total = total.value_or(0) + v;
  }
  return total;
}

std::optional<double> records_per_flush(std::string_view before, std::string_view after) {
  const auto s0 = metric_value(before, "sidewal_group_commit_records_sum");
  const auto c0 = metric_value(before, "sidewal_group_commit_records_count");
  const auto s1 = metric_value(after, "sidewal_group_commit_records_sum");
  const auto c1 = metric_value(after, "sidewal_group_commit_records_count");
  if (!s0 || !c0 || !s1 || !c1 || *c1 <= *c0) return std::nullopt;
  return (*s1 - *s0) / (*c1 - *c0);
}

}  // namespace sidewal::bench
