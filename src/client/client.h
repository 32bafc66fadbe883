// sidewal client: what a database links to talk to sidewald over its Unix
// socket (protocol v1, docs/protocol.md). Depends only on src/proto.
//
// One Client owns one connection at a time and offers two faces on it:
//
// - Blocking calls (hello, append, read, status, truncate, tail): send one
//   request and wait for its reply. Safe from any number of threads at once;
//   their requests are pipelined on the shared connection.
// - Asynchronous calls (append_async, read_async/follow, ...): queue a
//   request and return at once; the callback runs later on the connection's
//   reader thread. Many requests may be in flight; this is how throughput is
//   made (one fdatasync acknowledges every APPEND that arrived meanwhile).
//
// Threads: each connection has one reader thread; every callback of that
// connection runs on it, one at a time. One-shot replies (APPEND, HELLO,
// STATUS, TRUNCATE) complete in the order the requests were sent. Callbacks
// must be quick; they may call the async API of the same Client (including
// cancel), but not the blocking API (that would wait for the very thread it
// runs on: it returns Busy instead) and must not destroy or close the Client.
// An async call that has to reconnect blocks its caller (a callback too) for
// up to connect_timeout.
//
// Writes are batched: requests queued while another thread is sending go out
// in the same send() call; replies are parsed out of one large read buffer.
//
// Broken connections: when the connection fails (daemon restarted, killed,
// protocol violation), every request in flight on it completes with a
// Closed status. THEY ARE NEVER RESENT: an APPEND that got no ACK may or may
// not have been made durable, and only the application can decide what to do
// (for example READ from its last acknowledged LSN to find out). The next
// call reconnects, retrying with exponential backoff (backoff_initial, doubled
// up to backoff_max) until connect_timeout has passed.
//
// Errors: a daemon ERROR reply becomes a Status whose Code is mapped by
// status_for_daemon_error(), which carries the protocol ErrorCode as its
// remote_code() (daemon_error_code() returns it typed), and whose message
// starts with "daemon error <NAME> (<code>): " for people.
//
// Limits (docs/protocol.md "Limits"): every new connection starts with a
// HELLO asking for the daemon's limits (HELLO flag LIMITS) and waits for the
// reply (within connect_timeout) before it is used. From then on an APPEND
// the daemon would refuse for its size is refused here, before anything is
// sent, with the Status the daemon's RECORD_TOO_LARGE would give (the message
// says the client refused it); replies above the advertised largest reply
// are a protocol violation. server_limits() shows what is enforced. A daemon
// that predates the limits block (it answers the flag with MALFORMED) is
// asked again without it: its max_record_bytes is enforced, and the frame
// and reply limits stay ClientOptions::max_request_body / max_reply_body.
//
// The files, one job each: client.cc the connection (connect, reconnect,
// close), client_async.cc the asynchronous calls, client_blocking.cc the
// blocking ones, client_errors.cc daemon ERRORs as Statuses; channel.h the
// connection's socket and reader thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"
#include "proto/protocol.h"

