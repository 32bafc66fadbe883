// Channel's reader thread (channel.h): it assembles the daemon's reply
// frames from the socket, matches each to the request in flight it answers
// (one-shot replies complete in request order; RECORDS and END go to their
// READ), runs the callbacks unlocked, and on a break completes everything
// still in flight; and a blocking caller's read of its own reply, when it
// holds the read side instead (channel_read_side.cc).
#include "client/channel.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace sidewal::client {
namespace {

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

const void* Channel::current_owner() { return tls_owner; }

bool Channel::is_reader_thread() const { return tls_connection == this; }

void Channel::reader_loop() {
  tls_owner = owner_;
  tls_connection = this;
  std::vector<Event> events;
  for (;;) {
    bool owns_write = false;
    bool parked = false;
    {
      MutexLock lk(mu_);
      if (read_side_ == ReadSide::kReader && should_park_locked()) read_side_ = ReadSide::kParked;
      parked = read_side_ != ReadSide::kReader;
      owns_write = reader_owns_write_;
    }
    if (parked) {
      wait_parked();
      continue;
    }
    // Whole frames a caller left behind are parsed before waiting for more.
    if (!frame_buffered()) {
      // The reader waits in poll(), never inside recv(). A thread blocked in
      // recv() on a Unix stream socket is also woken whenever the daemon
      // reads one of our requests: freeing the request's bytes wakes every
      // waiter of the sending socket (the kernel's unix_write_space),
      // whatever it waits for, and poll(POLLIN) is the wait that filters
      // that out. At one request at a time that was a second wake-up per
      // commit (BENCHMARKS.md "The client's reader and the write-space
      // wake-up"). When requests are parked with us (owns_write) we wait for
      // room in the socket or for replies, whichever comes first, and never
      // block on either alone (the daemon may be waiting for us to read
      // before it reads more).
      pollfd p{fd_, static_cast<short>(owns_write ? (POLLIN | POLLOUT) : POLLIN), 0};
      if (::poll(&p, 1, -1) < 0) {
        if (errno == EINTR) continue;
        MutexLock lk(mu_);
        fail_locked(Status::Closed(std::string("poll: ") + std::strerror(errno)));
        break;
      }
      if (owns_write && (p.revents & (POLLOUT | POLLERR | POLLHUP))) {
        MutexLock lk(mu_);
        if (reader_owns_write_) flush(/*from_reader=*/true);
      }
      if (!(p.revents & (POLLIN | POLLERR | POLLHUP | POLLNVAL))) continue;
      make_read_room();
      ssize_t n = ::recv(fd_, rbuf_.data() + rend_, rbuf_.size() - rend_, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        MutexLock lk(mu_);
        fail_locked(
            n == 0 ? Status::Closed("connection closed by sidewald")
                   : Status::Closed(std::string("recv from sidewald: ") + std::strerror(errno)));
        break;
      }
      rend_ += static_cast<size_t>(n);
    }

    bool stop = false;
    {
      MutexLock lk(mu_);
      (void)parse_buffered_locked(&events, /*only_id=*/nullptr, &stop);
    }
    // Callbacks run unlocked (they may submit); record views point into
    // rbuf_, which is not touched until they are done.
    in_callbacks_ = true;
    run(&events);
    in_callbacks_ = false;
    {
      MutexLock lk(mu_);
      if (!writing_ && !out_.empty()) flush(/*from_reader=*/true);
    }
    if (rbegin_ == rend_) rbegin_ = rend_ = 0;
    if (stop) break;
  }
  fail_everything();
  tls_connection = nullptr;
  tls_owner = nullptr;
}

bool Channel::frame_buffered() const {
  proto::FrameHeader h;
  return proto::peek_frame(std::span(rbuf_.data() + rbegin_, rend_ - rbegin_), max_reply_body_,
                           &h) != proto::FrameStatus::kIncomplete;
}

void Channel::make_read_room() {
  if (rend_ == rbuf_.size()) {
    std::memmove(rbuf_.data(), rbuf_.data() + rbegin_, rend_ - rbegin_);
    rend_ -= rbegin_;
    rbegin_ = 0;
  }
}

Channel::Parsed Channel::parse_buffered_locked(std::vector<Event>* events, const uint64_t* only_id,
                                               bool* stop) {
  for (;;) {
    proto::FrameHeader h;
    auto st =
        proto::peek_frame(std::span(rbuf_.data() + rbegin_, rend_ - rbegin_), max_reply_body_, &h);
    if (st == proto::FrameStatus::kIncomplete) {
      // A frame bigger than the buffer: grow so the next recv can finish it.
      size_t need = rend_ - rbegin_ >= proto::kHeaderSize ? proto::kHeaderSize + h.body_len : 0;
      if (need > rbuf_.size()) rbuf_.resize(need);
      return Parsed::kNeedMore;
    }
    if (st == proto::FrameStatus::kTooLarge) {
      fail_locked(protocol_violation("reply body of " + std::to_string(h.body_len) +
                                     " bytes exceeds the limit of " +
                                     std::to_string(max_reply_body_) +
                                     (limits_state_ == LimitsState::kKnown &&
                                              limits_.source == ServerLimits::Source::kAdvertised
                                          ? " the daemon advertised (HELLO_OK max_reply_body)"
                                          : " (ClientOptions::max_reply_body)")));
      *stop = true;
      return Parsed::kNeedMore;
    }
    if (only_id != nullptr && h.request_id != *only_id) return Parsed::kOther;
    std::span<const uint8_t> body(rbuf_.data() + rbegin_ + proto::kHeaderSize, h.body_len);
    Status s = dispatch_locked(h, body, events);
    rbegin_ += proto::kHeaderSize + h.body_len;
    if (!s.ok()) {
      fail_locked(std::move(s));
      *stop = true;
      return Parsed::kNeedMore;
    }
    if (only_id != nullptr) return Parsed::kNeedMore;  // the caller's one reply
  }
}

// A blocking caller holding the read side (channel_read_side.cc).
void Channel::caller_read(uint64_t id, const std::function<bool()>& done) {
  std::vector<Event> events;
  bool hand_over = false;
  for (;;) {
    bool stop = false;
    {
      MutexLock lk(mu_);
      hand_over = parse_buffered_locked(&events, &id, &stop) == Parsed::kOther || stop;
    }
    run(&events);  // this request's completion only: it makes done() true
    if (hand_over || done()) break;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, -1) < 0) {
      if (errno == EINTR) continue;
      MutexLock lk(mu_);
      fail_locked(Status::Closed(std::string("poll: ") + std::strerror(errno)));
      break;
    }
    make_read_room();
    ssize_t n = ::recv(fd_, rbuf_.data() + rend_, rbuf_.size() - rend_, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      MutexLock lk(mu_);
      fail_locked(n == 0
                      ? Status::Closed("connection closed by sidewald")
                      : Status::Closed(std::string("recv from sidewald: ") + std::strerror(errno)));
      break;
    }
    rend_ += static_cast<size_t>(n);
  }
  // The read side goes back: parked again when idle, else to the reader
  // (bytes still buffered, other requests in flight, or a failure to
  // finish: the reader completes what is in flight, ours included).
  MutexLock lk(mu_);
  SW_ASSERT(read_side_ == ReadSide::kCaller);
  if (rbegin_ == rend_) rbegin_ = rend_ = 0;
  if (should_park_locked()) {
    read_side_ = ReadSide::kParked;
  } else {
    read_side_ = ReadSide::kReader;
    wake_reader_locked();
  }
  read_side_cv_.notify_all();
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
