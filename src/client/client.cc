#include "client/client.h"

#include <algorithm>
#include <utility>

#include "client/channel.h"

namespace sidewal::client {
namespace {

constexpr std::string_view kDaemonErrorPrefix = "daemon error ";

// The result of one blocking call, handed from the reader thread.
template <typename T>
class Waiter {
 public:
  void set(const Status& status, T value) EXCLUDES(mu_) {
    MutexLock lk(mu_);
    status_ = status;
    value_ = std::move(value);
    done_ = true;
    cv_.notify_one();
  }
  Result<T> wait() EXCLUDES(mu_) {
    MutexLock lk(mu_);
    cv_.wait(mu_, [&]() REQUIRES(mu_) { return done_; });
    if (!status_.ok()) return status_;
    return std::move(value_);
  }

 private:
  Mutex mu_;
  CondVar cv_;
  bool done_ GUARDED_BY(mu_) = false;
  Status status_ GUARDED_BY(mu_);
  T value_ GUARDED_BY(mu_){};
};

Status blocking_on_reader_thread() {
  return Status::Busy(
      "blocking sidewal client call from a completion callback would wait for its own thread; "
      "use the async API there");
}

}  // namespace

// Daemon ERROR code -> Status code. The protocol code travels as the
// Status's remote_code(); the message names it too, for people.
//   MALFORMED, FRAME_TOO_LARGE, RECORD_TOO_LARGE,
//   RESERVED_RECORD_TYPE, UNAUTHORIZED      -> InvalidArgument (the request or peer is wrong)
//   UNKNOWN_OPCODE, UNSUPPORTED_VERSION     -> Unsupported
//   NOT_READY                               -> Busy (retry later)
//   IO_FAILED                               -> Failed (daemon fail-stopped)
//   NO_SPACE                                -> NoSpace
//   LSN_TRUNCATED                           -> Truncated
//   anything else (a newer daemon's code)   -> IoError
Status status_for_daemon_error(proto::ErrorCode code, const std::string& message) {
  const auto wire = static_cast<uint16_t>(code);
  std::string m = std::string(kDaemonErrorPrefix) + proto::error_code_name(code) + " (" +
                  std::to_string(wire) + "): " + message;
  Code local = Code::kIoError;
  switch (code) {
    case proto::ErrorCode::kMalformed:
    case proto::ErrorCode::kFrameTooLarge:
    case proto::ErrorCode::kRecordTooLarge:
    case proto::ErrorCode::kReservedRecordType:
    case proto::ErrorCode::kUnauthorized: local = Code::kInvalidArgument; break;
    case proto::ErrorCode::kUnknownOpcode:
    case proto::ErrorCode::kUnsupportedVersion: local = Code::kUnsupported; break;
    case proto::ErrorCode::kNotReady: local = Code::kBusy; break;
    case proto::ErrorCode::kIoFailed: local = Code::kFailed; break;
    case proto::ErrorCode::kNoSpace: local = Code::kNoSpace; break;
    case proto::ErrorCode::kLsnTruncated: local = Code::kTruncated; break;
  }
  // Code 0 is no ERROR code (docs/protocol.md; proto::decode_error refuses
  // it): reported as IoError with no code to carry.
  if (wire == 0) return Status::IoError(std::move(m));
  return Status(local, std::move(m), wire);
}

std::optional<proto::ErrorCode> daemon_error_code(const Status& status) {
  if (status.remote_code() == 0) return std::nullopt;
  return static_cast<proto::ErrorCode>(status.remote_code());
}

Client::Client(const ClientOptions& options) : options_(options) {}

Client::~Client() { close(); }

Result<std::unique_ptr<Client>> Client::connect(const std::string& socket_path) {
  ClientOptions options;
  options.socket_path = socket_path;
  return connect(options);
}

Result<std::unique_ptr<Client>> Client::connect(const ClientOptions& options) {
  std::unique_ptr<Client> client(new Client(options));
  auto conn = client->live_connection();
  if (!conn.ok()) return conn.status();
  return client;
}

bool Client::on_reader_thread() const { return Channel::current_owner() == this; }

Result<std::shared_ptr<Channel>> Client::live_connection() {
  {
    MutexLock lk(state_mu_);
    if (closed_) return Status::Closed("sidewal client is closed");
    if (conn_ && !conn_->broken()) return conn_;
  }
  MutexLock connect_lk(connect_mu_);
  std::vector<std::shared_ptr<Channel>> to_join;
  {
    MutexLock lk(state_mu_);
    if (closed_) return Status::Closed("sidewal client is closed");
    if (conn_ && !conn_->broken()) return conn_;  // another thread reconnected
    if (conn_) retired_.push_back(std::move(conn_));
    // Join broken connections' reader threads, except our own (a callback
    // reconnecting): that one is joined by a later reconnect or close().
    auto self = std::partition(retired_.begin(), retired_.end(),
                               [](const auto& c) { return c->is_reader_thread(); });
    to_join.assign(std::make_move_iterator(self), std::make_move_iterator(retired_.end()));
    retired_.erase(self, retired_.end());
  }
  for (auto& c : to_join) c->join();

  const auto deadline = std::chrono::steady_clock::now() + options_.connect_timeout;
  auto backoff = options_.backoff_initial;
  int attempts = 0;
  for (;;) {
    ++attempts;
    Result<int> fd = connect_unix(options_.socket_path);
    if (fd.ok()) {
      auto conn = std::make_shared<Channel>(fd.value(), options_, this, &next_id_);
      conn->start();
      if (options_.discover_limits) {
        // The limits HELLO is answered before the connection is used, so
        // the first APPEND is already checked against the daemon's limits.
        {
          MutexLock lk(state_mu_);
          if (closed_) {
            conn->shutdown(Status::Closed("sidewal client is closed"));
            retired_.push_back(conn);
            return Status::Closed("sidewal client is closed");
          }
          connecting_ = conn;  // close() breaks it, which ends the wait
        }
        if (conn->ask_limits(options_.name)) conn->wait_limits(deadline);
        Status broke = conn->broken_status();
        if (!broke.ok()) {
          // Refused (an unsolicited ERROR such as UNAUTHORIZED) or hung up
          // before the HELLO was answered: report why, do not retry.
          MutexLock lk(state_mu_);
          connecting_.reset();
          retired_.push_back(conn);
          return broke;
        }
        MutexLock lk(state_mu_);
        connecting_.reset();
      } else if (!options_.name.empty()) {
        // Pipelined: the reply only confirms the version; an error reply
        // (UNSUPPORTED_VERSION) is left for the daemon to enforce on the
        // requests that follow.
        Pending p;
        p.id = next_id_.fetch_add(1);
        p.expect = proto::Opcode::kHelloOk;
        p.complete = [](const Pending&) {};
        proto::Hello hello;
        hello.name = options_.name;
        uint64_t id = p.id;
        (void)conn->submit(std::move(p), [&](auto* out) { proto::encode_hello(id, hello, out); });
      }
      MutexLock lk(state_mu_);
      if (closed_) {
        conn->shutdown(Status::Closed("sidewal client is closed"));
        retired_.push_back(conn);
        return Status::Closed("sidewal client is closed");
      }
      conn_ = conn;
      return conn;
    }
    if (fd.status().code() == Code::kInvalidArgument) return fd.status();
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      return Status(fd.status().code(), fd.status().message() + " (gave up after " +
                                            std::to_string(attempts) + " attempts in " +
                                            std::to_string(options_.connect_timeout.count()) +
                                            " ms)");
    }
    // Backoff between attempts; close() cuts it short.
    MutexLock lk(state_mu_);
    auto wait = std::min<std::chrono::steady_clock::duration>(backoff, deadline - now);
    if (close_cv_.wait_for(state_mu_, wait, [&]() REQUIRES(state_mu_) { return closed_; })) {
      return Status::Closed("sidewal client is closed");
    }
    backoff = std::min(backoff * 2, options_.backoff_max);
  }
}

