#include "server/connection.h"

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <cstring>
#include <limits>

#include "server/log.h"
#include "wal/control_records.h"
#include "wal/format.h"

namespace sidewal::server {

namespace asio = boost::asio;
using proto::ErrorCode;

namespace {

// RECORDS frames are packed by proto::encode_records_frames to at most
// proto::kRecordsFrameBudget body bytes, entry headers included (one record
// may exceed it alone: a frame always carries at least one record), so the
// largest reply is proto::max_reply_body(wal.max_record_bytes), which HELLO_OK
// advertises. One engine read (a "chunk") is bounded to about two frames:
// kRecordsFrameBudget of payload and kMaxChunkRecords entries.
constexpr uint64_t kMaxChunkRecords = proto::kRecordsFrameBudget / proto::kReadRecordHeaderSize;
// The batch formula clients compute (proto::encoded_batch_bytes) is the
// engine's (wal::format::record_bytes, plus the tag of an encrypted record).
static_assert(proto::kStoredRecordHeaderSize == wal::format::kHeaderBytes);
static_assert(proto::kStoredRecordAlign == wal::format::kRecordAlign);
static_assert(proto::encoded_record_bytes(0) == wal::format::record_bytes(0));
static_assert(proto::encoded_record_bytes(13, wal::format::kTagBytes) ==
              wal::format::record_bytes(13 + wal::format::kTagBytes));
// A non-follow READ with max_bytes = 0 returns at most this many payload bytes.
constexpr uint64_t kDefaultReadMaxBytes = 16u << 20;
// A READ produces its next RECORDS frame only while less than this is queued
// for writing on the connection, so a slow reader holds at most ~2 frames.
constexpr uint64_t kReadWindowBytes = 1u << 20;
// Frames gathered into one async_write.
constexpr size_t kMaxGather = 64;
// The read buffer: at pipeline depth 16, 100-byte APPENDs take ~2 KiB, so
// one read takes a whole window; 64 KiB records take one frame per read.
// Allocated uninitialised, so an idle connection touches only what it reads.
constexpr size_t kReadBufferBytes = 64u << 10;
// Written frames up to this size are kept for reuse (ACKs are 32 bytes).
constexpr size_t kSpareFrameBytes = 4u << 10;
constexpr size_t kMaxSpareFrames = 64;

}  // namespace

Connection::Connection(Socket socket, ServerContext* ctx, uint64_t id)
    : socket_(std::move(socket)), strand_(socket_.get_executor()), ctx_(ctx), id_(id) {
  ctx_->metrics->connection_opened();
}

Connection::~Connection() {
  // Whatever this connection still held (frames of a closed peer, replies
  // never written) goes back to the global budget.
  if (inflight_ > 0) ctx_->release(inflight_);
  if (sink_ != nullptr) {
    bool last;
    {
      std::lock_guard lock(sink_->mu);
      sink_->owner_gone = true;
      last = sink_->outstanding == 0;
    }
    // Otherwise the engine's last callback deletes it.
    if (last) delete sink_;
  }
}

void Connection::acquire(uint64_t n) {
  inflight_ += n;
  ctx_->acquire(n);
}

void Connection::release(uint64_t n) {
  SW_ASSERT(n <= inflight_);
  inflight_ -= n;
  ctx_->release(n);
}

// ---- Entry points (any thread).

void Connection::start(bool authorized) {
  asio::post(strand_, [self = shared_from_this(), authorized] {
    if (!authorized) {
      self->enqueue(self->error_frame(0, ErrorCode::kUnauthorized,
                                      "peer UID is not in socket.allowed_uids"));
      self->stop_reading_and_finish();
      return;
    }
    self->maybe_read();
  });
}

void Connection::drain() {
  asio::post(strand_, [self = shared_from_this()] { self->stop_reading_and_finish(); });
}

void Connection::force_close() {
  asio::post(strand_, [self = shared_from_this()] { self->close(); });
}

void Connection::wake() {
  asio::post(strand_, [self = shared_from_this()] { self->maybe_read(); });
}

// ---- Reading frames.

void Connection::maybe_read() {
  if (reading_ || closed_ || peer_eof_ || finishing_) return;
  // Per-connection bound: resumed by progress() when replies drain.
  if (inflight_ >= ctx_->config->max_inflight_bytes_per_connection) return;
  // Global bound, with a per-connection reserve it never takes away: a
  // connection holding less than the reserve keeps reading even while the
  // total is exhausted, so clients that never read their replies (each far
  // above the reserve) cannot stall one that does.
  if (ctx_->over_total() && inflight_ >= ctx_->config->inflight_reserve_per_connection) {
    ctx_->wait_for_total(weak_from_this());
    return;
  }
  read_header();
}

void Connection::read_header() {
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

bool Connection::take_frame() {
  const size_t avail = rend_ - rbegin_;
  if (avail < proto::kHeaderSize) return false;
  header_ = proto::decode_header(rbuf_.get() + rbegin_);
  if (header_.body_len > ctx_->config->max_frame_bytes) {
    // The body is not read, so the stream cannot be resynchronised: answer
    // (after the replies to earlier requests) and close.
    rbegin_ = rend_ = 0;
    frame_bytes_ = proto::kHeaderSize;
    acquire(frame_bytes_);
    const uint64_t seq = open_slot();
    complete_error(seq, ErrorCode::kFrameTooLarge,
                   "body_len " + std::to_string(header_.body_len) +
                       " exceeds limits.max_frame_bytes " +
                       std::to_string(ctx_->config->max_frame_bytes));
    stop_reading_and_finish();
    return true;
  }
  const size_t frame = proto::kHeaderSize + size_t{header_.body_len};
  if (avail < frame) {
    // Make room for the whole frame: move it to the front, and grow the
    // buffer for a frame bigger than it (at most limits.max_frame_bytes + 16).
    if (frame > rcap_) {
      auto bigger = std::make_unique_for_overwrite<uint8_t[]>(frame);
      std::memcpy(bigger.get(), rbuf_.get() + rbegin_, avail);
      rbuf_ = std::move(bigger);
      rcap_ = frame;
      rbegin_ = 0;
      rend_ = avail;
    }
    return false;
  }
  frame_bytes_ = frame;
  acquire(frame_bytes_);
  body_ = std::span<const uint8_t>(rbuf_.get() + rbegin_ + proto::kHeaderSize, header_.body_len);
  rbegin_ += frame;
  received_at_ = Clock::now();
  dispatch();
  body_ = {};
  return true;
}

void Connection::read_some() {
  if (rbegin_ == rend_) {
    rbegin_ = rend_ = 0;
    // A buffer grown for one big frame goes back to the usual size.
    if (rcap_ != kReadBufferBytes) {
      rbuf_ = std::make_unique_for_overwrite<uint8_t[]>(kReadBufferBytes);
      rcap_ = kReadBufferBytes;
    }
  } else if (rbegin_ > 0) {
    std::memmove(rbuf_.get(), rbuf_.get() + rbegin_, rend_ - rbegin_);
    rend_ -= rbegin_;
    rbegin_ = 0;
  }
  SW_ASSERT(rend_ < rcap_);
  reading_ = true;
  socket_.async_read_some(
      asio::buffer(rbuf_.get() + rend_, rcap_ - rend_),
      [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
        self->on_read_some(ec, n);
      });
}

void Connection::on_read_some(const boost::system::error_code& ec, size_t n) {
  reading_ = false;
  if (closed_) return;
  if (ec) {
    // EOF between frames is the normal end; pending ACKs still go out if the
    // peer only shut down its sending side. A partial frame is never served.
    if (rend_ > rbegin_) {
      log::debug("connection: peer closed in the middle of a frame",
                 {{"conn", id_}, {"buffered_bytes", rend_ - rbegin_}});
    }
    rbegin_ = rend_ = 0;
    peer_eof_ = true;
    if (!reads_.empty()) eof_keepalive_ = shared_from_this();
    progress();
    return;
  }
  rend_ += n;
  if (finishing_) {
    // Draining: frames that arrive now are not served.
    progress();
    return;
  }
  maybe_read();
}

void Connection::dispatch() {
  const auto op = static_cast<proto::Opcode>(header_.opcode);
  if (op == proto::Opcode::kCancel && header_.flags == 0 && header_.reserved == 0 &&
      body_.empty()) {
    // A well-formed CANCEL has no reply of its own: the READ it ends answers.
    release(frame_bytes_);
    handle_cancel();
    return;
  }
  const uint64_t seq = open_slot();
  const bool known = op == proto::Opcode::kHello || op == proto::Opcode::kAppend ||
                     op == proto::Opcode::kRead || op == proto::Opcode::kTruncate ||
                     op == proto::Opcode::kStatus || op == proto::Opcode::kCancel;
  if (!known) {
    // The body was read and is dropped, so the connection stays usable.
    char buf[8];
    std::snprintf(buf, sizeof buf, "0x%02x", header_.opcode);
    return complete_error(seq, ErrorCode::kUnknownOpcode,
                          std::string("unknown request opcode ") + buf);
  }
  // Only READ (SKIP_DEAD, HEADER_ONLY) and HELLO (LIMITS) define header
  // flags; any other bit is refused.
  if ((header_.flags & ~proto::allowed_request_flags(header_.opcode)) != 0 ||
      header_.reserved != 0) {
    return complete_error(seq, ErrorCode::kMalformed,
                          "header reserved must be 0 and flags 0 (READ: only 0x01 SKIP_DEAD, "
                          "0x02 HEADER_ONLY; HELLO: only 0x01 LIMITS)");
  }
  if (op == proto::Opcode::kCancel) {
    return complete_error(seq, ErrorCode::kMalformed, "CANCEL body must be empty");
  }
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

// ---- Requests.

void Connection::handle_hello(uint64_t seq) {
  proto::Hello hello;
  Status st = proto::decode_hello(body_, &hello);
  if (!st.ok()) return complete_error(seq, ErrorCode::kMalformed, st.message());
  if (hello.version != proto::kVersion) {
    return complete_error(seq, ErrorCode::kUnsupportedVersion,
                          "protocol version " + std::to_string(hello.version) +
                              " is not supported (this daemon speaks " +
                              std::to_string(proto::kVersion) + ")");
  }
  log::debug("connection: hello", {{"conn", id_}, {"client", hello.name}});
  wal::Wal* wal = ctx_->log->wal();
  const wal::WalStatus s = wal->status();
  proto::HelloOk ok;
  ok.max_record_bytes = ctx_->config->wal_max_record_bytes;
  ok.first_lsn = s.first_lsn;
  ok.durable_lsn = s.durable_lsn;
  // The limits block only for a client that asked (kHelloLimits): the
  // original 24-byte reply is all an older client can decode.
  if ((header_.flags & proto::kHelloLimits) != 0) {
    ok.has_limits = true;
    ok.max_frame_body = ctx_->config->max_frame_bytes;
    ok.max_reply_body = proto::max_reply_body(ctx_->config->wal_max_record_bytes);
    ok.max_batch_bytes = wal->max_batch_bytes();
    // New segments are encrypted (each record carries a 16-byte tag) exactly
    // when encryption is enabled: the engine then measures batches with it.
    ok.record_extra_bytes = ctx_->config->encryption_enabled ? wal::format::kTagBytes : 0;
  }
  std::vector<uint8_t> frame;
  proto::encode_hello_ok(header_.request_id, ok, &frame);
  complete(seq, std::move(frame));
}

void Connection::handle_append(uint64_t seq) {
  Status st = proto::decode_append(body_, &scratch_append_);
  if (!st.ok()) return complete_error(seq, ErrorCode::kMalformed, st.message());

  const uint32_t max_record = ctx_->config->wal_max_record_bytes;
  scratch_records_.clear();
  uint64_t payload_bytes = 0;
  for (size_t i = 0; i < scratch_append_.size(); ++i) {
    const proto::AppendRecord& r = scratch_append_[i];
    if (r.payload.size() > max_record) {
      return complete_error(seq, ErrorCode::kRecordTooLarge,
                            "record " + std::to_string(i) + " payload is " +
                                std::to_string(r.payload.size()) +
                                " bytes; wal.max_record_bytes is " + std::to_string(max_record));
    }
    if (r.type >= wal::kFirstControlType) {
      // Control records the log knows (docs/control-records.md) are accepted
      // with a valid payload only; the rest of the range stays reserved.
      char buf[8];
      std::snprintf(buf, sizeof buf, "0x%04x", r.type);
      if (!wal::is_known_control_type(r.type)) {
        return complete_error(seq, ErrorCode::kReservedRecordType,
                              "record " + std::to_string(i) + " has type " + buf +
                                  "; types 0x8000-0xFFFF other than the control records "
                                  "0x8001-0x8003 are reserved for the log");
      }
      Status valid = wal::validate_control_record(r.type, r.payload);
      if (!valid.ok()) {
        return complete_error(seq, ErrorCode::kMalformed,
                              "record " + std::to_string(i) + " (control type " + buf +
                                  "): " + valid.message());
      }
    }
    scratch_records_.push_back(
        wal::RecordIn{.type = r.type, .flags = 0, .tenant = r.tenant, .payload = r.payload});
    payload_bytes += r.payload.size();
  }
  Slot& s = slot(seq);
  s.records = static_cast<uint32_t>(scratch_records_.size());
  s.payload_bytes = payload_bytes;
  // The engine assigns LSNs in call order and completes batches in LSN
  // order; calling it here, on the strand, in frame order gives this
  // connection increasing LSNs in request order. The slot queue orders the
  // replies whatever the completion order.
  if (sink_ == nullptr) {
    sink_ = new AppendSink;
    sink_->owner = weak_from_this();
  }
  {
    std::lock_guard lock(sink_->mu);
    ++sink_->outstanding;
  }
  if (appends_unanswered_++ == 0 && !closed_) keepalive_ = shared_from_this();
  ctx_->log->wal()->append(scratch_records_, [sink = sink_, seq](const Status& st, uint64_t lsn) {
    // Completion thread (or this strand, for an immediate failure): only
    // hand over to the strand.
    sink->completed(seq, st, lsn);
  });
}

void Connection::AppendSink::completed(uint64_t seq, const Status& st, uint64_t first_lsn) {
  std::shared_ptr<Connection> conn;
  bool last = false;
  {
    std::lock_guard lock(mu);
    SW_ASSERT(outstanding > 0);
    --outstanding;
    if (owner_gone) {
      last = outstanding == 0;
    } else {
      done.push_back(AppendDone{.seq = seq, .first_lsn = first_lsn, .status = st});
      // Only the first result of a batch posts: drain_appends() takes them all.
      if (done.size() == 1) conn = owner.lock();
    }
  }
  if (last) {
    delete this;
    return;
  }
  if (conn) {
    Strand ex = conn->strand_;
    asio::post(ex, [conn = std::move(conn)] { conn->drain_appends(); });
  }
}

void Connection::drain_appends() {
  SW_ASSERT(done_batch_.empty());
  {
    std::lock_guard lock(sink_->mu);
    done_batch_.swap(sink_->done);
  }
  // Replies are queued for the whole batch first, then written together.
  answering_appends_ = true;
  for (const AppendDone& d : done_batch_) on_append_done(d.seq, d.status, d.first_lsn);
  answering_appends_ = false;
  SW_ASSERT(appends_unanswered_ >= done_batch_.size());
  appends_unanswered_ -= done_batch_.size();
  done_batch_.clear();
  // The posted handler that runs this holds a reference too, so letting go
  // here does not destroy the connection under our feet.
  if (appends_unanswered_ == 0) keepalive_.reset();
  flush_slots();
}

void Connection::on_append_done(uint64_t seq, const Status& st, uint64_t first_lsn) {
  Slot& s = slot(seq);
  SW_ASSERT(!s.done);
  std::vector<uint8_t> reply = take_frame_buffer();
  if (st.ok()) {
    const double seconds = std::chrono::duration<double>(Clock::now() - s.received).count();
    ctx_->metrics->appended(s.records, s.payload_bytes, seconds);
    proto::encode_ack(s.request_id, proto::Ack{.first_lsn = first_lsn, .count = s.records},
                      &reply);
  } else {
    // NoSpace fail-stops only when it came from a data write; when only the
    // next segment could not be created the engine stays ready (appends
    // resume when space returns, docs/format.md), and so must the daemon.
    if (st.code() == Code::kIoError || st.code() == Code::kFailed ||
        (st.code() == Code::kNoSpace && ctx_->log->wal() != nullptr &&
         ctx_->log->wal()->status().state == wal::LogState::kFailed)) {
      ctx_->log->note_failure(st);
    }
    // The engine refuses a batch above its encoded-size limit
    // (Wal::max_batch_bytes) with kInvalidArgument: the request is too big
    // for the log, not malformed, and splitting it fixes it.
    const ErrorCode code =
        st.code() == Code::kInvalidArgument ? ErrorCode::kRecordTooLarge : error_for(st);
    reply = error_frame(s.request_id, code, st.message());
  }
  complete(seq, std::move(reply));
}

void Connection::handle_read(uint64_t seq) {
  proto::ReadRequest req;
  Status st = proto::decode_read(body_, &req);
  if (!st.ok()) return complete_error(seq, ErrorCode::kMalformed, st.message());
  if (req.from_lsn == 0) {
    return complete_error(seq, ErrorCode::kMalformed, "from_lsn 0: LSNs start at 1");
  }
  if (req.follow > 1) return complete_error(seq, ErrorCode::kMalformed, "follow must be 0 or 1");
  if (reads_.count(header_.request_id) != 0) {
    return complete_error(seq, ErrorCode::kMalformed,
                          "request_id is already used by a READ in progress on this connection");
  }
  ReadStream& r = reads_[header_.request_id];
  r.request_id = header_.request_id;
  r.next_lsn = req.from_lsn;
  r.follow = req.follow == 1;
  r.flags = header_.flags;  // dispatch() allowed only the READ flags
  r.records_left = req.max_records == 0 ? std::numeric_limits<uint64_t>::max() : req.max_records;
  if (req.max_bytes != 0) {
    r.bytes_left = req.max_bytes;
  } else {
    r.bytes_left = r.follow ? std::numeric_limits<uint64_t>::max() : kDefaultReadMaxBytes;
  }
  if (r.follow) {
    const uint64_t rid = r.request_id;
    r.follower_id = ctx_->log->add_follower([weak = weak_from_this(), ex = strand_, rid] {
      asio::post(ex, [weak, rid] {
        if (auto self = weak.lock()) self->pump(rid);
      });
    });
  }
  slot(seq).is_read = true;
  flush_slots();  // starts it if it is at the front
}

void Connection::pump(uint64_t request_id) {
  auto it = reads_.find(request_id);
  if (it == reads_.end() || closed_) return;
  ReadStream& r = it->second;
  if (!r.turn || r.busy) return;  // flush_slots() or the read's completion pumps again
  if (r.cancelled || r.records_left == 0 || r.bytes_left == 0) return finish_read(r, true);
  if (out_bytes_ >= kReadWindowBytes) return;  // on_written() pumps again
  wal::Wal* wal = ctx_->log->wal();
  if (r.next_lsn > wal->durable_lsn()) {
    // Caught up: a plain READ ends here; a follower waits for the next flush.
    if (!r.follow) finish_read(r, true);
    return;
  }
  r.busy = true;
  ++blocking_ops_;
  TombstoneTracker* dead_filter =
      (r.flags & proto::kReadSkipDead) != 0 ? ctx_->log->tombstones() : nullptr;
  // HEADER_ONLY reads headers only (Wal::read_headers: no payload bytes from
  // the disk), unless SKIP_DEAD needs each payload's collection name.
  const bool headers_only = (r.flags & proto::kReadHeaderOnly) != 0 && dead_filter == nullptr;
  wal::ReadLimits limits;
  limits.max_records = std::min(r.records_left, kMaxChunkRecords);
  if (headers_only) {
    // No payload is read, so only the READ's own max_bytes (counting the
    // stored lengths) bounds the chunk; frames hold 20-byte entries.
    limits.max_bytes = r.bytes_left == std::numeric_limits<uint64_t>::max() ? 0 : r.bytes_left;
  } else {
    limits.max_bytes = std::min<uint64_t>(r.bytes_left, proto::kRecordsFrameBudget);
  }
  asio::post(*ctx_->blocking, [self = shared_from_this(), wal, from = r.next_lsn, limits,
                               request_id, dead_filter, headers_only] {
    std::vector<wal::Record> records;
    std::vector<wal::RecordHeaderInfo> headers;
    uint64_t next = from;
    Status st = headers_only ? wal->read_headers(from, limits, &headers, &next)
                             : wal->read(from, limits, &records, &next);
    // SKIP_DEAD: dead records are dropped here; `next` still passes them.
    if (st.ok() && dead_filter != nullptr) st = dead_filter->filter(wal, &records);
    asio::post(self->strand_, [self, request_id, st = std::move(st), records = std::move(records),
                               headers = std::move(headers), next]() mutable {
      self->on_read_chunk(request_id, st, std::move(records), std::move(headers), next);
    });
  });
}

void Connection::on_read_chunk(uint64_t request_id, const Status& st,
                               std::vector<wal::Record> records,
                               std::vector<wal::RecordHeaderInfo> headers, uint64_t next_lsn) {
  --blocking_ops_;
  auto it = reads_.find(request_id);
  SW_ASSERT(it != reads_.end());
  ReadStream& r = it->second;
  r.busy = false;
  if (closed_) {
    finish_read(r, false);
    return;
  }
  if (!st.ok()) {
    // The READ is at the front (or a follower), so its ERROR goes out now.
    enqueue(error_frame(request_id, error_for(st), st.message()));
    finish_read(r, false);
    return;
  }
  if (!records.empty() || !headers.empty()) {
    const bool header_only = (r.flags & proto::kReadHeaderOnly) != 0;
    std::vector<proto::ReadRecord> entries;
    entries.reserve(records.size() + headers.size());
    for (const wal::Record& rec : records) {
      entries.push_back(proto::ReadRecord{
          .lsn = rec.lsn, .type = rec.type, .flags = rec.flags, .tenant = rec.tenant,
          .payload = rec.payload, .payload_len = static_cast<uint32_t>(rec.payload.size())});
    }
    for (const wal::RecordHeaderInfo& h : headers) {
      entries.push_back(proto::ReadRecord{.lsn = h.lsn, .type = h.type, .flags = h.flags,
                                          .tenant = h.tenant, .payload = {},
                                          .payload_len = h.payload_len});
    }
    for (const proto::ReadRecord& e : entries) {
      // max_records / max_bytes count what was selected: with HEADER_ONLY the
      // stored payload lengths, so both flags settings return the same records.
      if (r.records_left != std::numeric_limits<uint64_t>::max()) --r.records_left;
      if (r.bytes_left != std::numeric_limits<uint64_t>::max()) {
        r.bytes_left -= std::min<uint64_t>(r.bytes_left, e.payload_len);
      }
    }
    // Every frame within the budget, entry headers included (a log of empty
    // records gives frames of kRecordsFrameBudget / 20 entries, not one huge
    // frame). The chunk's frames go out back to back as one write buffer.
    std::vector<uint8_t> frames;
    proto::encode_records_frames(request_id, entries, header_only, proto::kRecordsFrameBudget,
                                 &frames);
    enqueue(std::move(frames));
    SW_ASSERT(next_lsn > r.next_lsn);
  }
  r.next_lsn = std::max(r.next_lsn, next_lsn);
  pump(request_id);
  progress();
}

void Connection::finish_read(ReadStream& r, bool send_end) {
  if (send_end) {
    std::vector<uint8_t> frame;
    proto::encode_end(r.request_id, r.next_lsn, &frame);
    enqueue(std::move(frame));
  }
  if (!r.follow && r.turn) {
    // A plain READ runs only at the front of the queue; its slot completes.
    SW_ASSERT(!slots_.empty() && slots_.front().is_read &&
              slots_.front().request_id == r.request_id);
    slots_.front().done = true;
  }
  if (r.follower_id != 0) ctx_->log->remove_follower(r.follower_id);
  const uint64_t rid = r.request_id;  // r dies with the erase
  reads_.erase(rid);
  flush_slots();
}

void Connection::handle_cancel() {
  auto it = reads_.find(header_.request_id);
  // A READ that already ended sent its END; a late CANCEL needs no reply.
  if (it == reads_.end()) return;
  // A READ still waiting for its turn ends with END when it gets there.
  it->second.cancelled = true;
  pump(header_.request_id);
}

void Connection::handle_truncate(uint64_t seq) {
  uint64_t before = 0;
  Status st = proto::decode_truncate(body_, &before);
  if (!st.ok()) return complete_error(seq, ErrorCode::kMalformed, st.message());
  ++blocking_ops_;
  asio::post(*ctx_->blocking, [self = shared_from_this(), wal = ctx_->log->wal(), before, seq,
                               rid = header_.request_id] {
    Result<uint64_t> r = wal->truncate_before(before);
    asio::post(self->strand_, [self, r = std::move(r), rid, before, seq] {
      --self->blocking_ops_;
      if (r.ok()) {
        log::info("truncated", {{"before_lsn", before}, {"first_lsn", r.value()}});
        std::vector<uint8_t> frame;
        proto::encode_ok(rid, r.value(), &frame);
        self->complete(seq, std::move(frame));
      } else {
        self->complete_error(seq, self->error_for(r.status()), r.status().message());
      }
    });
  });
}

void Connection::handle_status(uint64_t seq) {
  Status st = proto::decode_empty(body_);
  if (!st.ok()) return complete_error(seq, ErrorCode::kMalformed, st.message());
  proto::StatusReply reply;
  if (wal::Wal* wal = ctx_->log->wal()) {
    const wal::WalStatus s = wal->status();
    reply.first_lsn = s.first_lsn;
    reply.durable_lsn = s.durable_lsn;
    reply.segments = s.segments;
    reply.bytes_on_disk = s.bytes_on_disk;
  }
  reply.state = static_cast<uint8_t>(ctx_->log->state());
  std::vector<uint8_t> frame;
  proto::encode_status_ok(header_.request_id, reply, &frame);
  complete(seq, std::move(frame));
}

// ---- The ordered reply queue.

uint64_t Connection::open_slot() {
  Slot& s = slots_.emplace_back();
  s.request_id = header_.request_id;
  s.frame_bytes = frame_bytes_;
  s.received = received_at_;
  return front_seq_ + slots_.size() - 1;
}

Connection::Slot& Connection::slot(uint64_t seq) {
  SW_ASSERT(seq >= front_seq_ && seq - front_seq_ < slots_.size());
  return slots_[seq - front_seq_];
}

void Connection::complete(uint64_t seq, std::vector<uint8_t> reply) {
  Slot& s = slot(seq);
  s.reply = std::move(reply);
  s.done = true;
  if (!answering_appends_) flush_slots();
}

void Connection::complete_error(uint64_t seq, ErrorCode code, std::string_view message) {
  complete(seq, error_frame(slot(seq).request_id, code, message));
}

void Connection::flush_slots() {
  // Re-entered from pump() -> finish_read(): the running loop continues.
  if (flushing_) return;
  flushing_ = true;
  while (!slots_.empty()) {
    Slot& s = slots_.front();
    if (s.is_read && !s.done) {
      auto it = reads_.find(s.request_id);
      SW_ASSERT(it != reads_.end());
      if (!it->second.turn) {
        it->second.turn = true;
        // A follower streams beside later replies from now on.
        if (it->second.follow) s.done = true;
        pump(s.request_id);  // may complete s
      }
      if (!s.done) break;  // a plain READ is still sending
    }
    if (!s.done) break;
    if (!s.reply.empty()) enqueue(std::move(s.reply));
    const uint64_t frame_bytes = s.frame_bytes;
    slots_.pop_front();
    ++front_seq_;
    release(frame_bytes);
  }
  flushing_ = false;
  if (writing_frames_ == 0 && !out_.empty() && !closed_) write_queued();
  progress();
}

// ---- Replies.

proto::ErrorCode Connection::error_for(const Status& st) const {
  switch (st.code()) {
    case Code::kTruncated: return ErrorCode::kLsnTruncated;
    case Code::kNoSpace: return ErrorCode::kNoSpace;
    case Code::kInvalidArgument: return ErrorCode::kMalformed;
    case Code::kFailed: return ctx_->log->failure_code();
    default: return ErrorCode::kIoFailed;
  }
}

std::vector<uint8_t> Connection::error_frame(uint64_t request_id, ErrorCode code,
                                             std::string_view message) {
  ctx_->metrics->error(code);
  log::debug("connection: error reply", {{"conn", id_},
                                         {"request_id", request_id},
                                         {"code", proto::error_code_name(code)},
                                         {"message", message}});
  // Messages are for humans; the cut keeps every reply within the advertised
  // max_reply_body. Cut at a UTF-8 character boundary.
  if (message.size() > proto::kMaxErrorMessageBytes) {
    size_t cut = proto::kMaxErrorMessageBytes;
    while (cut > 0 && (static_cast<uint8_t>(message[cut]) & 0xC0) == 0x80) --cut;
    message = message.substr(0, cut);
  }
  std::vector<uint8_t> frame;
  proto::encode_error(request_id, code, message, &frame);
  return frame;
}

std::vector<uint8_t> Connection::take_frame_buffer() {
  if (spare_frames_.empty()) return {};
  std::vector<uint8_t> frame = std::move(spare_frames_.back());
  spare_frames_.pop_back();
  frame.clear();
  return frame;
}

void Connection::enqueue(std::vector<uint8_t> frame) {
  if (closed_) return;
  acquire(frame.size());
  out_bytes_ += frame.size();
  out_.push_back(std::move(frame));
  // flush_slots() writes what it queued in one go when its loop ends.
  if (writing_frames_ == 0 && !flushing_) write_queued();
}

void Connection::write_queued() {
  SW_ASSERT(writing_frames_ == 0 && !out_.empty());
  const size_t n = std::min(out_.size(), kMaxGather);
  write_bufs_.clear();
  for (size_t i = 0; i < n; ++i) write_bufs_.push_back(asio::buffer(out_[i]));
  writing_frames_ = n;
  // A span, not the vector: the write operation copies its buffer sequence.
  asio::async_write(socket_, std::span<const asio::const_buffer>(write_bufs_),
                    [self = shared_from_this(), n](const boost::system::error_code& ec, size_t) {
                      self->on_written(ec, n);
                    });
}

void Connection::on_written(const boost::system::error_code& ec, size_t frames) {
  SW_ASSERT(frames == writing_frames_);
  writing_frames_ = 0;
  for (size_t i = 0; i < frames; ++i) {
    const uint64_t n = out_.front().size();
    out_bytes_ -= n;
    release(n);
    if (out_.front().capacity() <= kSpareFrameBytes && spare_frames_.size() < kMaxSpareFrames) {
      spare_frames_.push_back(std::move(out_.front()));
    }
    out_.pop_front();
  }
  if (ec || closed_) {
    if (!closed_) {
      log::debug("connection: write failed", {{"conn", id_}, {"error", ec.message()}});
    }
    close();
    return;
  }
  if (!out_.empty()) write_queued();
  pump_all();  // room in the write window: READs produce their next frame
  progress();
}

void Connection::pump_all() {
  std::vector<uint64_t> ids;
  for (const auto& [rid, r] : reads_) ids.push_back(rid);
  for (uint64_t rid : ids) pump(rid);
}

// ---- Lifecycle.

void Connection::stop_reading_and_finish() {
  if (closed_ || finishing_) return;
  finishing_ = true;
  // A pending header read returns EOF once the receive side is shut down.
  boost::system::error_code ignored;
  if (reading_) socket_.shutdown(Socket::shutdown_receive, ignored);
  // Followers end with END; plain READs already received still complete.
  for (auto& [rid, r] : reads_) {
    if (r.follow) r.cancelled = true;
  }
  pump_all();
  progress();
}

void Connection::progress() {
  if (closed_) return;
  maybe_read();
  const bool idle = slots_.empty() && out_.empty() && writing_frames_ == 0 && blocking_ops_ == 0;
  // A follower keeps a half-closed connection open: the client may only
  // read. finishing_ ends followers first (stop_reading_and_finish).
  if (idle && reads_.empty() && (finishing_ || peer_eof_)) close();
}

void Connection::close() {
  if (closed_) return;
  closed_ = true;
  // Dropped when close() returns; every caller runs in a handler holding
  // its own reference.
  std::shared_ptr<Connection> keepalive = std::move(keepalive_);
  std::shared_ptr<Connection> eof_keepalive = std::move(eof_keepalive_);
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
