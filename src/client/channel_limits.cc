// Channel's limits HELLO (channel.h, "Limits"): asking the daemon for its
// limits, the answer decoded on the reader thread, the fallback to a plain
// HELLO for a daemon that predates kHelloLimits, and the limits in force.
#include "client/channel.h"

#include <utility>

namespace sidewal::client {

void Channel::queue_limits_hello_locked(const std::string& name) {
  note_submission_locked(/*blocking=*/false);
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

}  // namespace sidewal::client
