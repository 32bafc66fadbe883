#include "client/channel.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace sidewal::client {
namespace {

// A reader thread sends what its callbacks queued right away once this much
// has accumulated, instead of at the end of the batch.
constexpr size_t kDeferredFlushBytes = 256u << 10;

thread_local const void* tls_owner = nullptr;
thread_local const Channel* tls_connection = nullptr;

Status protocol_violation(const std::string& what) {
  return Status::Closed("protocol violation by the daemon: " + what);
}

}  // namespace

struct Channel::Event {
  enum Kind : uint8_t { kOneShot, kRecords, kEnd } kind = kOneShot;
  Pending pending;                         // kOneShot
  std::shared_ptr<ReadStream> stream;      // kRecords, kEnd
  std::vector<proto::ReadRecord> records;  // kRecords: views into the read buffer
  Status status;                           // kEnd
  uint64_t next_lsn = 0;                   // kEnd
};

Result<int> connect_unix(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return Status::InvalidArgument("socket path '" + path + "' must be 1.." +
                                   std::to_string(sizeof(addr.sun_path) - 1) + " bytes");
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno(errno, "socket(AF_UNIX)");
  while (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (errno == EINTR) continue;
    int err = errno;
    ::close(fd);
    return Status::FromErrno(err, "connect " + path);
  }
  return fd;
}

Channel::Channel(int fd, const ClientOptions& options, const void* owner,
                 std::atomic<uint64_t>* ids)
    : fd_(fd),
      options_(options),
      owner_(owner),
      ids_(ids != nullptr ? ids : &own_ids_),
      max_reply_body_(options.max_reply_body) {}

Channel::~Channel() {
  SW_ASSERT_MSG(!reader_.joinable(), "Channel destroyed with its reader thread running");
  ::close(fd_);
}

void Channel::start() {
  reader_ = std::thread([this] { reader_loop(); });
}

const void* Channel::current_owner() { return tls_owner; }

bool Channel::is_reader_thread() const { return tls_connection == this; }

bool Channel::broken() const {
  MutexLock lk(mu_);
  return broken_;
}

Status Channel::broken_status() const {
  MutexLock lk(mu_);
  return broken_ ? why_broken_ : Status::Ok();
}

// ---- Limits.

void Channel::queue_limits_hello_locked(const std::string& name) {
  Pending p;
  p.id = ids_->fetch_add(1);
  p.expect = proto::Opcode::kHelloOk;
  p.limits_ask = refuses_hello_flag_ ? LimitsAsk::kPlain : LimitsAsk::kFlagged;
  p.complete = [](const Pending&) {};
  proto::Hello hello;
  hello.name = name;
  hello.flags = refuses_hello_flag_ ? 0 : proto::kHelloLimits;
  proto::encode_hello(p.id, hello, &out_);
  inflight_.push_back(std::move(p));
  limits_state_ = LimitsState::kAsking;
}

bool Channel::ask_limits(const std::string& name) {
  MutexLock lk(mu_);
  wait_for_room();
  if (broken_) return false;
  hello_name_ = name;
  queue_limits_hello_locked(name);
  maybe_flush();
  return true;
}

bool Channel::ask_limits_again(const std::string& name) {
  {
    MutexLock lk(mu_);
    if (limits_state_ != LimitsState::kRetry) return false;
  }
  return ask_limits(name);
}

void Channel::wait_limits(std::chrono::steady_clock::time_point deadline) {
  MutexLock lk(mu_);
  limits_cv_.wait_until(mu_, deadline, [&]() REQUIRES(mu_) {
    return broken_ || limits_state_ != LimitsState::kAsking;
  });
}

ServerLimits Channel::limits(bool* retry) const {
  MutexLock lk(mu_);
  if (retry != nullptr) *retry = limits_state_ == LimitsState::kRetry;
  if (limits_state_ == LimitsState::kKnown) return limits_;
  ServerLimits l;
  l.source = ServerLimits::Source::kUnknown;
  l.max_frame_body = options_.max_request_body;
  l.max_reply_body = options_.max_reply_body;
  return l;
}

