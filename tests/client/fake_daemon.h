// An in-process stand-in for sidewald, speaking protocol v1 over a Unix
// socket in a temp dir, so the client can be tested without the engine.
// It keeps an in-memory log (LSNs from 1), answers every request like the
// daemon would, and lets a test take over any frame (`intercept`) to script
// delays, reorderings, errors, violations and disconnects. HELLO is answered
// as set_hello() says: by default the original 24-byte HELLO_OK whatever the
// flags (no limits block), or like a daemon that predates the LIMITS flag
// (MALFORMED), or with an advertised limits block. It enforces no limit.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "proto/protocol.h"

namespace sidewal::client::testing {

struct StoredRecord {
  uint64_t lsn;
  uint16_t type;
  uint32_t tenant;
  std::vector<uint8_t> payload;
};

class FakeDaemon {
 public:
  // One accepted connection; send() is safe from any thread.
  struct Conn {
    int fd = -1;
    std::mutex send_mu;
    std::thread thread;
    bool send(const std::vector<uint8_t>& bytes) {
      std::lock_guard lk(send_mu);
      size_t off = 0;
      while (off < bytes.size()) {
        ssize_t w = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        off += static_cast<size_t>(w);
      }
      return true;
    }
    // Closes the connection from the daemon's side (the client sees EOF).
    void hang_up() { ::shutdown(fd, SHUT_RDWR); }
  };

  // How HELLO is answered (see the file comment).
  struct HelloBehaviour {
    uint32_t max_record_bytes = 1u << 20;
    // A daemon that predates kHelloLimits: the flag is MALFORMED.
    bool refuse_limits_flag = false;
    // Set: the limits block sent to a HELLO with kHelloLimits (its
    // has_limits and limit fields are used; the rest is filled in).
    std::optional<proto::HelloOk> limits;
  };

  // Returns true when it handled the frame itself.
  using Intercept =
      std::function<bool(Conn& c, const proto::FrameHeader& h, std::span<const uint8_t> body)>;