namespace sidewal::client {

struct ClientOptions {
  std::string socket_path = "./var/sidewal.sock";
  // When non-empty, every new connection starts with a HELLO carrying this
  // name (for the daemon's logs). It is pipelined, not waited for.
  std::string name;
  // A (re)connect keeps retrying for this long before giving up with the last
  // connect error.
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds backoff_initial{5};
  std::chrono::milliseconds backoff_max{250};
  // Largest request body this client sends; an APPEND above it fails locally
  // with InvalidArgument instead of making the daemon close the connection.
  // Used until the daemon advertises its limits.max_frame_bytes (HELLO_OK),
  // which then replaces it; the default is the daemon's default.
  uint32_t max_request_body = proto::kDefaultMaxFrameBody;
  // Largest reply body accepted; a bigger one is a protocol violation. Used
  // until the daemon advertises its largest reply (HELLO_OK max_reply_body),
  // which then replaces it. Older daemons send RECORDS frames of any size
  // up to this.
  uint32_t max_reply_body = 64u << 20;
  // Start every connection with a HELLO asking for the daemon's limits and
  // wait for its reply (see "Limits" above). Off: no such HELLO (one is sent,
  // pipelined and not waited for, only when `name` is set), and only
  // max_request_body / max_reply_body are enforced.
  bool discover_limits = true;
  // Initial size of the reply buffer (it grows for a bigger frame).
  size_t read_buffer_bytes = 256u << 10;
  // Bytes of encoded requests waiting for the socket beyond which async
  // callers block until the socket drains (backpressure). The reader thread
  // never blocks here, so callbacks may always submit.
  size_t max_queued_bytes = 64u << 20;
};

// An application record to append: views into the caller's memory, copied
// into the send buffer before the call returns. flags must be 0.
using RecordIn = proto::AppendRecord;

// The limits the client enforces on its current connection.
struct ServerLimits {
  enum class Source : uint8_t {
    kAdvertised,   // HELLO_OK carried the daemon's limits block
    kOlderDaemon,  // HELLO_OK without it (a daemon that predates it): max_record_bytes
                   // from it, max_frame_body / max_reply_body from ClientOptions
    kUnknown,      // no HELLO_OK (discover_limits off, the daemon still recovering,
                   // or no reply in time): only ClientOptions' limits
  };
  Source source = Source::kUnknown;
  uint32_t max_frame_body = 0;      // largest APPEND body_len
  uint32_t max_record_bytes = 0;    // largest payload; 0: not checked here
  uint64_t max_batch_bytes = 0;     // largest proto::encoded_batch_bytes(); 0: not checked here
  uint32_t record_extra_bytes = 0;  // the formula's per-record term (16 when encrypting)
  uint32_t max_reply_body = 0;      // largest reply body_len accepted
};

// A record read back, owning its payload.
struct Record {
  uint64_t lsn = 0;
  uint16_t type = 0;
  uint16_t flags = 0;
  uint32_t tenant = 0;
  std::vector<uint8_t> payload;  // empty for a header_only read
  uint32_t payload_len = 0;      // the stored length (== payload.size() unless header_only)
  bool operator==(const Record&) const = default;
};

// The READ flags (protocol v1 additions, docs/protocol.md "READ flags"). Both
// off is a plain v1 READ.
struct ReadOptions {
  // The daemon omits application records dead by collection tombstone
  // (payloads that start with their collection name, docs/control-records.md).
  // Skipped records still advance next_lsn.
  bool skip_dead = false;
  // Records come without payload bytes; payload_len is the stored length.
  bool header_only = false;
  uint8_t flags() const {
    return static_cast<uint8_t>((skip_dead ? proto::kReadSkipDead : 0) |
                                (header_only ? proto::kReadHeaderOnly : 0));
  }
};

struct ReadResult {
  std::vector<Record> records;
  uint64_t next_lsn = 0;  // resume a later READ here
};

// Ok with the first LSN of the batch (record i has first_lsn + i) and the
// record count; or the daemon's error, or Closed if the connection broke
// before the ACK arrived (the batch may or may not be durable).
using AppendCallback =
    std::function<void(const Status& status, uint64_t first_lsn, uint32_t count)>;
// A RECORDS frame of a READ; the views are valid only during the call.
using RecordsCallback = std::function<void(std::span<const proto::ReadRecord> records)>;
// The end of a READ: Ok with next_lsn after END, or the error / Closed.
// Runs exactly once per successfully started READ, after its last records.
using EndCallback = std::function<void(const Status& status, uint64_t next_lsn)>;
using HelloCallback = std::function<void(const Status& status, const proto::HelloOk& reply)>;
using StatusCallback = std::function<void(const Status& status, const proto::StatusReply& reply)>;
using TruncateCallback = std::function<void(const Status& status, uint64_t first_lsn)>;

// Maps a daemon ERROR to a Status (see the table in client_errors.cc).
Status status_for_daemon_error(proto::ErrorCode code, const std::string& message);
// The protocol error code a Status carries (Status::remote_code(), set by
// status_for_daemon_error), or nullopt for local errors (Closed, connect
// failures, bad arguments), whatever their message says.
std::optional<proto::ErrorCode> daemon_error_code(const Status& status);

class Channel;  // one socket and its reader thread (channel.h)

class Client {
 public:
  // Connects (retrying until options.connect_timeout) and returns the client.
  static Result<std::unique_ptr<Client>> connect(const ClientOptions& options);
  static Result<std::unique_ptr<Client>> connect(const std::string& socket_path);
  ~Client();  // close()
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // ---- Blocking API.
  Result<proto::HelloOk> hello(const std::string& name);
  // Appends `records` atomically; returns the first LSN once all are durable.
  Result<uint64_t> append(std::span<const RecordIn> records);
  // One READ of durable records from `from_lsn` (>= 1). It stops at
  // max_records (0 = no limit), at max_bytes of payload (0 = the daemon's
  // default, 16 MiB) or at the durable end. Read everything by calling again
  // from next_lsn until no records come back.
  Result<ReadResult> read(uint64_t from_lsn, uint32_t max_records = 0, uint32_t max_bytes = 0,
                          const ReadOptions& options = {});
  Result<proto::StatusReply> status();
  // Returns the first LSN after truncation.
  Result<uint64_t> truncate(uint64_t before_lsn);
  // Follows the log from `from_lsn`, calling on_records for every RECORDS
  // frame, until on_records returns false (then the READ is cancelled) or the
  // stream fails. Returns the next LSN to resume from, or the error. With
  // options.header_only each ReadRecord has an empty payload and its stored
  // length in payload_len.
  Result<uint64_t> tail(uint64_t from_lsn,
                        const std::function<bool(std::span<const proto::ReadRecord>)>& on_records,
                        const ReadOptions& options = {});