void Channel::on_limits_reply_locked(const Pending& p) {
  SW_ASSERT(p.done && p.limits_ask != LimitsAsk::kNone);
  if (p.status.ok()) {
    const proto::HelloOk& h = p.hello;
    ServerLimits l;
    l.max_record_bytes = h.max_record_bytes;
    if (h.has_limits) {
      l.source = ServerLimits::Source::kAdvertised;
      l.max_frame_body = h.max_frame_body;
      l.max_batch_bytes = h.max_batch_bytes;
      l.record_extra_bytes = h.record_extra_bytes;
      l.max_reply_body = h.max_reply_body;
    } else {
      // An older daemon: its HELLO_OK names max_record_bytes only.
      l.source = ServerLimits::Source::kOlderDaemon;
      l.max_frame_body = options_.max_request_body;
      l.max_reply_body = options_.max_reply_body;
    }
    limits_ = l;
    limits_state_ = LimitsState::kKnown;
    // Applies from the next frame the reader takes (this runs on it).
    max_reply_body_ = l.max_reply_body;
  } else if (p.limits_ask == LimitsAsk::kFlagged &&
             daemon_error_code(p.status) == proto::ErrorCode::kMalformed) {
    // A daemon that predates kHelloLimits refuses the flag (and nothing
    // else: the connection stays usable). Ask without it; the reader thread
    // sends this after the current batch of replies.
    refuses_hello_flag_ = true;
    queue_limits_hello_locked(hello_name_);
    return;
  } else {
    // NOT_READY (recovering) or another refusal: unknown for now; the
    // client asks again later (Client::append_async, server_limits).
    limits_state_ = LimitsState::kRetry;
  }
  limits_cv_.notify_all();
}

size_t Channel::in_flight() const {
  MutexLock lk(mu_);
  return inflight_.size() + reads_.size();
}

void Channel::shutdown(const Status& why) {
  MutexLock lk(mu_);
  fail_locked(why);
}

void Channel::join() {
  SW_ASSERT_MSG(!is_reader_thread(), "a reader thread cannot join itself");
  if (reader_.joinable()) reader_.join();
}

void Channel::fail_locked(Status why) {
  if (broken_) return;
  broken_ = true;
  why_broken_ = std::move(why);
  out_.clear();
  // Wakes the reader's recv() (it sees EOF and fails everything in flight)
  // and a writer blocked in send().
  ::shutdown(fd_, SHUT_RDWR);
  room_cv_.notify_all();
  limits_cv_.notify_all();
}

void Channel::wait_for_room() {
  // The reader thread must never wait here: the daemon may be waiting for us
  // to read its replies before it reads more requests.
  if (is_reader_thread()) return;
  room_cv_.wait(mu_,
                [&]() REQUIRES(mu_) { return broken_ || out_.size() < options_.max_queued_bytes; });
}

bool Channel::submit(Pending pending, const std::function<void(std::vector<uint8_t>*)>& encode) {
  MutexLock lk(mu_);
  wait_for_room();
  if (broken_) return false;
  encode(&out_);
  inflight_.push_back(std::move(pending));
  maybe_flush();
  return true;
}

bool Channel::submit_read(std::shared_ptr<ReadStream> stream,
                          const std::function<void(std::vector<uint8_t>*)>& encode) {
  MutexLock lk(mu_);
  wait_for_room();
  if (broken_) return false;
  encode(&out_);
  uint64_t id = stream->id;
  reads_.emplace(id, std::move(stream));
  maybe_flush();
  return true;
}

void Channel::cancel(uint64_t read_id) {
  MutexLock lk(mu_);
  if (broken_ || reads_.find(read_id) == reads_.end()) return;
  proto::encode_cancel(read_id, &out_);
  maybe_flush();
}

