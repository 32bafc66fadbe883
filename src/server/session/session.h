// Session: one client on the Unix socket, from accept to close. All of its
// state lives on one strand (the socket's executor), so no locks are needed
// inside it. Its jobs live in files named for them:
//
//   session.cc            lifecycle: start, drain, the SessionState
//                         transitions (session_state.h), backpressure, close
//   session_frames.cc     reading frames (FrameReader, frame_reader.h) and
//                         dispatching them after the request checks
//                         (request_checks.h, control_record_policy.h)
//   session_requests.cc   HELLO, APPEND (and the engine's completions),
//                         TRUNCATE, STATUS; engine errors become ERROR codes
//                         by the fail-stop classification (fail_stop.h)
//   read_streaming.cc     READ and follow READ, CANCEL
//   reply_queue.cc        the ordered reply queue and its writer
//
// Reading: async_read_some into the FrameReader, then every whole frame in
// it is served in order: one recvfrom per batch of pipelined frames instead
// of two reads per frame. Frames are taken one at a time and the limits are
// checked before each, so backpressure stops both taking buffered frames and
// reading. Reading (and taking frames) pauses while this session's in-flight
// bytes reach limits.max_inflight_bytes_per_connection or all sessions'
// reach limits.max_inflight_bytes_total, and resumes as replies are written.
//
// Replying: every request takes a slot in an ordered queue when it is read,
// and replies leave in slot order (docs/protocol.md: a connection's requests
// are answered in the order they were sent). An APPEND's slot completes when
// the engine reports its batch durable; a READ's slot streams its RECORDS
// frames once it reaches the front and completes with END. A follow READ
// leaves the queue when it reaches the front: its frames then stream while
// later requests are answered. Queued frames go out with one gathering
// async_write at a time.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/strand.hpp>
#include <boost/smart_ptr/intrusive_ptr.hpp>
#include <boost/smart_ptr/intrusive_ref_counter.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "common/mutex.h"
#include "proto/protocol.h"
#include "server/server_context.h"
#include "server/session/frame_reader.h"
#include "server/session/session_state.h"
#include "wal/wal.h"

namespace sidewal::server {

class Session : public std::enable_shared_from_this<Session> {
 public:
  // A concrete strand type rather than any_io_executor: copying the
  // type-erased executor (every post and every socket operation) allocated.
  using Strand = boost::asio::strand<boost::asio::io_context::executor_type>;
  using Socket = boost::asio::basic_stream_socket<boost::asio::local::stream_protocol, Strand>;

  Session(Socket socket, ServerContext* ctx, uint64_t id);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  uint64_t id() const { return id_; }

  // Thread-safe entry points: each posts onto the session's strand.
  // start(): begins reading; an unauthorized peer gets ERROR UNAUTHORIZED
  // and is closed.
  void start(bool authorized);
  // SIGTERM: stop reading, let in-flight appends complete and be ACKed, end
  // follow READs with END, then close.
  void drain();
  void force_close();
  // Resume reading after global backpressure.
  void wake();

 private:
  using Clock = std::chrono::steady_clock;

  // A request waiting for its turn to reply.
  struct Slot {
    uint64_t request_id = 0;
    uint64_t frame_bytes = 0;  // the request's bytes, in flight until the slot leaves
    bool done = false;         // `reply` is complete
    bool is_read = false;      // a READ: streams its own frames at the front
    std::vector<uint8_t> reply;
    // APPEND only, for the metrics.
    uint32_t records = 0;
    uint64_t payload_bytes = 0;
    Clock::time_point received;
  };
  // One READ in progress (follow or not), keyed by its request_id.
  struct ReadStream {
    uint64_t request_id = 0;
    uint64_t next_lsn = 0;
    uint64_t records_left = 0;  // UINT64_MAX when unlimited
    uint64_t bytes_left = 0;    // UINT64_MAX when unlimited
    bool follow = false;
    bool turn = false;         // reached the front of the slot queue: may send
    bool busy = false;         // a wal->read is running on the blocking pool
    bool cancelled = false;    // CANCEL or drain: send END when not busy
    uint64_t follower_id = 0;  // LogService follower registration, 0 = none
    uint8_t flags = 0;         // proto::kReadSkipDead | proto::kReadHeaderOnly
  };

  // Where the engine's append callbacks (completion thread, or the strand
  // for an immediate failure) leave their results. One post to the strand
  // per batch of completions, not per APPEND. Reference-counted: the session
  // holds one reference and every append the engine still owes a callback
  // holds one, so the sink outlives the session until the engine has called
  // back every append it made. A callback carries its reference as a raw
  // pointer (adopted back into an AppendSinkRef when it runs) and a sequence
  // number: 16 trivially copyable bytes, kept inside std::function without
  // an allocation.
  struct AppendDone {
    uint64_t seq = 0;
    uint64_t first_lsn = 0;
    Status status;
  };
  struct AppendSink : boost::intrusive_ref_counter<AppendSink, boost::thread_safe_counter> {
    Mutex mu;
    std::vector<AppendDone> done GUARDED_BY(mu);  // in completion order
    std::weak_ptr<Session> owner;                 // set at creation; expires with the session
    // Engine callback: queue the result; post drain_appends() to the owner
    // if the queue was empty and the owner is still alive.
    void completed(uint64_t seq, const Status& st, uint64_t first_lsn) EXCLUDES(mu);
  };
  using AppendSinkRef = boost::intrusive_ptr<AppendSink>;

