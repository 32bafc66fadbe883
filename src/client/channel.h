// Channel: one Unix socket to sidewald, its reader thread and the requests
// in flight on it. Internal to the client library (Client is the public face).
//
// Sending: a submitter encodes its frame into out_ under mu_ and registers
// the request in the same critical section, so the order of requests in
// inflight_ is the order of their bytes on the wire. The first submitter to
// find no one sending becomes the writer and sends everything queued (its own
// frame and whatever others add meanwhile) until out_ is empty: one send()
// per batch, no writer thread to wake. The reader thread never blocks in
// send(): when the daemon applies backpressure it may be waiting for us to
// read its replies, so the reader parks unsent bytes and polls for both
// directions until they are gone.
//
// Receiving: the reader thread recv()s into a large buffer, dispatches every
// whole frame under one lock, then runs the resulting callbacks unlocked.
// One-shot replies complete in request order. Requests that callbacks submit
// (a pipelined client refilling its window on each ACK) are queued and sent
// together after the last callback of the batch: one send() per recv().
//
// Caller reads: a blocking call (Client::append) that finds the connection
// idle and the reader thread parked reads its own reply from the socket
// instead of being woken by the reader (one thread wake-up per commit
// instead of two). One thread at a time holds the read side (read_side_):
// the reader thread, nobody (the reader parked), or such a caller. The
// reader parks only while idle after a blocking call from another thread
// (blocking_mode_): it then polls the socket for a hang-up only, plus an
// eventfd that any submission needing it (async, READ, limits HELLO)
// writes. A caller dispatches only its own reply; at any other frame it
// hands the read side, with the bytes it buffered, back to the reader and
// waits like any blocking call. Callbacks of async requests therefore
// still run on the reader thread only.
//
// Breaking: any failure (EOF, socket error, protocol violation, shutdown())
// marks the connection broken and shuts the socket down; the reader thread
// then completes everything in flight (Closed) and exits. Nothing is resent.
//
// Limits: ask_limits() sends a HELLO with kHelloLimits; its reply, decoded on
// the reader thread, sets the limits (and the reply-frame limit the reader
// applies from the next frame on). A MALFORMED reply (a daemon that predates
// the flag) is answered at once with a plain HELLO; an error such as
// NOT_READY leaves them unknown until ask_limits_again().
//
// The files, one job each: channel.cc the socket and sending, channel_reader.cc
// the reader thread (receiving), channel_read_side.cc who reads (parking, a
// caller reading its own reply), channel_limits.cc the limits HELLO.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "client/client.h"
#include "common/mutex.h"
#include "common/status.h"
#include "proto/protocol.h"

namespace sidewal::client {

// Which limits HELLO a Pending is (kNone for every other request).
enum class LimitsAsk : uint8_t { kNone, kFlagged, kPlain };

// A one-shot request (HELLO, APPEND, STATUS, TRUNCATE) waiting for its reply.
struct Pending {
  uint64_t id = 0;
  proto::Opcode expect = proto::Opcode::kAck;  // the success reply's opcode
  uint32_t count = 0;                          // APPEND: records sent; the ACK must agree
  LimitsAsk limits_ask = LimitsAsk::kNone;     // HELLO sent by ask_limits()
  bool done = false;                           // reply arrived; waits for earlier ones
  Status status;
  proto::Ack ack;
  proto::HelloOk hello;
  proto::StatusReply status_reply;
  uint64_t first_lsn = 0;  // OK (TRUNCATE)
  // APPEND: the caller's callback, run directly (wrapping it in `complete`
  // cost an allocation per APPEND). Other requests use `complete`.
  AppendCallback on_append;
  std::function<void(const Pending&)> complete;
};

// A READ in progress; ends with exactly one on_end call.
struct ReadStream {
  uint64_t id = 0;
  RecordsCallback on_records;
  EndCallback on_end;
};

// Connects a SOCK_STREAM Unix socket to `path` (one attempt).
Result<int> connect_unix(const std::string& path);

class Channel {
 public:
  // Takes ownership of `fd`. `owner` identifies the Client, for
  // Client::on_reader_thread(); `ids` is its request id counter (the
  // connection sends a HELLO of its own after a MALFORMED limits HELLO);
  // null: the connection numbers those itself (tests without a Client).
  Channel(int fd, const ClientOptions& options, const void* owner,
          std::atomic<uint64_t>* ids = nullptr);
  ~Channel();  // REQUIRES: join() called (or the reader never started)
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  void start();  // spawns the reader thread