void Channel::maybe_flush() {
  if (writing_) return;  // the current writer (or the parked reader) sends what we queued
  const bool reader = is_reader_thread();
  // Deferred to the end of the callback batch (reader) or to the last
  // release_sends() (others), unless the queue is already large enough that
  // waiting gains nothing. The bound also keeps a holder from ever waiting
  // in wait_for_room() for bytes that only its own release would send.
  const bool deferred = reader ? in_callbacks_ : send_holds_ > 0;
  const size_t limit = std::min(kDeferredFlushBytes, options_.max_queued_bytes / 2);
  if (deferred && out_.size() < limit) return;
  flush(reader);
}

void Channel::hold_sends() {
  MutexLock lk(mu_);
  ++send_holds_;
}

void Channel::release_sends() {
  MutexLock lk(mu_);
  SW_ASSERT(send_holds_ > 0);
  if (--send_holds_ > 0 || out_.empty() || broken_) return;
  maybe_flush();
}

void Channel::flush(bool from_reader) {
  writing_ = true;
  for (;;) {
    if (sent_off_ == sending_.size()) {
      sending_.clear();
      sent_off_ = 0;
      if (out_.empty() || broken_) break;
      std::swap(out_, sending_);
      room_cv_.notify_all();
    }
    // MSG_NOSIGNAL: a daemon that went away is an error to report, not a
    // SIGPIPE that kills the database. The reader thread never blocks in
    // send (see reader_owns_write_).
    const int flags = MSG_NOSIGNAL | (from_reader ? MSG_DONTWAIT : 0);
    mu_.unlock();
    ssize_t w = ::send(fd_, sending_.data() + sent_off_, sending_.size() - sent_off_, flags);
    const int err = errno;
    mu_.lock();
    if (w > 0) {
      sent_off_ += static_cast<size_t>(w);
      continue;
    }
    if (w < 0 && err == EINTR) continue;
    if (w < 0 && (err == EAGAIN || err == EWOULDBLOCK) && from_reader) {
      reader_owns_write_ = true;  // writing_ stays set: the reader resumes on POLLOUT
      return;
    }
    fail_locked(Status::Closed(std::string("send to sidewald: ") + std::strerror(err)));
    sending_.clear();
    sent_off_ = 0;
    break;
  }
  writing_ = false;
  reader_owns_write_ = false;
}

void Channel::reader_loop() {
  tls_owner = owner_;
  tls_connection = this;
  std::vector<uint8_t> buf(std::max<size_t>(options_.read_buffer_bytes, proto::kHeaderSize));
  size_t begin = 0, end = 0;  // unparsed bytes are buf[begin, end)
  std::vector<Event> events;
  for (;;) {
    bool owns_write = false;
    {
      MutexLock lk(mu_);
      owns_write = reader_owns_write_;
    }
    if (owns_write) {
      // Requests are parked with us: wait for room in the socket or for
      // replies, whichever comes first, and never block on either alone
      // (the daemon may be waiting for us to read before it reads more).
      pollfd p{fd_, POLLIN | POLLOUT, 0};
      if (::poll(&p, 1, -1) < 0) {
        if (errno == EINTR) continue;
        MutexLock lk(mu_);
        fail_locked(Status::Closed(std::string("poll: ") + std::strerror(errno)));
        break;
      }
      if (p.revents & (POLLOUT | POLLERR | POLLHUP)) {
        MutexLock lk(mu_);
        if (reader_owns_write_) flush(/*from_reader=*/true);
      }
      if (!(p.revents & (POLLIN | POLLERR | POLLHUP))) continue;
    }
    if (end == buf.size()) {
      std::memmove(buf.data(), buf.data() + begin, end - begin);
      end -= begin;
      begin = 0;
    }
    ssize_t n = ::recv(fd_, buf.data() + end, buf.size() - end, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      MutexLock lk(mu_);
      fail_locked(n == 0
                      ? Status::Closed("connection closed by sidewald")
                      : Status::Closed(std::string("recv from sidewald: ") + std::strerror(errno)));
      break;
    }
    end += static_cast<size_t>(n);

    bool stop = false;
    {
      MutexLock lk(mu_);
      for (;;) {
        proto::FrameHeader h;
        auto st =
            proto::peek_frame(std::span(buf.data() + begin, end - begin), max_reply_body_, &h);
        if (st == proto::FrameStatus::kIncomplete) {
          // A frame bigger than the buffer: grow so the next recv can finish it.
          size_t need = end - begin >= proto::kHeaderSize ? proto::kHeaderSize + h.body_len : 0;
          if (need > buf.size()) buf.resize(need);
          break;
        }
        if (st == proto::FrameStatus::kTooLarge) {
          fail_locked(
              protocol_violation("reply body of " + std::to_string(h.body_len) +
                                 " bytes exceeds the limit of " + std::to_string(max_reply_body_) +
                                 (limits_state_ == LimitsState::kKnown &&
                                          limits_.source == ServerLimits::Source::kAdvertised
                                      ? " the daemon advertised (HELLO_OK max_reply_body)"
                                      : " (ClientOptions::max_reply_body)")));
          stop = true;
          break;
        }
        std::span<const uint8_t> body(buf.data() + begin + proto::kHeaderSize, h.body_len);
        Status s = dispatch_locked(h, body, &events);
        begin += proto::kHeaderSize + h.body_len;
        if (!s.ok()) {
          fail_locked(std::move(s));
          stop = true;
          break;
        }
      }
    }
    // Callbacks run unlocked (they may submit); record views point into buf,
    // which is not touched until they are done.
    in_callbacks_ = true;
    run(&events);
    in_callbacks_ = false;
    {
      MutexLock lk(mu_);
      if (!writing_ && !out_.empty()) flush(/*from_reader=*/true);
    }
    if (begin == end) begin = end = 0;
    if (stop) break;
  }
  fail_everything();
  tls_connection = nullptr;
  tls_owner = nullptr;
}

