#include "uds_rtt.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <span>
#include <thread>
#include <vector>

#include "clock.h"
#include "proto/protocol.h"

namespace sidewal::bench {

namespace {

std::vector<uint8_t> request_frame(uint32_t record_bytes) {
  const std::vector<uint8_t> payload(record_bytes, 'x');
  const proto::AppendRecord rec{.type = 1, .flags = 0, .tenant = 0, .payload = payload};
  std::vector<uint8_t> out;
  proto::encode_append(1, std::span<const proto::AppendRecord>(&rec, 1), &out);
  return out;
}

std::vector<uint8_t> reply_frame() {
  std::vector<uint8_t> out;
  proto::encode_ack(1, proto::Ack{.first_lsn = 1, .count = 1}, &out);
  return out;
}

// The fds and the socket's directory, closed and removed however we leave.
struct Sockets {
  std::string dir, path;
  int listener = -1, client = -1, server = -1;
  ~Sockets() {
    for (int fd : {listener, client, server}) {
      if (fd >= 0) ::close(fd);
    }
    if (!path.empty()) ::unlink(path.c_str());
    if (!dir.empty()) ::rmdir(dir.c_str());
  }
};

Status connect_pair(const std::string& tmp_dir, Sockets* s) {
  std::string tmpl = tmp_dir + "/sidewal-uds-rtt.XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) return Status::FromErrno(errno, "mkdtemp in " + tmp_dir);
  s->dir = tmpl;
  const std::string path = s->dir + "/rtt.sock";
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path)
    return Status::InvalidArgument("socket path too long: " + path);
  path.copy(addr.sun_path, path.size());
  const auto* sa = reinterpret_cast<const sockaddr*>(&addr);

  s->listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s->listener < 0) return Status::FromErrno(errno, "socket");
  if (::bind(s->listener, sa, sizeof addr) != 0) return Status::FromErrno(errno, "bind " + path);
  s->path = path;
  if (::listen(s->listener, 1) != 0) return Status::FromErrno(errno, "listen " + path);
  s->client = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s->client < 0) return Status::FromErrno(errno, "socket");
  // Completes at once: the listener's backlog has room for it.
  if (::connect(s->client, sa, sizeof addr) != 0)
    return Status::FromErrno(errno, "connect " + path);
  s->server = ::accept4(s->listener, nullptr, nullptr, SOCK_CLOEXEC);
  if (s->server < 0) return Status::FromErrno(errno, "accept " + path);
  return Status::Ok();
}

// The no-op server: reads each whole frame, answers with `reply`. Returns
// when the client shuts its side down, or on an error; either way it shuts
// the socket down, so that a client waiting in recv() hears of it.
void serve_frames(int fd, const std::vector<uint8_t>& reply) {
  std::vector<uint8_t> buf(64 * 1024);
  size_t have = 0;
  for (;;) {
    // Whole frames only: header first, then body_len more.
    size_t need = proto::kHeaderSize;
    while (have < need) {
      const ssize_t n = ::read(fd, buf.data() + have, buf.size() - have);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        return;
      }
      have += static_cast<size_t>(n);
      if (have >= proto::kHeaderSize) {
        need = proto::kHeaderSize + proto::decode_header(buf.data()).body_len;
        if (need > buf.size()) buf.resize(need);  // a record over 64 KiB
      }
    }
    // One request in flight: nothing follows this frame until we answer;
    // keep whatever did anyway.
    std::memmove(buf.data(), buf.data() + need, have - need);
    have -= need;
    for (size_t off = 0; off < reply.size();) {
      const ssize_t n = ::write(fd, reply.data() + off, reply.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      off += static_cast<size_t>(n);
    }
  }
}

void serve(int fd, const std::vector<uint8_t>& reply) {
  serve_frames(fd, reply);
  ::shutdown(fd, SHUT_RDWR);
}

Status round_trip(int fd, const std::vector<uint8_t>& request, std::vector<uint8_t>* reply) {
  for (size_t off = 0; off < request.size();) {
    const ssize_t n = ::send(fd, request.data() + off, request.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno(errno, "send");
    off += static_cast<size_t>(n);
  }
  for (size_t off = 0; off < reply->size();) {
    const ssize_t n = ::recv(fd, reply->data() + off, reply->size() - off, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno(errno, "recv");
    if (n == 0) return Status::Closed("the no-op server closed the socket");
    off += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace

uint64_t uds_rtt_request_bytes(uint32_t record_bytes) { return request_frame(record_bytes).size(); }
uint64_t uds_rtt_reply_bytes() { return reply_frame().size(); }

Result<UdsRttResult> run_uds_rtt(const UdsRttOptions& o) {
  if (o.duration_s <= 0 || o.warmup_s < 0) {
    return Status::InvalidArgument("duration must be > 0 and warmup >= 0");
  }
  const std::string tmp_dir = temp_dir_or(o.tmp_dir);
  Sockets s;
  if (Status st = connect_pair(tmp_dir, &s); !st.ok()) return st;

  UdsRttResult r;
  r.options = o;
  const std::vector<uint8_t> request = request_frame(o.record_bytes);
  const std::vector<uint8_t> reply = reply_frame();
  r.request_bytes = request.size();
  r.reply_bytes = reply.size();

  std::thread server([&] { serve(s.server, reply); });
  std::vector<uint8_t> got(reply.size());
  const uint64_t window_start = now_ns() + static_cast<uint64_t>(o.warmup_s * 1e9);
  const uint64_t window_end = window_start + static_cast<uint64_t>(o.duration_s * 1e9);
  uint64_t last_end = window_start;
  Status failed;
  for (;;) {
    const uint64_t t0 = now_ns();
    if (failed = round_trip(s.client, request, &got); !failed.ok()) break;
    const uint64_t t1 = now_ns();
    if (t0 >= window_start) {
      r.latency.record(t1 - t0);
      last_end = t1;
    }
    // A window holds at least one round trip, however long the machine
    // stalled one that began before it.
    if (t1 >= window_end && r.latency.count() > 0) break;
  }
  // EOF for the server's read: it returns, and we can join it.
  ::shutdown(s.client, SHUT_WR);
  server.join();
  if (!failed.ok()) return failed;
  if (got != reply) return Status::Corruption("the reply is not the ACK frame the server sends");

  r.round_trips = r.latency.count();
  r.window_s = static_cast<double>(last_end - window_start) / 1e9;
  r.round_trips_per_s = r.window_s > 0 ? static_cast<double>(r.round_trips) / r.window_s : 0;
  return r;
}

}  // namespace sidewal::bench
