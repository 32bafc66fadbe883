#include "tests/support/daemon_harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <stdexcept>

#include "common/endian.h"
#include "common/http_get.h"

namespace sidewal::it {

namespace {

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what); }

}  // namespace

// ---- HTTP

HttpResponse http_get(uint16_t port, const std::string& path, milliseconds timeout) {
  HttpResponse res;
  auto reply = sidewal::http_get("127.0.0.1", std::to_string(port), path, timeout);
  if (!reply.ok()) return res;  // no answer: refused, reset or timed out
  res.status = reply.value().status;
  res.body = std::move(reply.value().body);
  return res;
}

// ---- RawClient

RawClient::RawClient(const std::string& socket_path) {
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) fail("socket(AF_UNIX) failed");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket_path.c_str(), sizeof(addr.sun_path) - 1);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    fail("connect " + socket_path + ": " + std::strerror(err));
  }
}

RawClient::~RawClient() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawClient::send(const std::vector<uint8_t>& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

void RawClient::shutdown_write() { ::shutdown(fd_, SHUT_WR); }

bool RawClient::read_exact(uint8_t* p, size_t n, Clock::time_point deadline, bool* timed_out) {
  *timed_out = false;
  size_t got = 0;
  while (got < n) {
    pollfd pfd{fd_, POLLIN, 0};
    int pr = ::poll(&pfd, 1, remaining_ms(deadline));
    if (pr == 0) {
      *timed_out = true;
      return false;
    }
    if (pr < 0) {
      if (errno == EINTR) continue;
      fail(std::string("poll on the daemon's socket: ") + std::strerror(errno));
    }
    ssize_t r = ::recv(fd_, p + got, n - got, 0);
    if (r < 0 && errno == EINTR) continue;
    // End-of-file, or a reset because the daemon died (kill -9 with bytes
    // unread), means "closed"; any other error says what it was.
    if (r < 0 && errno != ECONNRESET)
      fail(std::string("recv from the daemon: ") + std::strerror(errno));
    if (r <= 0) return false;
    got += static_cast<size_t>(r);
  }
  return true;
}

std::optional<Frame> RawClient::read_frame(milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  uint8_t hdr[proto::kHeaderSize];
  bool timed_out = false;
  if (!read_exact(hdr, sizeof hdr, deadline, &timed_out)) {
    if (timed_out) fail("timed out waiting for a frame from sidewald");
    return std::nullopt;
  }
  Frame f;
  f.header = proto::decode_header(hdr);
  f.body.resize(f.header.body_len);
  if (!read_exact(f.body.data(), f.body.size(), deadline, &timed_out)) {
    fail(timed_out ? "timed out in the middle of a frame" : "sidewald closed mid-frame");
  }
  return f;
}

bool RawClient::wait_closed(milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  uint8_t b;
  bool timed_out = false;
  if (read_exact(&b, 1, deadline, &timed_out)) fail("expected the connection to close; got data");
  return !timed_out;
}

void RawClient::send_append(uint64_t id, const std::vector<TestRecord>& records) {
  std::vector<proto::AppendRecord> in;
  in.reserve(records.size());
  for (const auto& r : records) {
    in.push_back(
        proto::AppendRecord{.type = r.type, .flags = 0, .tenant = r.tenant, .payload = r.payload});
  }
  std::vector<uint8_t> frame;
  proto::encode_append(id, in, &frame);
  if (!send(frame)) fail("send APPEND: connection closed");
}

Frame RawClient::append(const std::vector<TestRecord>& records) {
  const uint64_t id = next_id();
  send_append(id, records);
  auto f = read_frame();
  if (!f) fail("connection closed waiting for the APPEND reply");
  if (f->header.request_id != id)
    fail("reply for request " + std::to_string(f->header.request_id) + ", expected " +
         std::to_string(id));
  return *f;
}

proto::StatusReply RawClient::status() {
  const uint64_t id = next_id();
  std::vector<uint8_t> frame;
  proto::encode_status(id, &frame);
  if (!send(frame)) fail("send STATUS: connection closed");
  auto f = read_frame();
  if (!f) fail("connection closed waiting for STATUS_OK");
  if (f->opcode() != proto::Opcode::kStatusOk || f->header.request_id != id) {
    fail("expected STATUS_OK, got " + describe(*f));
  }
  proto::StatusReply s;
  Status st = proto::decode_status_ok(f->body, &s);
  if (!st.ok()) fail("bad STATUS_OK: " + st.ToString());
  return s;
}

std::vector<TestRecord> RawClient::read_all(uint64_t from, uint32_t max_bytes) {
  std::vector<TestRecord> out;
  uint64_t next = from;
  for (;;) {
    const uint64_t id = next_id();
    std::vector<uint8_t> frame;
    proto::encode_read(
        id,
        proto::ReadRequest{.from_lsn = next, .max_records = 0, .max_bytes = max_bytes, .follow = 0},
        &frame);
    if (!send(frame)) fail("send READ: connection closed");
    uint64_t end_next = 0;
    size_t got = 0;
    for (;;) {
      auto f = read_frame();
      if (!f) fail("connection closed during READ");
      if (f->header.request_id != id) fail("READ reply for another request: " + describe(*f));
      if (f->opcode() == proto::Opcode::kRecords) {
        std::vector<proto::ReadRecord> recs;
        Status st = proto::decode_records(f->body, &recs);
        if (!st.ok()) fail("bad RECORDS: " + st.ToString());
        for (const auto& r : recs) {
          out.push_back(TestRecord{.lsn = r.lsn,
                                   .type = r.type,
                                   .tenant = r.tenant,
                                   .payload = {r.payload.begin(), r.payload.end()}});
          ++got;
        }
        continue;
      }
      if (f->opcode() == proto::Opcode::kEnd) {
        Status st = proto::decode_end(f->body, &end_next);
        if (!st.ok()) fail("bad END: " + st.ToString());
        break;
      }
      fail("unexpected reply to READ: " + describe(*f));
    }
    // A READ ends at the daemon's byte limit; keep going until one is empty.
    if (got == 0) return out;
    next = end_next;
  }
}

proto::Ack expect_ack(const Frame& f) {
  if (f.opcode() != proto::Opcode::kAck) fail("expected ACK, got " + describe(f));
  proto::Ack a;
  Status st = proto::decode_ack(f.body, &a);
  if (!st.ok()) fail("bad ACK: " + st.ToString());
  return a;
}

proto::ErrorReply expect_error(const Frame& f) {
  if (f.opcode() != proto::Opcode::kError) fail("expected ERROR, got " + describe(f));
  proto::ErrorReply e;
  Status st = proto::decode_error(f.body, &e);
  if (!st.ok()) fail("bad ERROR: " + st.ToString());
  return e;
}

std::string describe(const Frame& f) {
  std::string s = std::string(proto::opcode_name(f.header.opcode)) +
                  " request_id=" + std::to_string(f.header.request_id) +
                  " body_len=" + std::to_string(f.header.body_len);
  if (f.opcode() == proto::Opcode::kError) {
    proto::ErrorReply e;
    if (proto::decode_error(f.body, &e).ok()) {
      s += std::string(" code=") + proto::error_code_name(e.code) + " msg=" + e.message;
    }
  }
  return s;
}

// ---- Daemon

Daemon::Daemon(std::string dir, DaemonConfig config)
    : dir_(std::move(dir)),
      data_(dir_ + "/data"),
      socket_(dir_ + "/s.sock"),
      config_path_(dir_ + "/sidewal.yaml"),
      config_(std::move(config)) {}

Daemon::~Daemon() {
  child_.reset();  // kills (SIGKILL) and reaps a daemon still running
  if (pump_.joinable()) pump_.join();
}

void Daemon::write_config() {
  auto sections = config_.sections;
  sections[""]["data_dir"] = data_;
  sections["socket"].emplace("path", socket_);
  sections["admin"].emplace("listen", "127.0.0.1:0");
  sections["shutdown"].emplace("drain_timeout_seconds", "20");
  std::ofstream f(config_path_);
  for (const auto& [k, v] : sections[""]) f << k << ": " << v << "\n";
  for (const auto& [section, keys] : sections) {
    if (section.empty()) continue;
    f << section << ":\n";
    for (const auto& [k, v] : keys) f << "  " << k << ": " << v << "\n";
  }
}

void Daemon::start(std::vector<std::string> extra_args) {
  if (running()) fail("daemon already running");
  if (pump_.joinable()) pump_.join();
  write_config();
  std::vector<std::string> args = {"--config", config_path_};
  for (auto& a : extra_args) args.push_back(a);
  {
    std::lock_guard lock(mu_);
    output_seen_ = output_.size();
  }
  child_.reset();
  child_.emplace(SIDEWALD_PATH, args, test::ChildProcess::Options{.merge_stderr = true});
  exit_code_ = -1;
  const int rfd = child_->release_stdout();
  pump_ = std::thread([this, rfd] {
    char buf[16384];
    for (;;) {
      ssize_t n = ::read(rfd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      {
        std::lock_guard lock(mu_);
        output_.append(buf, static_cast<size_t>(n));
      }
      cv_.notify_all();
    }
    ::close(rfd);
    cv_.notify_all();
  });
  // The admin port is chosen by the kernel (admin.listen 127.0.0.1:0) and
  // announced in the "listening" line.
  static const std::regex listening(R"re("msg":"listening".*"admin_port":(\d+))re");
  std::smatch m;
  bool exited = false;
  bool found = wait_until(
      [&] {
        if (const auto code = child_->try_wait()) {
          exited = true;
          exit_code_ = *code;
          return true;
        }
        std::lock_guard lock(mu_);
        std::string out = output_.substr(output_seen_);
        if (std::regex_search(out, m, listening)) {
          admin_port_ = static_cast<uint16_t>(std::stoi(m[1].str()));
          return true;
        }
        return false;
      },
      seconds(30));
  if (exited) {
    if (pump_.joinable()) pump_.join();
    fail("sidewald exited with code " + std::to_string(exit_code_) + " at start; output:\n" +
         output());
  }
  if (!found) fail("sidewald did not start listening; output:\n" + output());
}

void Daemon::start_ready(milliseconds timeout) {
  start();
  wait_ready(timeout);
}

void Daemon::wait_ready(milliseconds timeout) {
  bool ok = wait_until([&] { return http_get(admin_port_, "/readyz").status == 200; }, timeout);
  if (!ok) fail("sidewald did not become ready; output:\n" + output());
}

void Daemon::signal(int sig) {
  if (!running()) fail("daemon not running");
  child_->signal(sig);
}

int Daemon::wait_exit(milliseconds timeout) {
  if (!running()) return exit_code_;
  std::optional<int> code;
  bool exited = wait_until([&] { return (code = child_->try_wait()).has_value(); }, timeout);
  if (!exited) fail("sidewald did not exit; output:\n" + output());
  exit_code_ = *code;
  if (pump_.joinable()) pump_.join();
  return exit_code_;
}

std::string Daemon::output() const {
  std::lock_guard lock(mu_);
  return output_;
}

bool Daemon::wait_until(const std::function<bool()>& pred, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (pred()) return true;
    if (Clock::now() >= deadline) return false;
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, milliseconds(5));
  }
}

RunResult run_sidewald(const std::vector<std::string>& args, milliseconds timeout) {
  return run_program(SIDEWALD_PATH, args, timeout);
}

std::vector<uint8_t> make_payload(uint32_t stream, uint64_t seq, size_t len) {
  std::vector<uint8_t> p(len);
  uint64_t x = (uint64_t{stream} << 40) ^ (seq * 0x9E3779B97F4A7C15ull) ^ len;
  if (x == 0) x = 1;  // xorshift's one fixed point
  for (size_t i = 0; i < len; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    p[i] = static_cast<uint8_t>(x);
  }
  // The first 12 bytes say whose record this is, when there is room.
  if (len >= 12) {
    put_u32(p.data(), stream);
    put_u64(p.data() + 4, seq);
  }
  return p;
}

}  // namespace sidewal::it
