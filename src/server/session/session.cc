// Session lifecycle: the entry points, the SessionState transitions
// (session_state.h), the in-flight byte accounting, and close.
#include "server/session/session.h"

#include <boost/asio/post.hpp>

#include "server/log.h"

namespace sidewal::server {

namespace asio = boost::asio;

const char* session_state_name(SessionState s) {
  switch (s) {
    case SessionState::kOpen: return "open";
    case SessionState::kPeerClosed: return "peer_closed";
    case SessionState::kFinishing: return "finishing";
    case SessionState::kClosed: return "closed";
  }
  return "unknown";
}

Session::Session(Socket socket, ServerContext* ctx, uint64_t id)
    : socket_(std::move(socket)), strand_(socket_.get_executor()), ctx_(ctx), id_(id) {
  ctx_->metrics->connection_opened();
}

Session::~Session() {
  // Whatever this session still held (frames of a closed peer, replies never
  // written) goes back to the global budget. The sink, if any, lives on
  // while the engine owes it callbacks (its owner has expired by now).
  if (inflight_ > 0) ctx_->release(inflight_);
}

void Session::enter(SessionState next) {
  SW_ASSERT_MSG(session_transition_allowed(state_, next), session_state_name(next));
  state_ = next;
}

void Session::acquire(uint64_t n) {
  inflight_ += n;
  ctx_->acquire(n);
}

void Session::release(uint64_t n) {
  SW_ASSERT(n <= inflight_);
  inflight_ -= n;
  ctx_->release(n);
}

// ---- Entry points (any thread).

void Session::start(bool authorized) {
  asio::post(strand_, [self = shared_from_this(), authorized] {
    if (!authorized) {
      self->enqueue(self->error_frame(0, proto::ErrorCode::kUnauthorized,
                                      "peer UID is not in socket.allowed_uids"));
      self->stop_reading_and_finish();
      return;
    }
    self->maybe_read();
  });
}

void Session::drain() {
  asio::post(strand_, [self = shared_from_this()] { self->stop_reading_and_finish(); });
}

void Session::force_close() {
  asio::post(strand_, [self = shared_from_this()] { self->close(); });
}

void Session::wake() {
  asio::post(strand_, [self = shared_from_this()] { self->maybe_read(); });
}

// ---- Transitions.

void Session::stop_reading_and_finish() {
  if (state_ == SessionState::kClosed || state_ == SessionState::kFinishing) return;
  enter(SessionState::kFinishing);
  // A pending read returns EOF once the receive side is shut down.
  boost::system::error_code ignored;
  if (read_pending_) socket_.shutdown(Socket::shutdown_receive, ignored);
  // Followers end with END; plain READs already received still complete.
  for (auto& [rid, r] : reads_) {
    if (r.follow) r.cancelled = true;
  }
  pump_all();
  progress();
}

void Session::progress() {
  if (closed()) return;
  maybe_read();
  const bool idle = slots_.empty() && out_.empty() && writing_frames_ == 0 && blocking_ops_ == 0;
  // A follower keeps a half-closed session open: the client may only read.
  // kFinishing ends followers first (stop_reading_and_finish).
  if (idle && reads_.empty() && state_ != SessionState::kOpen) close();
}

void Session::close() {
  if (closed()) return;
  enter(SessionState::kClosed);
  // Dropped when close() returns; every caller runs in a handler holding
  // its own reference.
  std::shared_ptr<Session> keepalive = std::move(keepalive_);
  std::shared_ptr<Session> eof_keepalive = std::move(eof_keepalive_);
  boost::system::error_code ignored;
  socket_.shutdown(Socket::shutdown_both, ignored);
  socket_.close(ignored);
  for (auto& [rid, r] : reads_) {
    if (r.follower_id != 0) ctx_->log->remove_follower(r.follower_id);
    r.follower_id = 0;
  }
  // Reads still on the blocking pool erase themselves when they return.
  for (auto it = reads_.begin(); it != reads_.end();) {
    it = it->second.busy ? std::next(it) : reads_.erase(it);
  }
  if (writing_frames_ == 0) {
    release(out_bytes_);
    out_bytes_ = 0;
    out_.clear();
  }
  ctx_->metrics->connection_closed();
  if (ctx_->on_closed) ctx_->on_closed(id_);
}

}  // namespace sidewal::server
