// The asynchronous API: each call checks its request, encodes it onto the
// live connection and returns; the reply runs the callback on the reader thread.
#include "client/client.h"

#include <memory>
#include <utility>

#include "client/channel.h"

namespace sidewal::client {

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
  return queue_append(records, std::move(done), nullptr);
}

Status Client::queue_append(std::span<const RecordIn> records, AppendCallback done,
                            const std::function<bool()>* blocking_done) {
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
  auto encode = [&](std::vector<uint8_t>* out) { proto::encode_append(id, records, out); };
  const bool queued = blocking_done != nullptr
                          ? (*conn)->submit_blocking(std::move(p), encode, *blocking_done)
                          : (*conn)->submit(std::move(p), encode);
  if (!queued) {
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

}  // namespace sidewal::client
