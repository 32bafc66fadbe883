// The flusher (group commit): one thread takes the whole fill buffer, swaps
// in the other staging buffer so the next group fills while this one is
// written, seals it when the segment is encrypted, issues ONE write (two with
// the double-write copy) and ONE sync, feeds the tail window, and hands the
// flush's callbacks to the completer (completer.cc). One turn of
// flusher_loop is the steps below, in order. With WalOptions::caller_flushes
// an appender that finds the flusher idle runs the same turn itself
// (lead_flush_locked): one flush token (flushing_) says who runs it.
//
// Overlapped flushes (WalOptions::overlap_min_bytes, docs/format.md
// "Overlapped flushes"): between a flush's writes and its sync, the flusher
// may swap out the next group and start writing its pages after the first
// (IoBackend::start_write), so they transfer while this flush syncs; the
// next turn then writes only that group's first page and double-write copy,
// and syncs. The token stays with the flusher between the two turns.
#include <chrono>
#include <cstring>

#include "wal/codecs/format.h"
#include "wal/dwb.h"
#include "wal/segment_file.h"
#include "wal/wal_impl.h"

namespace sidewal::wal {

void WalImpl::flusher_loop() {
  MutexLock lk(mu_);
  std::vector<Completion> refused;  // parked appends refused (stays empty but at the rare ends)
  // The group the last turn swapped out and started (overlapped), or null.
  // While it is set the flusher keeps the token.
  Staging* started = nullptr;
  for (;;) {
    if (started != nullptr && !failed_.ok()) {
      // The flush before it failed: reap its bulk (whatever its outcome, the
      // log has failed already) and fail its appends with the rest.
      mu_.unlock();
      Status ignored = io_->finish_writes();
      (void)ignored;
      mu_.lock();
      fail_queued_locked(*started);
      started = nullptr;
      flushing_ = false;
      continue;
    }
    Staging* fl = started;
    if (fl == nullptr) {
      wait_for_flush_work_locked();
      fl = &fill_buffer_locked();
      if (!failed_.ok()) {
        fail_queued_locked(*fl);
        if (closing_ && bufs_[fill_].records == 0) break;
        flushing_ = false;
        continue;
      }
      if (closing_ && !parked_.empty()) {
        // What waits for room or a segment is refused (Closed), as an append
        // made after close() is; what is in the fill buffer is flushed.
        admit_parked_locked(&refused);
        lk.unlock();
        hand_off_refused(&refused);
        lk.lock();
      }
      if (fl->records == 0 && !fl->sealed) break;  // closing, nothing left (the token stays taken)
    }
    Completion claimed;
    const bool deliver =
        flush_fill_buffer_locked(*fl, /*swapped=*/started != nullptr, &refused, &claimed, &started);
    if (started == nullptr)
      flushing_ = false;  // a leader may write the next flush while we deliver
    if (deliver) {
      lk.unlock();
      deliver_claimed(claimed);
      lk.lock();
    }
  }
}

bool WalImpl::flush_work_waiting_locked() const {
  const Staging& f = bufs_[fill_];
  return f.records > 0 || f.sealed || closing_ || (!failed_.ok() && !failed_notified_);
}

// Waits until there is work and the token is free (a leader may hold it),
// and takes it. The flusher does not hold the token here: it gave it back
// at the end of its last turn (a leader may have taken it since, and only
// that leader gives it back).
void WalImpl::wait_for_flush_work_locked() {
  SW_ASSERT(!flusher_idle_);
  flusher_idle_ = true;
  flush_cv_.wait(mu_, [&]() REQUIRES(mu_) { return !flushing_ && flush_work_waiting_locked(); });
  flusher_idle_ = false;
  flushing_ = true;
}

bool WalImpl::flush_fill_buffer_locked(Staging& fl, bool swapped, std::vector<Completion>* refused,
                                       Completion* claimed, Staging** overlap) {
  SW_ASSERT(flushing_);
  // The token's promise, checked: no other flush turn runs (one would if a
  // thread gave back a token it did not hold).
  SW_ASSERT(flush_turns_.fetch_add(1) == 0);
  SW_ASSERT(swapped == fl.bulk_started);
  Recarry recarry;
  if (!swapped) {
    SW_ASSERT(&fl == &fill_buffer_locked());
    recarry = swap_buffers_locked(fl);
    admit_parked_locked(refused);  // into the new fill buffer, in order
  }
  mu_.unlock();
  hand_off_refused(refused);
  // `fl` now belongs to the token holder alone until it becomes the fill buffer again.
  FlushResult r = write_flush(fl, recarry);
  Completion done = take_flushed(fl);  // `fl` is free from here on: it may become the fill buffer
  Staging* next = nullptr;
  if (overlap != nullptr) {
    *overlap = nullptr;
    mu_.lock();
    if (r.status.ok() && done.records > 0) next = overlap_next_locked(refused);
    mu_.unlock();
    if (next != nullptr) {
      hand_off_refused(refused);
      start_bulk(*next);
      *overlap = next;
    }
  }
  // The sync: after this flush's writes completed (and after the next
  // group's bulk was started, which it may or may not cover: that group is
  // synced by its own turn).
  if (r.status.ok() && done.records > 0 && opts_.sync_mode != SyncMode::kODsync) {
    r.status = io_->sync(write_fd_);
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - r.started).count();
  mu_.lock();
  const bool deliver = finish_flush_locked(std::move(done), std::move(r), claimed, next != nullptr);
  SW_ASSERT(flush_turns_.fetch_sub(1) == 1);
  return deliver;
}

// With mu_ held, after a successful flush's writes: whether the group in the
// fill buffer is large enough to start now (see WalOptions::
// overlap_min_bytes), and if so swaps it out (the buffer just flushed, reset
// by take_flushed, becomes the fill buffer) and returns it.
WalImpl::Staging* WalImpl::overlap_next_locked(std::vector<Completion>* refused) {
  if (opts_.overlap_min_bytes == 0 || opts_.sync_mode != SyncMode::kFdatasync) return nullptr;
  Staging& nx = fill_buffer_locked();
  if (!failed_.ok() || nx.records == 0 || nx.new_segment || nx.seg_key != nullptr) return nullptr;
  const uint64_t len = format::round_up(nx.used, align_);
  if (len <= align_ || len - align_ < opts_.overlap_min_bytes) return nullptr;
  const Recarry recarry = swap_buffers_locked(nx);
  SW_ASSERT(recarry.len == 0);  // plaintext: nothing is sealed
  admit_parked_locked(refused);
  nx.bulk_started = true;
  ++overlapped_flushes_;
  return &nx;
}

// Starts writing the pages of `nx` after its first one. Its first page
// (which holds its first record, or the start of it, and the durable prefix
// it rewrites) waits for its own turn: after the previous flush's sync.
void WalImpl::start_bulk(Staging& nx) {
  std::memset(nx.buf.data() + nx.used, 0, format::round_up(nx.used, align_) - nx.used);
  const size_t len = format::round_up(nx.used, align_);
  SW_ASSERT(nx.base % align_ == 0 && len > align_);
  SW_ASSERT(nx.base + len <= dwb::records_end(nx.segment_bytes, align_));
  nx.bulk_status =
      io_->start_write(write_fd_, nx.base + align_, nx.buf.data() + align_, len - align_);
}

// Called by append() right after it queued its batch, with the token free
// (the flusher idle, or delivering its last flush), so the fill buffer holds
// at least that batch and the log is neither failed nor closing (append()
// checked both under this same hold of mu_).
void WalImpl::lead_flush_locked() {
  SW_ASSERT(opts_.caller_flushes && !flushing_);
  SW_ASSERT(failed_.ok() && !closing_ && fill_buffer_locked().records > 0);
  flushing_ = true;
  std::vector<Completion> refused;
  Completion claimed;
  const bool deliver = flush_fill_buffer_locked(fill_buffer_locked(), /*swapped=*/false, &refused,
                                                &claimed, /*overlap=*/nullptr);
  flushing_ = false;
  // What arrived during this flush (or a failure to announce, or close())
  // is the flusher's: a leader runs one flush, never a queue of them.
  if (flush_work_waiting_locked()) flush_cv_.notify_one();
  if (deliver) {
    mu_.unlock();
    deliver_claimed(claimed);
    mu_.lock();
  }
}

// Fails everything still queued in `fl`, and every parked append; nothing is
// written after a failure
// (which may have come from the preparer, not from a flush). Returns with
// mu_ held.
void WalImpl::fail_queued_locked(Staging& fl) {
  Completion c;
  c.status = caller_error_locked();
  if (!failed_notified_) c.failure = failed_;
  failed_notified_ = true;
  c.pending.swap(fl.pending);
  c.queued_bytes = fl.used - fl.carry;
  std::memset(fl.buf.data() + fl.carry, 0, fl.used - fl.carry);
  fl.used = fl.carry;
  fl.records = fl.batches = 0;
  fl.sealed = false;
  fl.bulk_started = false;  // reaped by the caller
  fl.bulk_status = Status::Ok();
  std::vector<Completion> refused;
  admit_parked_locked(&refused);  // refuses every parked append after the failure
  mu_.unlock();
  hand_off(std::move(c), &fl.pending);  // fl.pending is touched under mu_ only here
  hand_off_refused(&refused);
  mu_.lock();
}

// Makes the other staging buffer the fill buffer, continuing where `fl` ends
// (or in the spare segment when `fl` is sealed).
WalImpl::Recarry WalImpl::swap_buffers_locked(Staging& fl) {
  Staging& nx = bufs_[1 - fill_];
  prepare_next_locked(fl, nx);
  // An encrypted flush is sealed after nx copied its last page as the carry:
  // that copy is redone from the sealed bytes (appenders write nx only at and
  // after its carry, and nx is flushed after fl).
  Recarry r;
  if (fl.seg_key != nullptr && !fl.sealed && nx.carry > 0) {
    r.from = nx.base - fl.base;
    r.len = nx.carry;
    r.to = nx.buf.data();
  }
  fill_ = 1 - fill_;
  return r;
}

void WalImpl::prepare_next_locked(Staging& fl, Staging& nx) {
  SW_ASSERT(!nx.bulk_started && nx.pending.empty());
  nx.sealed = false;
  nx.records = 0;
  nx.batches = 0;
  nx.first_lsn = 0;
  nx.last_lsn = 0;
  if (fl.sealed) {
    SW_ASSERT(spare_ready_);
    const format::Preamble& p = spare_preamble_;
    SW_ASSERT(p.segment_id == spare_id_);
    nx.base = 0;
    format::encode_preamble(p, nx.buf.data());
    nx.carry = format::records_offset(p);
    nx.seg_key = spare_key_;
    nx.used = nx.carry;
    nx.segment_id = spare_id_;
    nx.segment_bytes = opts_.segment_bytes;
    nx.path = join_path(dir_, format::segment_file_name(next_lsn_));
    nx.spare_path = spare_path_;
    nx.new_segment = true;
    spare_ready_ = false;
    spare_wanted_ = true;
    prep_cv_.notify_one();
    Segment seg;
    seg.first_lsn = next_lsn_;
    seg.id = spare_id_;
    seg.path = nx.path;
    seg.size = opts_.segment_bytes;
    seg.preamble = p;
    {
      MutexLock t(table_mu_);
      segs_.push_back(std::move(seg));
    }
    index_empty_ = true;
    last_index_offset_ = 0;
    return;
  }
  const uint64_t end = fl.base + fl.used;
  nx.base = format::round_down(end, align_);
  nx.carry = end - nx.base;
  if (nx.carry > 0) std::memcpy(nx.buf.data(), fl.buf.data() + (nx.base - fl.base), nx.carry);
  nx.used = nx.carry;
  nx.segment_id = fl.segment_id;
  nx.segment_bytes = fl.segment_bytes;
  nx.path = fl.path;
  nx.seg_key = fl.seg_key;
  nx.spare_path.clear();
  nx.new_segment = false;
}

// Everything between the swap and the sync, without mu_: zero the last
// page's tail, seal, roll into the new segment, write, feed the tail window.
// The sync is the caller's (flush_fill_buffer_locked), once it has decided
// whether the next group starts now.
WalImpl::FlushResult WalImpl::write_flush(Staging& fl, const Recarry& recarry) {
  FlushResult r;
  // Bytes past `used` are stale from earlier turns; the rest of the last page
  // goes to disk (and into the double-write slot) as zeros. A started bulk
  // was zeroed by start_bulk, and its bytes are not touched while it runs.
  if (!fl.bulk_started) {
    std::memset(fl.buf.data() + fl.used, 0, format::round_up(fl.used, align_) - fl.used);
  }
  if (fl.records == 0) return r;  // a sealing pass: nothing to write
  TailWindow::Prepared tail_chunk;
  if (fl.seg_key != nullptr) r.status = seal_flush(fl, recarry, &tail_chunk);
  if (!r.status.ok()) return r;
  if (fl.new_segment) r.status = roll_to(fl);
  r.started = std::chrono::steady_clock::now();
  if (r.status.ok()) r.status = write_pages(fl, &r.dwb_bytes);
  // The window serves no LSN above the durable one (TailWindow::read), so
  // publishing before the sync shows nothing early; it must happen before
  // the buffer is handed back (take_flushed), which may be before the sync.
  if (r.status.ok()) publish_to_tail(fl, std::move(tail_chunk));
  return r;
}

// Encrypts the flush's records in place. The tail window keeps the
// plaintext (prepared here, published once durable); the disk gets only
// ciphertext.
Status WalImpl::seal_flush(Staging& fl, const Recarry& recarry, TailWindow::Prepared* tail_chunk) {
  *tail_chunk =
      tail_.prepare(fl.first_lsn, fl.last_lsn,
                    std::span<const uint8_t>(fl.buf.data() + fl.carry, fl.used - fl.carry),
                    kTagBytes);
  Status st = seal_records(seal_cipher_, *fl.seg_key, fl.segment_id, fl.buf.data() + fl.carry,
                           fl.used - fl.carry);
  if (recarry.len > 0) std::memcpy(recarry.to, fl.buf.data() + recarry.from, recarry.len);
  return st;
}

Status WalImpl::roll_to(const Staging& s) {
  // The spare becomes part of the log only once the directory is synced; no
  // record is written into it before that (docs/format.md "Directory").
  SIDEWAL_RETURN_IF_ERROR(io_->rename(s.spare_path, s.path));
  SIDEWAL_RETURN_IF_ERROR(io_->sync_dir(dir_));
  OpenOptions o;
  o.direct = true;
  o.dsync = opts_.sync_mode == SyncMode::kODsync;
  Result<FileHandle> f = io_->open(s.path, o);
  if (!f.ok()) return f.status();
  Status cst = io_->close(write_fd_);
  write_fd_ = *f;
  {
    MutexLock t(table_mu_);
    for (auto it = segs_.rbegin(); it != segs_.rend(); ++it) {
      if (it->path == s.path) {
        it->on_disk = true;
        break;
      }
    }
  }
  return cst;
}

// The one place a flush's pages reach the file (without the sync, which the
// caller issues). With the double-write buffer a flush whose last page is
// partly filled also copies that page (its new image) into slot
// dwb_next_slot_, under the same sync: the next flush rewrites that page,
// and while it does so the copy is durable and in the slot that flush does
// not write (docs/format.md "Double-write buffer"). A flush whose bulk was
// started (overlapped) writes its first page here, once the bulk is done.
Status WalImpl::write_pages(const Staging& s, uint64_t* dwb_bytes) {
  *dwb_bytes = 0;
  const size_t len = format::round_up(s.used, align_);
  SW_ASSERT(s.base % align_ == 0 && s.base + len <= dwb::records_end(s.segment_bytes, align_));
  size_t now = len;  // written here, from s.base
  if (s.bulk_started) {
    SW_ASSERT(!s.new_segment && len > align_);
    SIDEWAL_RETURN_IF_ERROR(s.bulk_status);
    SIDEWAL_RETURN_IF_ERROR(io_->finish_writes());
    now = align_;
  }
  // A new segment was created with page 0's copy in slot 1.
  if (s.new_segment) dwb_next_slot_ = 0;
  const size_t tail = s.used % align_;  // bytes of the partly filled last page; 0: full
  if (!opts_.dwb || tail == 0) {
    // A full last page is never rewritten: nothing to copy.
    return io_->write(write_fd_, s.base, s.buf.data(), now);
  }
  dwb::SlotHeader h;
  h.segment_id = s.segment_id;
  h.target = s.base + len - align_;
  h.seq = s.last_lsn;
  h.page_bytes = static_cast<uint32_t>(align_);
  h.image_bytes = static_cast<uint32_t>(tail);
  const size_t slot_len =
      dwb::encode_slot(h, s.buf.data() + (len - align_), align_, dwb_slot_.data());
  const uint64_t slot_off = dwb::slot_offset(s.segment_bytes, align_, dwb_next_slot_);
  Status st;
  if (opts_.sync_mode == SyncMode::kODsync) {
    st = io_->write(write_fd_, s.base, s.buf.data(), now);
    if (st.ok()) st = io_->write(write_fd_, slot_off, dwb_slot_.data(), slot_len);
  } else {
    st = io_->write2(write_fd_, s.base, s.buf.data(), now, slot_off, dwb_slot_.data(), slot_len);
  }
  if (!st.ok()) return st;
  dwb_next_slot_ ^= 1;
  *dwb_bytes = slot_len;
  return Status::Ok();
}

// Followers near the head read these records from memory from now on.
void WalImpl::publish_to_tail(const Staging& fl, TailWindow::Prepared&& tail_chunk) {
  if (fl.seg_key != nullptr) {
    tail_.publish(std::move(tail_chunk));
  } else {
    tail_.add_flush(fl.first_lsn, fl.last_lsn,
                    std::span<const uint8_t>(fl.buf.data() + fl.carry, fl.used - fl.carry));
  }
}

// Takes what the outcome needs out of a written buffer and resets it for
// its next turn as the fill buffer: its callbacks (`fl.pending` gets the
// token's spare vector), counts and LSNs. Its bytes are not cleared (a flush
// of large records is megabytes): each turn zeroes its own last page's tail
// (write_flush, start_bulk), and every record encodes its own padding.
WalImpl::Completion WalImpl::take_flushed(Staging& fl) {
  Completion c;
  c.pending.swap(fl.pending);
  fl.pending.swap(spare_pending_);
  SW_ASSERT(fl.pending.empty());
  c.queued_bytes = fl.used - fl.carry;
  c.written = format::round_up(fl.used, align_);
  c.durable = fl.last_lsn;
  c.records = fl.records;
  c.batches = fl.batches;
  fl.used = fl.carry = 0;
  fl.records = fl.batches = 0;
  fl.sealed = fl.new_segment = false;
  fl.bulk_started = false;
  fl.bulk_status = Status::Ok();
  return c;
}

// Records the outcome (durable LSN, or fail-stop) in `c` (from
// take_flushed), hands the callbacks to the completer or claims their
// delivery (true: *claimed, for deliver_claimed once the token is given
// back). `overlapped`: the next group is already being written (its
// callbacks come right behind these). Called and returns with mu_ held.
bool WalImpl::finish_flush_locked(Completion c, FlushResult r, Completion* claimed,
                                  bool overlapped) {
  if (r.status.ok()) {
    if (c.records > 0) {
      durable_lsn_.store(c.durable, std::memory_order_release);
      flushed_bytes_ += c.queued_bytes;
      ++flush_count_;
    }
  } else {
    enter_failed_locked(r.status);
    if (!failed_notified_) c.failure = r.status;
    failed_notified_ = true;
  }
  c.status = r.status.ok() ? Status::Ok() : caller_error_locked();
  std::vector<Completion> refused;
  if (!r.status.ok()) admit_parked_locked(&refused);  // refuses every parked append
  const Staging& next = bufs_[fill_];
  const bool next_flush_waiting = overlapped || next.records > 0 || next.sealed || !refused.empty();
  const bool lone = r.status.ok() && c.batches == 1 && !next_flush_waiting && parked_.empty();
  lone_flushes_ = lone ? lone_flushes_ + 1 : 0;
  mu_.unlock();
  c.dwb_bytes = r.dwb_bytes;
  c.seconds = r.seconds;
  const bool deliver = claim_delivery(c, &spare_pending_, next_flush_waiting);
  if (deliver) *claimed = std::move(c);
  hand_off_refused(&refused);
  mu_.lock();
  return deliver;
}

}  // namespace sidewal::wal