  // Encodes a request with `encode(std::vector<uint8_t>* out)` and sends it.
  // Returns false, with nothing queued, when the connection is broken.
  bool submit(Pending pending, const std::function<void(std::vector<uint8_t>*)>& encode)
      EXCLUDES(mu_);
  // submit() for a blocking call whose completion (its Pending's callback)
  // makes `done` true. When the connection was idle with the reader parked,
  // the calling thread reads the socket itself until `done` holds or another
  // frame comes first (then the reader takes over); either way the caller
  // then waits for its completion as usual, usually finding it there.
  bool submit_blocking(Pending pending, const std::function<void(std::vector<uint8_t>*)>& encode,
                       const std::function<bool()>& done) EXCLUDES(mu_);
  bool submit_read(std::shared_ptr<ReadStream> stream,
                   const std::function<void(std::vector<uint8_t>*)>& encode) EXCLUDES(mu_);
  // Sends CANCEL for `read_id` if that READ is still open here.
  void cancel(uint64_t read_id) EXCLUDES(mu_);
  // While at least one hold is taken, submissions from threads other than the
  // reader are queued, not sent (up to kDeferredFlushBytes); the release of
  // the last hold sends them together in one send(). See Client::SendBatch.
  void hold_sends() EXCLUDES(mu_);
  void release_sends() EXCLUDES(mu_);

  // Sends HELLO (with kHelloLimits, or without once the daemon refused the
  // flag) named `name`, to learn the daemon's limits. False when broken.
  bool ask_limits(const std::string& name) EXCLUDES(mu_);
  // Asks again (ask_limits) when the last answer was an error such as
  // NOT_READY; true when it did.
  bool ask_limits_again(const std::string& name) EXCLUDES(mu_);
  // Waits until the limits HELLO is answered, the connection broke, or
  // `deadline`.
  void wait_limits(std::chrono::steady_clock::time_point deadline) EXCLUDES(mu_);
  // The limits in force; *retry (when given) is set when the last limits
  // HELLO got an error such as NOT_READY (see ask_limits_again).
  ServerLimits limits(bool* retry = nullptr) const EXCLUDES(mu_);

  bool broken() const EXCLUDES(mu_);
  // Why the connection broke (ok while it is not broken).
  Status broken_status() const EXCLUDES(mu_);
  // Breaks the connection with `why`; everything in flight completes with it.
  void shutdown(const Status& why) EXCLUDES(mu_);
  void join();
  bool joinable() const { return reader_.joinable(); }
  bool is_reader_thread() const;
  size_t in_flight() const EXCLUDES(mu_);

  // The client whose reader thread this is, or null on other threads.
  static const void* current_owner();

 private:
  struct Event;

  // Requires writing_ clear (or reader_owns_write_ set and called by the
  // reader). Sends sending_ and then out_ until both are empty, dropping mu_
  // around each send(). From the reader thread the sends do not block: on
  // EAGAIN the rest is parked (reader_owns_write_) and the reader finishes
  // it on POLLOUT.
  void flush(bool from_reader) REQUIRES(mu_);
  // Waits (dropping mu_) until out_ has room or the connection broke.
  void wait_for_room() REQUIRES(mu_);
  // Sends now unless the reader thread will send the batch after its
  // callbacks.
  void maybe_flush() REQUIRES(mu_);
  // Marks broken and shuts the socket down; idempotent.
  void fail_locked(Status why) REQUIRES(mu_);
  void reader_loop() EXCLUDES(mu_);
  // Read side (see "Caller reads"). True when an idle reader may park: a
  // blocking caller may then read for itself.
  bool should_park_locked() const REQUIRES(mu_);
  // A submission the reader must see: it stops parking and, when parked,
  // takes the read side back.
  void note_submission_locked(bool blocking) REQUIRES(mu_);
  void wake_reader_locked() REQUIRES(mu_);
  // The parked reader's wait: a hang-up of the socket or the eventfd.
  void wait_parked() EXCLUDES(mu_);
  // The blocking caller's read loop (it holds the read side; mu_ not held).
  void caller_read(uint64_t id, const std::function<bool()>& done) EXCLUDES(mu_);
  // Whole frames are buffered (a caller may leave some to the reader).
  bool frame_buffered() const;
  // Makes room in rbuf_ for the next recv().
  void make_read_room();
  // Parses buffered frames into events under mu_; with only_id set, stops
  // before any frame for another request id (returning kOther), and after
  // the first one for only_id. Sets *stop on a protocol violation (the
  // connection is failed).
  enum class Parsed : uint8_t { kNeedMore, kOther };
  Parsed parse_buffered_locked(std::vector<Event>* events, const uint64_t* only_id, bool* stop)
      REQUIRES(mu_);
  // Turns one reply frame into events; a non-ok return is a protocol
  // violation.
  Status dispatch_locked(const proto::FrameHeader& h, std::span<const uint8_t> body,
                         std::vector<Event>* events) REQUIRES(mu_);
  Status complete_one_shot_locked(const proto::FrameHeader& h, std::span<const uint8_t> body,
                                  const proto::ErrorReply* error) REQUIRES(mu_);
  void drain_ready_locked(std::vector<Event>* events) REQUIRES(mu_);
  // Requires p.done. Updates the limits from a limits HELLO's outcome.
  void on_limits_reply_locked(const Pending& p) REQUIRES(mu_);
  // Queues a limits HELLO (flagged unless the daemon refused the flag) in
  // out_ and inflight_; the caller sends it.
  void queue_limits_hello_locked(const std::string& name) REQUIRES(mu_);
  void run(std::vector<Event>* events) EXCLUDES(mu_);
  void fail_everything() EXCLUDES(mu_);