void Client::close() {
  SW_ASSERT_MSG(!on_reader_thread(), "sidewal client closed from its own callback");
  std::vector<std::shared_ptr<Channel>> conns;
  {
    MutexLock lk(state_mu_);
    closed_ = true;
    close_cv_.notify_all();
    // A connect waiting for its HELLO reply: breaking it ends the wait, and
    // that connect retires it (and close() below or the destructor joins it).
    if (connecting_) connecting_->shutdown(Status::Closed("sidewal client closed"));
    if (conn_) conns.push_back(std::move(conn_));
    for (auto& c : retired_) conns.push_back(std::move(c));
    retired_.clear();
  }
  for (auto& c : conns) {
    c->shutdown(Status::Closed("sidewal client closed"));
    c->join();
  }
}

Result<ServerLimits> Client::server_limits() {
  auto conn = live_connection();
  if (!conn.ok()) return conn.status();
  if (options_.discover_limits && (*conn)->ask_limits_again(options_.name) && !on_reader_thread()) {
    (*conn)->wait_limits(std::chrono::steady_clock::now() + options_.connect_timeout);
  }
  return (*conn)->limits();
}

size_t Client::in_flight() const {
  MutexLock lk(state_mu_);
  return conn_ ? conn_->in_flight() : 0;
}

