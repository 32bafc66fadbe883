// Connection: one client on the Unix socket. All of its state lives on one
// strand (the socket's executor), so no locks are needed inside it.
//
// Reading: async_read_some into a per-connection buffer (kReadBufferBytes,
// grown to one whole frame for a bigger one), then every whole frame in it is
// served in order: one recvfrom per batch of pipelined frames instead of two
// reads per frame. Frames are taken from the buffer one at a time and the
// limits below are checked before each, so backpressure stops both taking
// buffered frames and reading. Reading (and taking frames) pauses while this connection's in-flight bytes reach
// limits.max_inflight_bytes_per_connection or all connections' reach
// limits.max_inflight_bytes_total, and resumes as replies are written.
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

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "proto/protocol.h"
#include "server/server_context.h"
#include "wal/wal.h"

namespace sidewal::server {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // A concrete strand type rather than any_io_executor: copying the
  // type-erased executor (every post and every socket operation) allocated.
  using Strand = boost::asio::strand<boost::asio::io_context::executor_type>;
  using Socket = boost::asio::basic_stream_socket<boost::asio::local::stream_protocol, Strand>;

  Connection(Socket socket, ServerContext* ctx, uint64_t id);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  uint64_t id() const { return id_; }

  // Thread-safe entry points: each posts onto the connection's strand.
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
    bool turn = false;          // reached the front of the slot queue: may send
    bool busy = false;          // a wal->read is running on the blocking pool
    bool cancelled = false;     // CANCEL or drain: send END when not busy
    uint64_t follower_id = 0;   // LogService follower registration, 0 = none
    uint8_t flags = 0;          // proto::kReadSkipDead | proto::kReadHeaderOnly
  };

  // Called by maybe_read() when one more frame may be taken: serves the
  // buffered frames (re-checking the limits through maybe_read() before each)
  // and starts an async_read_some once no whole frame is buffered.
  void read_header();
  // Takes the next whole frame out of the read buffer and dispatches it;
  // false when the buffer holds no whole frame (after making room for it).
  bool take_frame();
  void read_some();
  void on_read_some(const boost::system::error_code& ec, size_t n);
  void maybe_read();
  void dispatch();

  void handle_hello(uint64_t seq);
  void handle_append(uint64_t seq);
  void handle_read(uint64_t seq);
  void handle_truncate(uint64_t seq);
  void handle_status(uint64_t seq);
  void handle_cancel();

  // Slots. open_slot() takes the current frame's request id and bytes.
  uint64_t open_slot();
  Slot& slot(uint64_t seq);
  void complete(uint64_t seq, std::vector<uint8_t> reply);
  void complete_error(uint64_t seq, proto::ErrorCode code, std::string_view message);
  void on_append_done(uint64_t seq, const Status& st, uint64_t first_lsn);
  // Strand: answers every APPEND the engine completed since the last call.
  void drain_appends();
  // A reply frame buffer, reused from written frames when one is spare.
  std::vector<uint8_t> take_frame_buffer();
  void flush_slots();

  void pump(uint64_t request_id);
  void finish_read(ReadStream& r, bool send_end);
  // Exactly one of `records` (full reads) and `headers` (HEADER_ONLY reads
  // through Wal::read_headers) is used.
  void on_read_chunk(uint64_t request_id, const Status& st, std::vector<wal::Record> records,
                     std::vector<wal::RecordHeaderInfo> headers, uint64_t next_lsn);

  proto::ErrorCode error_for(const Status& st) const;
  std::vector<uint8_t> error_frame(uint64_t request_id, proto::ErrorCode code,
                                   std::string_view message);
  void enqueue(std::vector<uint8_t> frame);
  void write_queued();
  void on_written(const boost::system::error_code& ec, size_t frames);
  void pump_all();
  void stop_reading_and_finish();
  void progress();
  void close();

  void acquire(uint64_t n);
  void release(uint64_t n);

  // Where the engine's append callbacks (completion thread, or the strand
  // for an immediate failure) leave their results. One post to the strand
  // per batch of completions, not per APPEND. It outlives the connection
  // until the engine has called back every append the connection made
  // (`outstanding`), so callbacks hold only a raw pointer and a sequence
  // number: 16 bytes, kept inside std::function without an allocation.
  struct AppendDone {
    uint64_t seq = 0;
    uint64_t first_lsn = 0;
    Status status;
  };
  struct AppendSink {
    std::mutex mu;
    std::vector<AppendDone> done;       // guarded by mu; in completion order
    uint64_t outstanding = 0;           // guarded by mu; callbacks still owed by the engine
    bool owner_gone = false;            // guarded by mu; the connection was destroyed
    std::weak_ptr<Connection> owner;    // set before the first append
    // Engine callback: queue the result; post drain_appends() if the queue
    // was empty; delete the sink if the connection is gone and nothing is owed.
    void completed(uint64_t seq, const Status& st, uint64_t first_lsn);
  };

  Socket socket_;
  Strand strand_;  // the socket's executor
  ServerContext* const ctx_;
  const uint64_t id_;

  // Read buffer: unparsed bytes are rbuf_[rbegin_, rend_). kReadBufferBytes
  // normally; grown to hold one frame of up to limits.max_frame_bytes, and
  // shrunk back once empty. Allocated uninitialised on the first read.
  std::unique_ptr<uint8_t[]> rbuf_;
  size_t rcap_ = 0;
  size_t rbegin_ = 0;
  size_t rend_ = 0;
  bool taking_ = false;  // read_header()'s loop is running (it is re-entered via dispatch)
  bool more_ = false;    // maybe_read() allowed one more frame while taking_
  proto::FrameHeader header_;
  // The frame being dispatched: a view into rbuf_, valid during dispatch()
  // only (handlers copy what they keep; the engine copies appended records).
  std::span<const uint8_t> body_;
  uint64_t frame_bytes_ = 0;  // header + body of the frame being handled
  Clock::time_point received_at_;

  bool reading_ = false;     // an async read is outstanding
  bool peer_eof_ = false;    // the client closed its sending side
  bool finishing_ = false;   // no more reading; close once everything is written
  bool closed_ = false;

  std::deque<Slot> slots_;
  uint64_t front_seq_ = 0;   // sequence number of slots_.front()
  bool flushing_ = false;    // flush_slots() is running (it is not re-entrant)
  std::vector<wal::RecordIn> scratch_records_;
  std::vector<proto::AppendRecord> scratch_append_;
  AppendSink* sink_ = nullptr;             // see AppendSink; deleted by whichever side is last
  std::vector<AppendDone> done_batch_;     // strand: the batch drain_appends() is answering
  bool answering_appends_ = false;         // drain_appends() defers flush_slots() to its end
  // APPENDs handed to the engine and not yet answered. While there are any,
  // keepalive_ holds this connection: the engine's callbacks point only at
  // the sink, and a connection whose reading is paused by backpressure has
  // no other pending operation to keep it. close() lets go of it (the sink
  // absorbs late callbacks), so it never outlives the connection's life.
  uint64_t appends_unanswered_ = 0;
  std::shared_ptr<Connection> keepalive_;
  // Holds a connection whose peer shut down its sending side while READs
  // remain (a follower may keep a half-closed connection): no read is
  // pending then, and without it the connection would be destroyed without
  // close(), leaving the daemon's registry and sidewal_connections behind
  // and shutdown waiting for it forever. close() lets go of it; a dead
  // peer is found at the next write.
  std::shared_ptr<Connection> eof_keepalive_;

  std::map<uint64_t, ReadStream> reads_;
  uint32_t blocking_ops_ = 0;  // truncates and reads running on the pool

  std::deque<std::vector<uint8_t>> out_;  // frames to write, in order
  uint64_t out_bytes_ = 0;                // bytes in out_
  size_t writing_frames_ = 0;  // frames at the front of out_ in the current write (0 = idle)
  std::vector<boost::asio::const_buffer> write_bufs_;  // the current write's buffers (reused)
  std::vector<std::vector<uint8_t>> spare_frames_;     // small written frames, for reuse

  uint64_t inflight_ = 0;      // this connection's share of the global in-flight bytes
};

}  // namespace sidewal::server