Status Channel::dispatch_locked(const proto::FrameHeader& h, std::span<const uint8_t> body,
                                std::vector<Event>* events) {
  const auto op = static_cast<proto::Opcode>(h.opcode);
  // Built only for an error message: formatting it for every reply cost
  // heap allocations per record.
  auto where = [&h] {
    return std::string(proto::opcode_name(h.opcode)) + " for request_id " +
           std::to_string(h.request_id);
  };
  if (op == proto::Opcode::kRecords || op == proto::Opcode::kEnd) {
    auto it = reads_.find(h.request_id);
    if (it == reads_.end()) return protocol_violation(where() + ": no READ with that id");
    Event e;
    e.stream = it->second;
    if (op == proto::Opcode::kRecords) {
      e.kind = Event::kRecords;
      // The frame says whether its entries carry payloads (HEADER_ONLY READ).
      Status s =
          proto::decode_records(body, &e.records, (h.flags & proto::kRecordsHeaderOnly) != 0);
      if (!s.ok()) return protocol_violation(s.message());
    } else {
      e.kind = Event::kEnd;
      Status s = proto::decode_end(body, &e.next_lsn);
      if (!s.ok()) return protocol_violation(s.message());
      reads_.erase(it);
    }
    events->push_back(std::move(e));
    return Status::Ok();
  }
  if (op == proto::Opcode::kError) {
    proto::ErrorReply err;
    Status s = proto::decode_error(body, &err);
    if (!s.ok()) return protocol_violation(s.message());
    auto it = reads_.find(h.request_id);
    if (it != reads_.end()) {
      Event e;
      e.kind = Event::kEnd;
      e.stream = it->second;
      e.status = status_for_daemon_error(err.code, err.message);
      reads_.erase(it);
      events->push_back(std::move(e));
      return Status::Ok();
    }
    bool known = false;
    for (const Pending& p : inflight_) known = known || p.id == h.request_id;
    if (!known) {
      // An ERROR not tied to a request of ours (e.g. UNAUTHORIZED before
      // any request was read): the daemon is refusing the connection.
      return Status::Closed("connection refused by sidewald: " +
                            status_for_daemon_error(err.code, err.message).message());
    }
    Status done = complete_one_shot_locked(h, body, &err);
    if (done.ok()) drain_ready_locked(events);
    return done;
  }
  Status done = complete_one_shot_locked(h, body, nullptr);
  if (done.ok()) drain_ready_locked(events);
  return done;
}

