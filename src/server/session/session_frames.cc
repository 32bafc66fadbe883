// Reading frames: backpressure, the socket reads into the FrameReader, and
// dispatching each whole frame after the request checks.
#include <boost/asio/buffer.hpp>

#include <string>

#include "server/log.h"
#include "server/session/request_checks.h"
#include "server/session/session.h"

namespace sidewal::server {

namespace asio = boost::asio;
using proto::ErrorCode;

void Session::maybe_read() {
  if (read_pending_ || state_ != SessionState::kOpen) return;
  // Per-session bound: resumed by progress() when replies drain.
  if (inflight_ >= ctx_->config->max_inflight_bytes_per_connection) return;
  // Global bound, with a per-session reserve it never takes away: a session
  // holding less than the reserve keeps reading even while the total is
  // exhausted, so clients that never read their replies (each far above the
  // reserve) cannot stall one that does.
  if (ctx_->over_total() && inflight_ >= ctx_->config->inflight_reserve_per_connection) {
    ctx_->wait_for_total(weak_from_this());
    return;
  }
  take_frames();
}

void Session::take_frames() {
  if (taking_) {
    // Re-entered from dispatch() (a reply completed, progress() ran): the
    // loop below takes the next frame.
    more_ = true;
    return;
  }
  taking_ = true;
  for (;;) {
    if (!take_frame()) {
      read_some();
      break;
    }
    // One frame served: maybe_read() re-checks the state and the limits and
    // calls back (setting more_) when another frame may be taken.
    more_ = false;
    maybe_read();
    if (!more_) break;
  }
  taking_ = false;
}

bool Session::take_frame() {
  const uint32_t max_body = ctx_->config->max_frame_bytes;
  switch (reader_.next(max_body, &header_, &body_)) {
    case FrameReader::Next::kNeedMore: return false;
    case FrameReader::Next::kTooLarge: {
      // The body is not read, so the stream cannot be resynchronised: answer
      // (after the replies to earlier requests) and close.
      frame_bytes_ = proto::kHeaderSize;
      acquire(frame_bytes_);
      const uint64_t seq = open_slot();
      complete_error(seq, ErrorCode::kFrameTooLarge,
                     "body_len " + std::to_string(header_.body_len) +
                         " exceeds limits.max_frame_bytes " + std::to_string(max_body));
      stop_reading_and_finish();
      return true;
    }
    case FrameReader::Next::kFrame: break;
  }
  frame_bytes_ = proto::kHeaderSize + size_t{header_.body_len};
  acquire(frame_bytes_);
  received_at_ = Clock::now();
  dispatch();
  body_ = {};
  return true;
}

void Session::read_some() {
  const std::span<uint8_t> room = reader_.prepare();
  read_pending_ = true;
  socket_.async_read_some(asio::buffer(room.data(), room.size()),
                          [self = shared_from_this()](const boost::system::error_code& ec,
                                                      size_t n) { self->on_read_some(ec, n); });
}

void Session::on_read_some(const boost::system::error_code& ec, size_t n) {
  read_pending_ = false;
  if (closed()) return;
  if (ec) {
    // EOF between frames is the normal end; pending ACKs still go out if the
    // peer only shut down its sending side. A partial frame is never served.
    if (reader_.buffered() > 0) {
      log::debug("connection: peer closed in the middle of a frame",
                 {{"conn", id_}, {"buffered_bytes", reader_.buffered()}});
    }
    reader_.clear();
    if (state_ == SessionState::kOpen) enter(SessionState::kPeerClosed);
    if (!reads_.empty()) eof_keepalive_ = shared_from_this();
    progress();
    return;
  }
  reader_.commit(n);
  if (state_ == SessionState::kFinishing) {
    // Draining: frames that arrive now are not served.
    progress();
    return;
  }
  maybe_read();
}

void Session::dispatch() {
  if (is_well_formed_cancel(header_, body_)) {
    // A CANCEL has no reply of its own: the READ it ends answers.
    release(frame_bytes_);
    handle_cancel();
    return;
  }
  const uint64_t seq = open_slot();
  if (RequestCheck refused = check_request_frame(header_, body_)) {
    return complete_error(seq, refused->code, refused->message);
  }
  const auto op = static_cast<proto::Opcode>(header_.opcode);
  // STATUS answers while recovering (state 0); everything else waits.
  if (op != proto::Opcode::kStatus && ctx_->log->wal() == nullptr) {
    return complete_error(seq, ErrorCode::kNotReady, "recovery in progress");
  }
  switch (op) {
    case proto::Opcode::kHello: return handle_hello(seq);
    case proto::Opcode::kAppend: return handle_append(seq);
    case proto::Opcode::kRead: return handle_read(seq);
    case proto::Opcode::kTruncate: return handle_truncate(seq);
    case proto::Opcode::kStatus: return handle_status(seq);
    default: SW_ASSERT(false);
  }
}

}  // namespace sidewal::server
