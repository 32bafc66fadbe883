#include "event_loop.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "proto/protocol.h"

namespace sidewal::bench {

namespace {

// Bytes read per recv(): many ACKs (32 bytes each) at once.
constexpr size_t kReadChunk = 64 * 1024;

Result<int> connect_unix(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    return Status::InvalidArgument("socket path too long: " + path);
  }
  path.copy(addr.sun_path, path.size());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno(errno, "socket");
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    Status st = Status::FromErrno(errno, "connect " + path);
    ::close(fd);
    return st;
  }
  // Non-blocking after connect: the daemon accepts at once or not at all.
  const int fl = ::fcntl(fd, F_GETFL);
  if (fl < 0 || ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) {
    Status st = Status::FromErrno(errno, "fcntl O_NONBLOCK");
    ::close(fd);
    return st;
  }
  return fd;
}

}  // namespace

Result<std::unique_ptr<EventLoop>> EventLoop::connect(const std::string& socket_path,
                                                      uint32_t connections) {
  std::unique_ptr<EventLoop> loop(new EventLoop);
  loop->epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (loop->epoll_fd_ < 0) return Status::FromErrno(errno, "epoll_create1");
  loop->stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (loop->stop_fd_ < 0) return Status::FromErrno(errno, "eventfd");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = UINT64_MAX;  // the stop eventfd
  if (::epoll_ctl(loop->epoll_fd_, EPOLL_CTL_ADD, loop->stop_fd_, &ev) != 0) {
    return Status::FromErrno(errno, "epoll_ctl");
  }
  loop->conns_.resize(connections);
  for (uint32_t i = 0; i < connections; ++i) {
    Result<int> fd = connect_unix(socket_path);
    if (!fd.ok()) return fd.status();
    loop->conns_[i].fd = *fd;
    epoll_event cev{};
    cev.events = EPOLLIN | EPOLLRDHUP;
    cev.data.u64 = i;
    if (::epoll_ctl(loop->epoll_fd_, EPOLL_CTL_ADD, *fd, &cev) != 0) {
      return Status::FromErrno(errno, "epoll_ctl");
    }
  }
  return loop;
}