  explicit FakeDaemon(const std::string& socket_path, Intercept intercept = nullptr)
      : path_(socket_path), intercept_(std::move(intercept)) {
    std::filesystem::remove(path_);
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    SW_ASSERT(listen_fd_ >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    SW_ASSERT(path_.size() < sizeof(addr.sun_path));
    std::memcpy(addr.sun_path, path_.data(), path_.size());
    SW_ASSERT(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    SW_ASSERT(::listen(listen_fd_, 64) == 0);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~FakeDaemon() { stop(); }

  // Stops accepting, hangs up every connection and removes the socket file.
  void stop() {
    if (stopped_.exchange(true)) return;
    ::shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    ::close(listen_fd_);
    std::vector<std::shared_ptr<Conn>> conns;
    {
      std::lock_guard lk(mu_);
      conns = conns_;
    }
    for (auto& c : conns) c->hang_up();
    for (auto& c : conns) c->thread.join();
    for (auto& c : conns) ::close(c->fd);
    std::filesystem::remove(path_);
  }

  int accepted() const { return accepted_.load(); }
  uint64_t requests_seen() const { return requests_.load(); }

  std::vector<StoredRecord> log() {
    std::lock_guard lk(mu_);
    return log_;
  }

  // Blocks until `pred` holds; it is checked under the daemon's mutex when a
  // frame arrives and after it is handled, so it may read only atomics (such
  // as accepted() and requests_seen()) or the test's own state. Returns false
  // at the deadline.
  bool wait_until(const std::function<bool()>& pred,
                  std::chrono::seconds limit = std::chrono::seconds(10)) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, limit, pred);
  }

  // The default behaviour for one frame: what sidewald would answer.
  void handle(Conn& c, const proto::FrameHeader& h, std::span<const uint8_t> body) {
    std::vector<uint8_t> out;
    switch (static_cast<proto::Opcode>(h.opcode)) {
      case proto::Opcode::kHello: {
        proto::Hello m;
        if (!proto::decode_hello(body, &m).ok()) return error(c, h, proto::ErrorCode::kMalformed);
        std::lock_guard lk(mu_);
        hello_names_.push_back(m.name);
        hello_flags_.push_back(h.flags);
        if (h.flags != 0 && (hello_.refuse_limits_flag || h.flags != proto::kHelloLimits)) {
          return error_locked(c, h, proto::ErrorCode::kMalformed, "header flags must be 0");
        }
        proto::HelloOk ok;
        if (hello_.limits && h.flags == proto::kHelloLimits) ok = *hello_.limits;
        ok.version = 1;
        ok.max_record_bytes = hello_.max_record_bytes;
        ok.first_lsn = first_lsn();
        ok.durable_lsn = log_.empty() ? 0 : log_.back().lsn;
        ok.has_limits = hello_.limits && h.flags == proto::kHelloLimits;
        proto::encode_hello_ok(h.request_id, ok, &out);
        break;
      }
      case proto::Opcode::kAppend: {
        std::vector<proto::AppendRecord> recs;
        Status s = proto::decode_append(body, &recs);
        if (!s.ok()) return error(c, h, proto::ErrorCode::kMalformed, s.message());
        std::lock_guard lk(mu_);
        uint64_t first = next_lsn_;
        for (const auto& r : recs) {
          log_.push_back({next_lsn_++, r.type, r.tenant, {r.payload.begin(), r.payload.end()}});
        }
        proto::encode_ack(h.request_id, proto::Ack{first, static_cast<uint32_t>(recs.size())},
                          &out);
        c.send(out);
        push_to_followers_locked();
        return;
      }
      case proto::Opcode::kRead: {
        proto::ReadRequest m;
        if (!proto::decode_read(body, &m).ok()) return error(c, h, proto::ErrorCode::kMalformed);
        if (m.from_lsn == 0) return error(c, h, proto::ErrorCode::kMalformed, "from_lsn 0");
        std::lock_guard lk(mu_);
        uint64_t from = m.from_lsn;
        if (from < first_lsn()) return error_locked(c, h, proto::ErrorCode::kLsnTruncated, "");
        uint64_t next = from;
        uint32_t sent = 0;
        append_records_locked(h.request_id, &next, m.max_records, &sent, &out);
        if (m.follow && (m.max_records == 0 || sent < m.max_records)) {
          followers_[h.request_id] = Follower{&c, next};
          c.send(out);
          return;
        }
        proto::encode_end(h.request_id, next, &out);
        break;
      }
      case proto::Opcode::kCancel: {
        std::lock_guard lk(mu_);
        auto it = followers_.find(h.request_id);
        if (it == followers_.end()) return;
        proto::encode_end(h.request_id, it->second.next, &out);
        followers_.erase(it);
        break;
      }
      case proto::Opcode::kStatus: {
        std::lock_guard lk(mu_);
        proto::StatusReply r{first_lsn(), log_.empty() ? 0 : log_.back().lsn, 1, log_.size() * 100,
                             1};
        proto::encode_status_ok(h.request_id, r, &out);
        break;
      }
      case proto::Opcode::kTruncate: {
        uint64_t before = 0;
        if (!proto::decode_truncate(body, &before).ok()) {
          return error(c, h, proto::ErrorCode::kMalformed);
        }
        std::lock_guard lk(mu_);
        while (!log_.empty() && log_.front().lsn < before) log_.erase(log_.begin());
        truncated_below_ = std::max(truncated_below_, before);
        proto::encode_ok(h.request_id, first_lsn(), &out);
        break;
      }
      default: return error(c, h, proto::ErrorCode::kUnknownOpcode, "unknown opcode");
    }
    c.send(out);
  }

  void error(Conn& c, const proto::FrameHeader& h, proto::ErrorCode code,
             const std::string& msg = "") {
    std::vector<uint8_t> out;
    proto::encode_error(h.request_id, code, msg, &out);
    c.send(out);
  }

  std::vector<std::string> hello_names() {
    std::lock_guard lk(mu_);
    return hello_names_;
  }
  // The header flags of every HELLO received, in order.
  std::vector<uint8_t> hello_flags() {
    std::lock_guard lk(mu_);
    return hello_flags_;
  }
  void set_hello(HelloBehaviour b) {
    std::lock_guard lk(mu_);
    hello_ = std::move(b);
  }
  // Requests of `op` received (HELLOs sent on connect are not the test's).
  uint64_t requests_seen(proto::Opcode op) const {
    return per_opcode_[static_cast<uint8_t>(op)].load();
  }

 private:
  struct Follower {
    Conn* conn;
    uint64_t next;
  };

  void error_locked(Conn& c, const proto::FrameHeader& h, proto::ErrorCode code,
                    const std::string& msg) {
    std::vector<uint8_t> out;
    proto::encode_error(h.request_id, code, msg, &out);
    c.send(out);
  }

  // REQUIRES: mu_ held.
  uint64_t first_lsn() const {
    return log_.empty() ? std::max<uint64_t>(truncated_below_, 1) : log_.front().lsn;
  }

  // REQUIRES: mu_ held. One RECORDS frame with every stored record from *next.
  void append_records_locked(uint64_t id, uint64_t* next, uint32_t max_records, uint32_t* sent,
                             std::vector<uint8_t>* out) {
    size_t start = 0;
    bool any = false;
    for (const StoredRecord& r : log_) {
      if (r.lsn < *next) continue;
      if (max_records != 0 && *sent >= max_records) break;
      if (!any) start = proto::begin_records(id, out);
      any = true;
      proto::add_record(proto::ReadRecord{r.lsn, r.type, 0, r.tenant, r.payload}, out);
      *next = r.lsn + 1;
      ++*sent;
    }
    if (any) proto::finish_records(start, out);
  }

  void push_to_followers_locked() {
    for (auto& [id, f] : followers_) {
      std::vector<uint8_t> out;
      uint32_t sent = 0;
      append_records_locked(id, &f.next, 0, &sent, &out);
      if (!out.empty()) f.conn->send(out);
    }
  }

  void accept_loop() {
    for (;;) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR) continue;
        return;  // shut down
      }
      auto c = std::make_shared<Conn>();
      c->fd = fd;
      std::lock_guard lk(mu_);
      conns_.push_back(c);
      ++accepted_;
      c->thread = std::thread([this, c] { serve(*c); });
      cv_.notify_all();
    }
  }

  void serve(Conn& c) {
    std::vector<uint8_t> buf;
    std::vector<uint8_t> chunk(1 << 16);
    for (;;) {
      ssize_t n = ::recv(c.fd, chunk.data(), chunk.size(), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      buf.insert(buf.end(), chunk.begin(), chunk.begin() + n);
      size_t off = 0;
      proto::FrameHeader h;
      while (proto::peek_frame(std::span(buf).subspan(off), 64u << 20, &h) ==
             proto::FrameStatus::kComplete) {
        std::span<const uint8_t> body(buf.data() + off + proto::kHeaderSize, h.body_len);
        {
          std::lock_guard lk(mu_);
          ++requests_;
          ++per_opcode_[h.opcode];
          cv_.notify_all();
        }
        if (!(intercept_ && intercept_(c, h, body))) handle(c, h, body);
        off += proto::kHeaderSize + h.body_len;
        std::lock_guard lk(mu_);
        cv_.notify_all();
      }
      buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(off));
    }
    std::lock_guard lk(mu_);
    for (auto it = followers_.begin(); it != followers_.end();) {
      it = it->second.conn == &c ? followers_.erase(it) : std::next(it);
    }
    cv_.notify_all();
  }

  const std::string path_;
  Intercept intercept_;
  int listen_fd_ = -1;
  std::thread acceptor_;
  std::atomic<bool> stopped_{false};
  std::atomic<int> accepted_{0};
  std::atomic<uint64_t> requests_{0};
  std::array<std::atomic<uint64_t>, 256> per_opcode_{};

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<Conn>> conns_;
  std::vector<StoredRecord> log_;
  uint64_t next_lsn_ = 1;
  uint64_t truncated_below_ = 0;
  std::map<uint64_t, Follower> followers_;
  std::vector<std::string> hello_names_;
  std::vector<uint8_t> hello_flags_;
  HelloBehaviour hello_;
};

}  // namespace sidewal::client::testing
