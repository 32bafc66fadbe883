// READ and follow READ: each streams RECORDS frames from the engine (a chunk
// at a time, read on the blocking pool) once it reaches the front of the
// reply queue, and ends with END; CANCEL ends one early.
#include <boost/asio/post.hpp>

#include <algorithm>
#include <limits>

#include "server/session/request_checks.h"
#include "server/session/session.h"

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
// A non-follow READ with max_bytes = 0 returns at most this many payload bytes.
constexpr uint64_t kDefaultReadMaxBytes = 16u << 20;
// A READ produces its next RECORDS frame only while less than this is queued
// for writing on the session, so a slow reader holds at most ~2 frames.
constexpr uint64_t kReadWindowBytes = 1u << 20;

}  // namespace

void Session::handle_read(uint64_t seq) {
  proto::ReadRequest req;
  Status st = proto::decode_read(body_, &req);
  if (!st.ok()) return complete_error(seq, ErrorCode::kMalformed, st.message());
  if (RequestCheck refused = check_read_request(req)) {
    return complete_error(seq, refused->code, refused->message);
  }
  if (reads_.count(header_.request_id) != 0) {
    return complete_error(seq, ErrorCode::kMalformed,
                          "request_id is already used by a READ in progress on this connection");
  }
  ReadStream& r = reads_[header_.request_id];
  r.request_id = header_.request_id;
  r.next_lsn = req.from_lsn;
  r.follow = req.follow == 1;
  r.flags = header_.flags;  // check_request_frame() allowed only the READ flags
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

void Session::pump(uint64_t request_id) {
  auto it = reads_.find(request_id);
  if (it == reads_.end() || closed()) return;
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

void Session::on_read_chunk(uint64_t request_id, const Status& st, std::vector<wal::Record> records,
                            std::vector<wal::RecordHeaderInfo> headers, uint64_t next_lsn) {
  --blocking_ops_;
  auto it = reads_.find(request_id);
  SW_ASSERT(it != reads_.end());
  ReadStream& r = it->second;
  r.busy = false;
  if (closed()) {
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
      entries.push_back(
          proto::ReadRecord{.lsn = rec.lsn,
                            .type = rec.type,
                            .flags = rec.flags,
                            .tenant = rec.tenant,
                            .payload = rec.payload,
                            .payload_len = static_cast<uint32_t>(rec.payload.size())});
    }
    for (const wal::RecordHeaderInfo& h : headers) {
      entries.push_back(proto::ReadRecord{.lsn = h.lsn,
                                          .type = h.type,
                                          .flags = h.flags,
                                          .tenant = h.tenant,
                                          .payload = {},
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

void Session::finish_read(ReadStream& r, bool send_end) {
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

void Session::handle_cancel() {
  auto it = reads_.find(header_.request_id);
  // A READ that already ended sent its END; a late CANCEL needs no reply.
  if (it == reads_.end()) return;
  // A READ still waiting for its turn ends with END when it gets there.
  it->second.cancelled = true;
  pump(header_.request_id);
}

void Session::pump_all() {
  std::vector<uint64_t> ids;
  for (const auto& [rid, r] : reads_) ids.push_back(rid);
  for (uint64_t rid : ids) pump(rid);
}

}  // namespace sidewal::server