// ---- Asynchronous API.

Client::SendBatch::SendBatch(Client& client) {
  // Holds the connection the next submissions will use; if it breaks and a
  // reconnect replaces it, those go out unbatched on the new one.
  auto conn = client.live_connection();
  if (!conn.ok()) return;  // the submissions will report the failure
  conn_ = std::move(*conn);
  conn_->hold_sends();
}

Client::SendBatch::~SendBatch() {
  if (conn_ != nullptr) conn_->release_sends();
}

namespace {

// The daemon's RECORD_TOO_LARGE, decided here: same Status code and
// daemon_error_code(), and the message says nothing was sent.
Status refused_locally(const std::string& why) {
  return status_for_daemon_error(proto::ErrorCode::kRecordTooLarge,
                                 "refused by the client before sending: " + why);
}

// Checks an APPEND against the limits in force (see ServerLimits).
Status check_append(std::span<const RecordIn> records, const ServerLimits& lim) {
  uint64_t body = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    const size_t n = records[i].payload.size();
    if (lim.max_record_bytes != 0 && n > lim.max_record_bytes) {
      return refused_locally("record " + std::to_string(i) + " payload is " + std::to_string(n) +
                             " bytes; the daemon's max_record_bytes is " +
                             std::to_string(lim.max_record_bytes));
    }
    body += proto::kAppendRecordHeaderSize + n;
  }
  if (lim.max_batch_bytes != 0) {
    const uint64_t encoded = proto::encoded_batch_bytes(records, lim.record_extra_bytes);
    if (encoded > lim.max_batch_bytes) {
      return refused_locally("the batch of " + std::to_string(records.size()) + " records is " +
                             std::to_string(encoded) +
                             " bytes encoded (docs/protocol.md \"Limits\"); the daemon's "
                             "max_batch_bytes is " +
                             std::to_string(lim.max_batch_bytes) + ": split it");
    }
  }
  if (body > lim.max_frame_body) {
    const bool advertised = lim.source == ServerLimits::Source::kAdvertised;
    return Status::InvalidArgument(
        "APPEND of " + std::to_string(records.size()) + " records is a " + std::to_string(body) +
        "-byte frame body, above " +
        (advertised ? "the daemon's limits.max_frame_bytes " : "max_request_body ") +
        std::to_string(lim.max_frame_body));
  }
  return Status::Ok();
}

}  // namespace

Status Client::append_async(std::span<const RecordIn> records, AppendCallback done) {
  if (records.empty()) return Status::InvalidArgument("APPEND needs at least one record");
  for (const RecordIn& r : records) {
    if (r.flags != 0) return Status::InvalidArgument("APPEND record flags must be 0");
  }
  auto conn = live_connection();
  if (!conn.ok()) return conn.status();
  bool retry = false;
  const ServerLimits limits = (*conn)->limits(&retry);
  // Limits still unknown because the daemon was recovering: ask again
  // (pipelined; this APPEND goes out checked against ClientOptions only).
  if (retry && options_.discover_limits) (void)(*conn)->ask_limits_again(options_.name);
  SIDEWAL_RETURN_IF_ERROR(check_append(records, limits));
  Pending p;
  p.id = next_id_.fetch_add(1);
  p.expect = proto::Opcode::kAck;
  p.count = static_cast<uint32_t>(records.size());
  p.on_append = std::move(done);
  uint64_t id = p.id;
  if (!(*conn)->submit(std::move(p), [&](auto* out) { proto::encode_append(id, records, out); })) {
    // Broke between live_connection() and submit(): nothing was queued.
    return Status::Closed("connection to sidewald broke before the APPEND was sent");
  }
  return Status::Ok();
}