EventLoop::~EventLoop() {
  for (Connection& c : conns_) {
    if (c.fd >= 0) ::close(c.fd);
  }
  if (stop_fd_ >= 0) ::close(stop_fd_);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

void EventLoop::append(uint32_t conn, std::span<const client::RecordIn> records, AckFn done) {
  SW_ASSERT(conn < conns_.size());
  Connection& c = conns_[conn];
  if (c.broken) {
    // Through the waiting queue like any other outcome: never from inside append().
    c.waiting.push_back(std::move(done));
    return;
  }
  scratch_.clear();
  for (const client::RecordIn& r : records) {
    scratch_.push_back(proto::AppendRecord{
        .type = r.type, .flags = r.flags, .tenant = r.tenant, .payload = r.payload});
  }
  proto::encode_append(c.next_request_id++, scratch_, &c.out);
  c.waiting.push_back(std::move(done));
  // Written once this turn's events are handled: every APPEND a turn queues
  // on one connection leaves in one send().
  if (!c.dirty && !c.want_out) {
    c.dirty = true;
    dirty_.push_back(conn);
  }
}

void EventLoop::write_dirty() {
  // write_some may fail a connection, whose callbacks queue nothing new here
  // (append() on a broken connection only queues the callback).
  for (size_t i = 0; i < dirty_.size(); ++i) {
    Connection& c = conns_[dirty_[i]];
    c.dirty = false;
    if (!c.broken && !c.want_out) write_some(dirty_[i]);
  }
  dirty_.clear();
}

void EventLoop::write_some(uint32_t conn) {
  Connection& c = conns_[conn];
  while (c.out_sent < c.out.size()) {
    const ssize_t n = ::send(c.fd, c.out.data() + c.out_sent, c.out.size() - c.out_sent,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      watch(conn, true);  // the rest when the socket has room
      return;
    }
    if (n < 0) return fail(conn, Status::FromErrno(errno, "send"));
    c.out_sent += static_cast<size_t>(n);
  }
  c.out.clear();
  c.out_sent = 0;
  if (c.want_out) watch(conn, false);
}

void EventLoop::watch(uint32_t conn, bool want_out) {
  Connection& c = conns_[conn];
  c.want_out = want_out;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | (want_out ? uint32_t{EPOLLOUT} : uint32_t{0});
  ev.data.u64 = conn;
  const int rc = ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
  SW_ASSERT_MSG(rc == 0, "epoll_ctl MOD failed");
}

void EventLoop::read_some(uint32_t conn) {
  Connection& c = conns_[conn];
  for (;;) {
    // The buffer only grows (a reply larger than what is free); bytes past
    // in_len are scratch, never cleared.
    if (c.in.size() - c.in_len < kReadChunk) c.in.resize(c.in_len + kReadChunk);
    const size_t room = c.in.size() - c.in_len;
    const ssize_t n = ::recv(c.fd, c.in.data() + c.in_len, room, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0) return fail(conn, Status::FromErrno(errno, "recv"));
    if (n == 0) return fail(conn, Status::Closed("the daemon closed the connection"));
    c.in_len += static_cast<size_t>(n);
    if (static_cast<size_t>(n) < room) break;  // drained for now
  }
  // Whole frames, in order; each answers the oldest waiting APPEND.
  size_t at = 0;
  while (c.in_len - at >= proto::kHeaderSize) {
    const proto::FrameHeader h = proto::decode_header(c.in.data() + at);
    const size_t frame = proto::kHeaderSize + h.body_len;
    if (c.in_len - at < frame) break;
    const std::span<const uint8_t> body(c.in.data() + at + proto::kHeaderSize, h.body_len);
    at += frame;
    if (c.waiting.empty()) {
      return fail(conn, Status::Corruption("a reply with no APPEND waiting for it"));
    }
    AckFn done = std::move(c.waiting.front());
    c.waiting.pop_front();
    if (h.opcode == static_cast<uint8_t>(proto::Opcode::kAck)) {
      proto::Ack ack;
      Status st = proto::decode_ack(body, &ack);
      if (!st.ok()) return fail(conn, st);
      done(Status::Ok(), ack.first_lsn, ack.count);  // may append() on this connection
    } else if (h.opcode == static_cast<uint8_t>(proto::Opcode::kError)) {
      proto::ErrorReply e;
      Status st = proto::decode_error(body, &e);
      done(st.ok() ? Status::IoError(std::string("daemon ERROR ") +
                                     proto::error_code_name(e.code) + ": " + e.message)
                   : st,
           0, 0);
    } else {
      done(Status::Corruption("unexpected reply opcode " + std::to_string(h.opcode)), 0, 0);
    }
    if (c.broken) return;
  }
  // Keep the partial frame, if any, at the front.
  std::memmove(c.in.data(), c.in.data() + at, c.in_len - at);
  c.in_len -= at;
}

void EventLoop::fail(uint32_t conn, const Status& why) {
  Connection& c = conns_[conn];
  if (c.broken) return;
  c.broken = true;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
  std::deque<AckFn> waiting;
  waiting.swap(c.waiting);
  for (AckFn& done : waiting) done(why, 0, 0);
}

void EventLoop::run(const std::function<void()>& start) {
  start();
  write_dirty();
  std::vector<epoll_event> events(conns_.size() + 1);
  for (;;) {
    // APPENDs queued on a broken connection (after its failure) are failed
    // here, outside append().
    for (uint32_t i = 0; i < conns_.size(); ++i) {
      Connection& c = conns_[i];
      while (c.broken && !c.waiting.empty()) {
        AckFn done = std::move(c.waiting.front());
        c.waiting.pop_front();
        done(Status::Closed("the connection broke"), 0, 0);
      }
    }
    const int n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), -1);
    if (n < 0 && errno == EINTR) continue;
    SW_ASSERT_MSG(n >= 0, "epoll_wait failed");
    for (int i = 0; i < n; ++i) {
      const uint64_t id = events[i].data.u64;
      if (id == UINT64_MAX) return;  // stop()
      const uint32_t conn = static_cast<uint32_t>(id);
      if (conns_[conn].broken) continue;
      if (events[i].events & EPOLLOUT) write_some(conn);
      if (!conns_[conn].broken && (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
        read_some(conn);
      }
    }
    write_dirty();
  }
}

void EventLoop::stop() {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(stop_fd_, &one, sizeof one);
}

}  // namespace sidewal::bench