  const int fd_;
  const ClientOptions& options_;  // owned by the Client, which outlives us
  const void* owner_;
  std::atomic<uint64_t> own_ids_{1};
  std::atomic<uint64_t>* const ids_;  // the Client's request ids, or &own_ids_
  std::thread reader_;
  // Reply bodies above this are a protocol violation: options_.max_reply_body
  // until the daemon advertises its own. Touched only by the holder of the
  // read side (read_side_).
  uint32_t max_reply_body_;

  mutable Mutex mu_;
  CondVar room_cv_;  // out_ drained below max_queued_bytes, or broken
  bool broken_ GUARDED_BY(mu_) = false;
  Status why_broken_ GUARDED_BY(mu_);
  bool writing_ GUARDED_BY(mu_) = false;  // a submitter is sending
  int send_holds_ GUARDED_BY(mu_) = 0;    // hold_sends() not yet released
  // The reader thread is running callbacks: its own submissions are queued
  // and sent in one batch after the last callback. Touched only by the
  // reader thread.
  bool in_callbacks_ = false;
  std::vector<uint8_t> out_ GUARDED_BY(mu_);  // encoded frames not yet sent
  // Write side handed to the reader thread after its non-blocking send hit
  // EAGAIN; writing_ stays set meanwhile.
  bool reader_owns_write_ GUARDED_BY(mu_) = false;
  // Owned by the current writer (writing_ set), which sends from it with mu_
  // released: not GUARDED_BY.
  std::vector<uint8_t> sending_;
  size_t sent_off_ = 0;  // bytes of sending_ already sent; owned by the writer
  std::deque<Pending> inflight_ GUARDED_BY(mu_);  // one-shot requests in send order
  // The daemon's limits, learned from HELLO_OK.
  enum class LimitsState : uint8_t { kNotAsked, kAsking, kKnown, kRetry };
  LimitsState limits_state_ GUARDED_BY(mu_) = LimitsState::kNotAsked;
  ServerLimits limits_ GUARDED_BY(mu_);
  // The daemon answered kHelloLimits with MALFORMED.
  bool refuses_hello_flag_ GUARDED_BY(mu_) = false;
  std::string hello_name_ GUARDED_BY(mu_);  // for the plain HELLO after a refusal
  CondVar limits_cv_;                       // limits_state_ left kAsking, or broken
  std::unordered_map<uint64_t, std::shared_ptr<ReadStream>> reads_ GUARDED_BY(mu_);

  // Who reads the socket: one thread at a time (see "Caller reads").
  enum class ReadSide : uint8_t { kReader, kParked, kCaller };
  ReadSide read_side_ GUARDED_BY(mu_) = ReadSide::kReader;
  // The last submission from a thread other than the reader was a blocking
  // call: an idle reader parks. Any other submission from such a thread
  // clears it.
  bool blocking_mode_ GUARDED_BY(mu_) = false;
  CondVar read_side_cv_;  // read_side_ left kCaller
  // eventfd that wakes the parked reader; -1: none could be made (the
  // reader then never parks).
  int wake_fd_ = -1;
  // Reply bytes, unparsed in rbuf_[rbegin_, rend_). Owned by the holder of
  // the read side (handed over under mu_): not GUARDED_BY.
  std::vector<uint8_t> rbuf_;
  size_t rbegin_ = 0, rend_ = 0;
};

}  // namespace sidewal::client