Status Client::hello_async(const std::string& name, HelloCallback done) {
  auto conn = live_connection();
  if (!conn.ok()) return conn.status();
  Pending p;
  p.id = next_id_.fetch_add(1);
  p.expect = proto::Opcode::kHelloOk;
  p.complete = [done = std::move(done)](const Pending& r) { done(r.status, r.hello); };
  proto::Hello hello;
  hello.name = name;
  uint64_t id = p.id;
  if (!(*conn)->submit(std::move(p), [&](auto* out) { proto::encode_hello(id, hello, out); })) {
    return Status::Closed("connection to sidewald broke before HELLO was sent");
  }
  return Status::Ok();
}

Status Client::status_async(StatusCallback done) {
  auto conn = live_connection();
  if (!conn.ok()) return conn.status();
  Pending p;
  p.id = next_id_.fetch_add(1);
  p.expect = proto::Opcode::kStatusOk;
  p.complete = [done = std::move(done)](const Pending& r) { done(r.status, r.status_reply); };
  uint64_t id = p.id;
  if (!(*conn)->submit(std::move(p), [&](auto* out) { proto::encode_status(id, out); })) {
    return Status::Closed("connection to sidewald broke before STATUS was sent");
  }
  return Status::Ok();
}

Status Client::truncate_async(uint64_t before_lsn, TruncateCallback done) {
  auto conn = live_connection();
  if (!conn.ok()) return conn.status();
  Pending p;
  p.id = next_id_.fetch_add(1);
  p.expect = proto::Opcode::kOk;
  p.complete = [done = std::move(done)](const Pending& r) { done(r.status, r.first_lsn); };
  uint64_t id = p.id;
  if (!(*conn)->submit(std::move(p),
                       [&](auto* out) { proto::encode_truncate(id, before_lsn, out); })) {
    return Status::Closed("connection to sidewald broke before TRUNCATE was sent");
  }
  return Status::Ok();
}

Result<uint64_t> Client::read_async(const proto::ReadRequest& request, RecordsCallback on_records,
                                    EndCallback on_end) {
  return start_read(next_id_.fetch_add(1), request, std::move(on_records), std::move(on_end));
}

Result<uint64_t> Client::start_read(uint64_t id, const proto::ReadRequest& request,
                                    RecordsCallback on_records, EndCallback on_end) {
  if (request.follow > 1) return Status::InvalidArgument("READ follow must be 0 or 1");
  if ((request.flags & ~proto::kReadFlagsMask) != 0) {
    return Status::InvalidArgument("READ flags " + std::to_string(request.flags) +
                                   ": only SKIP_DEAD (0x01) and HEADER_ONLY (0x02) exist");
  }
  SW_ASSERT_MSG(static_cast<bool>(on_end), "a READ needs an EndCallback");
  auto conn = live_connection();
  if (!conn.ok()) return conn.status();
  auto stream = std::make_shared<ReadStream>();
  stream->id = id;
  stream->on_records = std::move(on_records);
  stream->on_end = std::move(on_end);
  if (!(*conn)->submit_read(std::move(stream),
                            [&](auto* out) { proto::encode_read(id, request, out); })) {
    return Status::Closed("connection to sidewald broke before READ was sent");
  }
  return id;
}

Result<uint64_t> Client::follow(uint64_t from_lsn, RecordsCallback on_records, EndCallback on_end,
                                const ReadOptions& options) {
  proto::ReadRequest r;
  r.from_lsn = from_lsn;
  r.follow = 1;
  r.flags = options.flags();
  return read_async(r, std::move(on_records), std::move(on_end));
}

Status Client::cancel(uint64_t read_id) {
  std::shared_ptr<Channel> conn;
  {
    MutexLock lk(state_mu_);
    if (closed_) return Status::Closed("sidewal client is closed");
    conn = conn_;
  }
  // No reconnect: a READ lives on one connection; if that broke, the READ
  // already ended with Closed.
  if (conn) conn->cancel(read_id);
  return Status::Ok();
}

