// Connection: one client on the Unix socket. All of its state lives on one
// strand (the socket's executor), so no locks are needed inside it.
//
// Reading: a 16-byte header, then the body; one frame at a time. Reading
// pauses while this connection's in-flight bytes reach
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

#include <boost/asio/local/stream_protocol.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <vector>

#include "proto/protocol.h"
#include "server/server_context.h"
#include "wal/wal.h"

namespace sidewal::server {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using Socket = boost::asio::local::stream_protocol::socket;

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

  void read_header();
  void on_header(const boost::system::error_code& ec);
  void on_body(const boost::system::error_code& ec);
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
  void flush_slots();

  void pump(uint64_t request_id);
  void finish_read(ReadStream& r, bool send_end);
  void on_read_chunk(uint64_t request_id, const Status& st, std::vector<wal::Record> records,
                     uint64_t next_lsn);

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

  Socket socket_;
  boost::asio::any_io_executor strand_;  // the socket's executor: a strand
  ServerContext* const ctx_;
  const uint64_t id_;

  uint8_t header_buf_[proto::kHeaderSize];
  proto::FrameHeader header_;
  std::vector<uint8_t> body_;
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

  std::map<uint64_t, ReadStream> reads_;
  uint32_t blocking_ops_ = 0;  // truncates and reads running on the pool

  std::deque<std::vector<uint8_t>> out_;  // frames to write, in order
  uint64_t out_bytes_ = 0;                // bytes in out_
  size_t writing_frames_ = 0;  // frames at the front of out_ in the current write (0 = idle)

  uint64_t inflight_ = 0;      // this connection's share of the global in-flight bytes
};

}  // namespace sidewal::server