  // ---- Lifecycle (session.cc).
  // The one place state_ changes: asserts session_transition_allowed().
  void enter(SessionState next);
  bool closed() const { return state_ == SessionState::kClosed; }
  void stop_reading_and_finish();
  void progress();
  void close();
  void acquire(uint64_t n);
  void release(uint64_t n);

  // ---- Reading frames (session_frames.cc).
  void maybe_read();
  // Called by maybe_read() when one more frame may be taken: serves the
  // buffered frames (re-checking the limits through maybe_read() before each)
  // and starts an async_read_some once no whole frame is buffered.
  void take_frames();
  // Takes the next whole frame out of the reader and dispatches it; false
  // when no whole frame is buffered.
  bool take_frame();
  void read_some();
  void on_read_some(const boost::system::error_code& ec, size_t n);
  void dispatch();

  // ---- Requests (session_requests.cc).
  void handle_hello(uint64_t seq);
  void handle_append(uint64_t seq);
  void handle_truncate(uint64_t seq);
  void handle_status(uint64_t seq);
  // Strand: answers every APPEND the engine completed since the last call.
  void drain_appends();
  void on_append_done(uint64_t seq, const Status& st, uint64_t first_lsn);
  proto::ErrorCode error_for(const Status& st) const;

  // ---- READ streaming (read_streaming.cc).
  void handle_read(uint64_t seq);
  void handle_cancel();
  void pump(uint64_t request_id);
  void pump_all();
  void finish_read(ReadStream& r, bool send_end);
  // Exactly one of `records` (full reads) and `headers` (HEADER_ONLY reads
  // through Wal::read_headers) is used.
  void on_read_chunk(uint64_t request_id, const Status& st, std::vector<wal::Record> records,
                     std::vector<wal::RecordHeaderInfo> headers, uint64_t next_lsn);

  // ---- The ordered reply queue and its writer (reply_queue.cc).
  // open_slot() takes the current frame's request id and bytes.
  uint64_t open_slot();
  Slot& slot(uint64_t seq);
  void complete(uint64_t seq, std::vector<uint8_t> reply);
  void complete_error(uint64_t seq, proto::ErrorCode code, std::string_view message);
  void flush_slots();
  // A reply frame buffer, reused from written frames when one is spare.
  std::vector<uint8_t> take_frame_buffer();
  std::vector<uint8_t> error_frame(uint64_t request_id, proto::ErrorCode code,
                                   std::string_view message);
  void enqueue(std::vector<uint8_t> frame);
  void write_queued();
  void on_written(const boost::system::error_code& ec, size_t frames);

  Socket socket_;
  Strand strand_;  // the socket's executor
  ServerContext* const ctx_;
  const uint64_t id_;
  SessionState state_ = SessionState::kOpen;  // see session_state.h; changed by enter() only

  // Reading.
  FrameReader reader_;
  bool read_pending_ = false;  // an async_read_some is outstanding
  // Re-entrancy guards (not states: each is true only while a loop of this
  // session runs further up the stack on the strand).
  bool taking_ = false;  // take_frames()'s loop is running (it is re-entered via dispatch)
  bool more_ = false;    // maybe_read() allowed one more frame while taking_
  proto::FrameHeader header_;
  // The frame being dispatched: a view into the reader's buffer, valid during
  // dispatch() only (handlers copy what they keep; the engine copies
  // appended records).
  std::span<const uint8_t> body_;
  uint64_t frame_bytes_ = 0;  // header + body of the frame being handled
  Clock::time_point received_at_;

  // Requests.
  std::deque<Slot> slots_;
  uint64_t front_seq_ = 0;  // sequence number of slots_.front()
  bool flushing_ = false;   // guard: flush_slots() is running (it is not re-entrant)
  std::vector<wal::RecordIn> scratch_records_;
  std::vector<proto::AppendRecord> scratch_append_;
  AppendSinkRef sink_;                  // created by the first APPEND
  std::vector<AppendDone> done_batch_;  // strand: the batch drain_appends() is answering
  bool answering_appends_ = false;      // guard: drain_appends() defers flush_slots() to its end
  // APPENDs handed to the engine and not yet answered. While there are any,
  // keepalive_ holds this session: the engine's callbacks point only at the
  // sink, and a session whose reading is paused by backpressure has no other
  // pending operation to keep it. close() lets go of it (the sink absorbs
  // late callbacks), so it never outlives the session's life.
  uint64_t appends_unanswered_ = 0;
  std::shared_ptr<Session> keepalive_;
  // Holds a session whose peer shut down its sending side while READs remain
  // (a follower may keep a half-closed connection): no read is pending then,
  // and without it the session would be destroyed without close(), leaving
  // the daemon's registry and sidewal_connections behind and shutdown
  // waiting for it forever. close() lets go of it; a dead peer is found at
  // the next write.
  std::shared_ptr<Session> eof_keepalive_;

  std::map<uint64_t, ReadStream> reads_;
  uint32_t blocking_ops_ = 0;  // truncates and reads running on the pool

  // Writing.
  std::deque<std::vector<uint8_t>> out_;  // frames to write, in order
  uint64_t out_bytes_ = 0;                // bytes in out_
  size_t writing_frames_ = 0;  // frames at the front of out_ in the current write (0 = idle)
  std::vector<boost::asio::const_buffer> write_bufs_;  // the current write's buffers (reused)
  std::vector<std::vector<uint8_t>> spare_frames_;     // small written frames, for reuse

  uint64_t inflight_ = 0;  // this session's share of the global in-flight bytes
};

}  // namespace sidewal::server