Status Channel::complete_one_shot_locked(const proto::FrameHeader& h, std::span<const uint8_t> body,
                                         const proto::ErrorReply* error) {
  auto where = [&h] {
    return std::string(proto::opcode_name(h.opcode)) + " for request_id " +
           std::to_string(h.request_id);
  };
  // Replies come in request order, so the match is almost always the front.
  Pending* p = nullptr;
  for (Pending& q : inflight_) {
    if (q.id == h.request_id && !q.done) {
      p = &q;
      break;
    }
  }
  if (p == nullptr) return protocol_violation(where() + ": no request waiting for it");
  if (error != nullptr) {
    p->status = status_for_daemon_error(error->code, error->message);
    p->done = true;
    if (p->limits_ask != LimitsAsk::kNone) on_limits_reply_locked(*p);
    return Status::Ok();
  }
  if (h.opcode != static_cast<uint8_t>(p->expect)) {
    return protocol_violation(where() + ": expected " +
                              proto::opcode_name(static_cast<uint8_t>(p->expect)));
  }
  Status s;
  switch (p->expect) {
    case proto::Opcode::kAck:
      s = proto::decode_ack(body, &p->ack);
      if (s.ok() && (p->ack.count != p->count || p->ack.first_lsn == 0)) {
        return protocol_violation(where() + ": ACK of " + std::to_string(p->ack.count) +
                                  " records at LSN " + std::to_string(p->ack.first_lsn) +
                                  " for an APPEND of " + std::to_string(p->count));
      }
      break;
    case proto::Opcode::kHelloOk: s = proto::decode_hello_ok(body, &p->hello); break;
    case proto::Opcode::kStatusOk: s = proto::decode_status_ok(body, &p->status_reply); break;
    case proto::Opcode::kOk: s = proto::decode_ok(body, &p->first_lsn); break;
    default: SW_ASSERT_MSG(false, "one-shot request with an unexpected reply opcode");
  }
  if (!s.ok()) return protocol_violation(s.message());
  p->done = true;
  if (p->limits_ask != LimitsAsk::kNone) on_limits_reply_locked(*p);
  return Status::Ok();
}

void Channel::drain_ready_locked(std::vector<Event>* events) {
  while (!inflight_.empty() && inflight_.front().done) {
    Event e;
    e.kind = Event::kOneShot;
    e.pending = std::move(inflight_.front());
    inflight_.pop_front();
    events->push_back(std::move(e));
  }
}

void Channel::run(std::vector<Event>* events) {
  for (Event& e : *events) {
    switch (e.kind) {
      case Event::kOneShot:
        if (e.pending.on_append) {
          const Pending& r = e.pending;
          r.on_append(r.status, r.status.ok() ? r.ack.first_lsn : 0, r.count);
        } else {
          e.pending.complete(e.pending);
        }
        break;
      case Event::kRecords:
        if (e.stream->on_records) e.stream->on_records(e.records);
        break;
      case Event::kEnd: e.stream->on_end(e.status, e.next_lsn); break;
    }
  }
  events->clear();
}

void Channel::fail_everything() {
  std::deque<Pending> inflight;
  std::unordered_map<uint64_t, std::shared_ptr<ReadStream>> reads;
  Status why;
  {
    MutexLock lk(mu_);
    SW_ASSERT(broken_);
    inflight.swap(inflight_);
    reads.swap(reads_);
    why = why_broken_;
  }
  // In request order. A request whose reply did arrive (waiting only for an
  // earlier one) keeps its real outcome; the rest get the reason we broke.
  for (Pending& p : inflight) {
    if (!p.done) p.status = why;
    if (p.on_append) {
      p.on_append(p.status, p.status.ok() ? p.ack.first_lsn : 0, p.count);
    } else {
      p.complete(p);
    }
  }
  for (auto& [id, stream] : reads) stream->on_end(why, 0);
}

}  // namespace sidewal::client