  // ---- Asynchronous API. On an ok return the callback runs exactly once,
  // later, on the reader thread; on an error return (could not connect, bad
  // arguments, client closed) it never runs.
  Status append_async(std::span<const RecordIn> records, AppendCallback done);
  Status hello_async(const std::string& name, HelloCallback done);
  Status status_async(StatusCallback done);
  Status truncate_async(uint64_t before_lsn, TruncateCallback done);
  // Starts a READ (follow = 1 streams until cancel()); returns its id.
  // request.flags carries the READ flags (ReadOptions::flags()); unknown bits
  // are refused here with InvalidArgument.
  Result<uint64_t> read_async(const proto::ReadRequest& request, RecordsCallback on_records,
                              EndCallback on_end);
  Result<uint64_t> follow(uint64_t from_lsn, RecordsCallback on_records, EndCallback on_end,
                          const ReadOptions& options = {});
  // Asks the daemon to end the READ `read_id` (its EndCallback then runs with
  // Ok). A READ that already ended, or was on an earlier connection, is
  // ignored.
  Status cancel(uint64_t read_id);

  // Sends as one: while a SendBatch lives, the requests this thread submits
  // on the client's current connection are queued (up to 256 KiB) and sent
  // in one send() when the batch ends, instead of one send() each. Nothing
  // else changes: each request still gets its own reply and callback. A
  // database that appends several records at once uses it to save system
  // calls on both sides of the socket. Do not wait for a reply inside a batch
  // (the request may not be sent yet).
  class SendBatch {
   public:
    explicit SendBatch(Client& client);
    ~SendBatch();
    SendBatch(const SendBatch&) = delete;
    SendBatch& operator=(const SendBatch&) = delete;

   private:
    std::shared_ptr<Channel> conn_;  // null when there was no connection
  };

  // The limits enforced on the current connection (connecting if there is
  // none). When an earlier HELLO found the daemon still recovering, asks
  // again first (waiting up to connect_timeout, except on a reader thread).
  Result<ServerLimits> server_limits();

  // One-shot requests and READs in flight on the current connection.
  size_t in_flight() const;
  // Fails every request in flight with Closed, closes the socket and joins
  // the reader thread. Later calls return Closed. Idempotent.
  void close() EXCLUDES(state_mu_);

 private:
  explicit Client(const ClientOptions& options);
  // The connection to send on, reconnecting when there is none or it broke.
  Result<std::shared_ptr<Channel>> live_connection() EXCLUDES(connect_mu_, state_mu_);
  Result<uint64_t> start_read(uint64_t id, const proto::ReadRequest& request,
                              RecordsCallback on_records, EndCallback on_end);
  // True when the calling thread is a reader thread of this client.
  bool on_reader_thread() const;
  // append_async(), or with `blocking_done` the blocking append(): its
  // completion makes *blocking_done true, and the calling thread may read
  // the reply itself (Channel::submit_blocking).
  Status queue_append(std::span<const RecordIn> records, AppendCallback done,
                      const std::function<bool()>* blocking_done);

  const ClientOptions options_;
  // Serialises reconnects: conn_ is replaced only with connect_mu_ held
  // (and state_mu_, like every access).
  Mutex connect_mu_ ACQUIRED_BEFORE(state_mu_);
  mutable Mutex state_mu_;
  CondVar close_cv_;  // wakes a reconnect backoff wait on close()
  std::shared_ptr<Channel> conn_ GUARDED_BY(state_mu_);
  // A new connection waiting for its HELLO reply (not yet conn_), so close()
  // can cut that wait short.
  std::shared_ptr<Channel> connecting_ GUARDED_BY(state_mu_);
  // Broken connections whose reader threads are joined on the next reconnect
  // or at close (a reader thread cannot join itself).
  std::vector<std::shared_ptr<Channel>> retired_ GUARDED_BY(state_mu_);
  bool closed_ GUARDED_BY(state_mu_) = false;
  // Request ids are unique across this client's connections, so a stale
  // cancel() never hits a READ on a newer connection.
  std::atomic<uint64_t> next_id_{1};
};

}  // namespace sidewal::client
