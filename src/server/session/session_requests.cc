// HELLO, APPEND (with the engine's completions), TRUNCATE and STATUS.
#include <boost/asio/post.hpp>

#include <string>

#include "server/log.h"
#include "server/session/fail_stop.h"
#include "server/session/request_checks.h"
#include "server/session/session.h"
#include "wal/codecs/format.h"

namespace sidewal::server {

namespace asio = boost::asio;
using proto::ErrorCode;

// The batch formula clients compute (proto::encoded_batch_bytes) is the
// engine's (wal::format::record_bytes, plus the tag of an encrypted record).
static_assert(proto::kStoredRecordHeaderSize == wal::format::kHeaderBytes);
static_assert(proto::kStoredRecordAlign == wal::format::kRecordAlign);
static_assert(proto::encoded_record_bytes(0) == wal::format::record_bytes(0));
static_assert(proto::encoded_record_bytes(13, wal::format::kTagBytes) ==
              wal::format::record_bytes(13 + wal::format::kTagBytes));

proto::ErrorCode Session::error_for(const Status& st) const {
  return error_code_for(st, *ctx_->log);
}

void Session::handle_hello(uint64_t seq) {
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

void Session::handle_append(uint64_t seq) {
  Status st = proto::decode_append(body_, &scratch_append_);
  if (!st.ok()) return complete_error(seq, ErrorCode::kMalformed, st.message());
  if (RequestCheck refused =
          check_append_records(scratch_append_, ctx_->config->wal_max_record_bytes)) {
    return complete_error(seq, refused->code, refused->message);
  }
  scratch_records_.clear();
  uint64_t payload_bytes = 0;
  for (const proto::AppendRecord& r : scratch_append_) {
    scratch_records_.push_back(
        wal::RecordIn{.type = r.type, .flags = 0, .tenant = r.tenant, .payload = r.payload});
    payload_bytes += r.payload.size();
  }
  Slot& s = slot(seq);
  s.records = static_cast<uint32_t>(scratch_records_.size());
  s.payload_bytes = payload_bytes;
  // The engine assigns LSNs in call order and completes batches in LSN
  // order; calling it here, on the strand, in frame order gives this
  // session increasing LSNs in request order. The slot queue orders the
  // replies whatever the completion order.
  if (!sink_) {
    sink_ = AppendSinkRef(new AppendSink);
    sink_->owner = weak_from_this();
  }
  if (appends_unanswered_++ == 0 && !closed()) keepalive_ = shared_from_this();
  // The callback's own reference, handed over as a raw pointer (see AppendSink).
  AppendSink* ref = AppendSinkRef(sink_).detach();
  auto done = [ref, seq](const Status& st, uint64_t lsn) {
    // Completion thread (or this strand, for an immediate failure or a
    // leader flush): only hand over to the strand. The engine calls back
    // exactly once.
    AppendSinkRef sink(ref, /*add_ref=*/false);
    sink->completed(seq, st, lsn);
  };
  // More bytes already read from this socket mean more requests follow at
  // once: they go into the same group, so this one must not lead a flush
  // of its own (wal.caller_flushes; docs/operations.md "Leader flush").
  // Nor may an APPEND that follows another connection's
  // (ServerContext::last_appender).
  const bool same_committer = ctx_->last_appender.exchange(id_) == id_;
  if (reader_.buffered() > 0 || !same_committer) {
    ctx_->log->wal()->append_without_leading(scratch_records_, std::move(done));
  } else {
    ctx_->log->wal()->append(scratch_records_, std::move(done));
  }
}

void Session::AppendSink::completed(uint64_t seq, const Status& st, uint64_t first_lsn) {
  std::shared_ptr<Session> session;
  {
    MutexLock lock(mu);
    done.push_back(AppendDone{.seq = seq, .first_lsn = first_lsn, .status = st});
    // Only the first result of a batch posts: drain_appends() takes them all.
    if (done.size() == 1) session = owner.lock();
  }
  if (session) {
    Strand ex = session->strand_;
    asio::post(ex, [session = std::move(session)] { session->drain_appends(); });
  }
}

void Session::drain_appends() {
  SW_ASSERT(done_batch_.empty());
  {
    MutexLock lock(sink_->mu);
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
  // here does not destroy the session under our feet.
  if (appends_unanswered_ == 0) keepalive_.reset();
  flush_slots();
}

void Session::on_append_done(uint64_t seq, const Status& st, uint64_t first_lsn) {
  Slot& s = slot(seq);
  SW_ASSERT(!s.done);
  std::vector<uint8_t> reply = take_frame_buffer();
  if (st.ok()) {
    const double seconds = std::chrono::duration<double>(Clock::now() - s.received).count();
    ctx_->metrics->appended(s.records, s.payload_bytes, seconds);
    proto::encode_ack(s.request_id, proto::Ack{.first_lsn = first_lsn, .count = s.records}, &reply);
  } else {
    reply = error_frame(s.request_id, append_error_code(st, *ctx_->log), st.message());
  }
  complete(seq, std::move(reply));
}

void Session::handle_truncate(uint64_t seq) {
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

void Session::handle_status(uint64_t seq) {
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

}  // namespace sidewal::server