// ---- Blocking API: the async calls plus a Waiter.

Result<proto::HelloOk> Client::hello(const std::string& name) {
  if (on_reader_thread()) return blocking_on_reader_thread();
  auto w = std::make_shared<Waiter<proto::HelloOk>>();
  SIDEWAL_RETURN_IF_ERROR(
      hello_async(name, [w](const Status& s, const proto::HelloOk& r) { w->set(s, r); }));
  return w->wait();
}

Result<uint64_t> Client::append(std::span<const RecordIn> records) {
  if (on_reader_thread()) return blocking_on_reader_thread();
  auto w = std::make_shared<Waiter<uint64_t>>();
  SIDEWAL_RETURN_IF_ERROR(append_async(records, [w](const Status& s, uint64_t first_lsn, uint32_t) {
    w->set(s, first_lsn);
  }));
  return w->wait();
}

Result<proto::StatusReply> Client::status() {
  if (on_reader_thread()) return blocking_on_reader_thread();
  auto w = std::make_shared<Waiter<proto::StatusReply>>();
  SIDEWAL_RETURN_IF_ERROR(
      status_async([w](const Status& s, const proto::StatusReply& r) { w->set(s, r); }));
  return w->wait();
}

Result<uint64_t> Client::truncate(uint64_t before_lsn) {
  if (on_reader_thread()) return blocking_on_reader_thread();
  auto w = std::make_shared<Waiter<uint64_t>>();
  SIDEWAL_RETURN_IF_ERROR(truncate_async(before_lsn, [w](const Status& s, uint64_t first_lsn) {
    w->set(s, first_lsn);
  }));
  return w->wait();
}

Result<ReadResult> Client::read(uint64_t from_lsn, uint32_t max_records, uint32_t max_bytes,
                                const ReadOptions& options) {
  if (on_reader_thread()) return blocking_on_reader_thread();
  auto w = std::make_shared<Waiter<ReadResult>>();
  // Filled only on the reader thread, handed over by on_end.
  auto acc = std::make_shared<ReadResult>();
  proto::ReadRequest r;
  r.from_lsn = from_lsn;
  r.max_records = max_records;
  r.max_bytes = max_bytes;
  r.flags = options.flags();
  auto id = read_async(
      r,
      [acc](std::span<const proto::ReadRecord> recs) {
        for (const proto::ReadRecord& rec : recs) {
          acc->records.push_back(Record{rec.lsn,
                                        rec.type,
                                        rec.flags,
                                        rec.tenant,
                                        {rec.payload.begin(), rec.payload.end()},
                                        rec.payload_len});
        }
      },
      [w, acc](const Status& s, uint64_t next_lsn) {
        acc->next_lsn = next_lsn;
        w->set(s, std::move(*acc));
      });
  if (!id.ok()) return id.status();
  return w->wait();
}

Result<uint64_t> Client::tail(
    uint64_t from_lsn, const std::function<bool(std::span<const proto::ReadRecord>)>& on_records,
    const ReadOptions& options) {
  if (on_reader_thread()) return blocking_on_reader_thread();
  auto w = std::make_shared<Waiter<uint64_t>>();
  // Touched only by the reader thread's callbacks until on_end hands the
  // resume LSN over through the waiter.
  struct TailState {
    bool stopped = false;
    uint64_t resume = 0;  // the LSN after the last record delivered
  };
  auto state = std::make_shared<TailState>();
  state->resume = from_lsn;
  // The id is chosen before the READ is sent so the callback can cancel it
  // even if it runs before start_read() returns.
  const uint64_t id = next_id_.fetch_add(1);
  proto::ReadRequest r;
  r.from_lsn = from_lsn;
  r.follow = 1;
  r.flags = options.flags();
  auto started = start_read(
      id, r,
      [this, id, state, &on_records](std::span<const proto::ReadRecord> recs) {
        // Records already on their way after a stop are dropped.
        if (state->stopped || recs.empty()) return;
        state->resume = recs.back().lsn + 1;
        if (!on_records(recs)) {
          state->stopped = true;
          (void)cancel(id);
        }
      },
      [w, state](const Status& s, uint64_t) { w->set(s, state->resume); });
  if (!started.ok()) return started.status();
  return w->wait();
}

}  // namespace sidewal::client
