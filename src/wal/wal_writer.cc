// The write side of WalImpl: append(), the flusher (group commit), the
// preparer (next segment ahead of time), rollover and fail-stop.
#include <algorithm>
#include <chrono>
#include <cstring>

#include "wal/codecs/format.h"
#include "wal/dwb.h"
#include "wal/segment_file.h"
#include "wal/wal_impl.h"

namespace sidewal::wal {
namespace {

// A staging buffer holds the largest batch plus the carried page and the
// rounding of its last page. A batch never exceeds a segment, so small
// segments (tests) get small buffers.
size_t staging_capacity(uint64_t max_record_bytes, uint64_t segment_bytes, size_t align) {
  uint64_t batch = std::max<uint64_t>(4u << 20, 2 * format::record_bytes(max_record_bytes));
  batch = std::min<uint64_t>(batch, segment_bytes);
  return format::round_up(batch + 2 * align, align);
}

// mu_ is held for a few hundred nanoseconds per batch (copy + CRC of small
// records), so under many appenders a short spin before sleeping avoids most
// futex round trips; a holder that is descheduled still lets waiters sleep.
void lock_briefly_spinning(std::unique_lock<std::mutex>& lk) {
  for (int i = 0; i < 64; ++i) {
    if (lk.try_lock()) return;
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
  }
  lk.lock();
}

}  // namespace

WalImpl::WalImpl(const WalOptions& options, std::shared_ptr<IoBackend> io, size_t alignment)
    : opts_(options),
      io_owner_(std::move(io)),
      io_(io_owner_.get()),
      dir_(options.dir),
      align_(alignment),
      keys_(std::make_shared<SegmentKeys>(options.keys)),
      encrypt_(keys_->encrypts()),
      tag_bytes_(encrypt_ ? kTagBytes : 0),
      staging_bytes_(staging_capacity(uint64_t{options.max_record_bytes} + tag_bytes_,
                                      options.segment_bytes, alignment)),
      max_batch_bytes_(std::min<uint64_t>(
          staging_bytes_ - 2 * alignment,
          dwb::records_end(options.segment_bytes, alignment) -
              format::preamble_bytes(encrypt_ ? format::kCipherAes256Gcm : format::kCipherNone))) {
  for (Staging& s : bufs_) s.buf.reset(align_, staging_bytes_);
  dwb_slot_.reset(align_, dwb::kSlotPages * align_);
}

WalImpl::~WalImpl() { (void)close(); }

Status WalImpl::new_segment_preamble(uint64_t id, format::Preamble* p,
                                     std::shared_ptr<const SecureKey>* key) {
  key->reset();
  if (!encrypt_) {
    *p = format::Preamble{};
    p->segment_id = id;
    return Status::Ok();
  }
  SIDEWAL_RETURN_IF_ERROR(keys_->new_preamble(id, p));
  Result<std::shared_ptr<const SecureKey>> k =
      keys_->segment_key(*p, join_path(dir_, format::spare_file_name(id)));
  if (!k.ok()) return k.status();
  *key = std::move(*k);
  return Status::Ok();
}

Status WalImpl::start(const DirScan& scan) {
  uint64_t next_id = scan.max_segment_id + 1;
  uint64_t pos = 0;
  std::shared_ptr<const SecureKey> active_key;
  {
    std::lock_guard<std::mutex> t(table_mu_);
    for (size_t i = 0; i < scan.keep_segments; ++i) {
      const SegmentScan& s = scan.segments[i];
      Segment seg;
      seg.first_lsn = s.first_lsn;
      seg.id = s.preamble.segment_id;
      seg.path = s.path;
      seg.size = s.file_size;
      seg.preamble = s.preamble;
      seg.on_disk = true;
      for (const IndexEntry& e : s.index) {
        if (e.lsn < scan.next_lsn) seg.index.push_back(e);
      }
      segs_.push_back(std::move(seg));
    }
  }
  // Appends go into a new segment when the log is fresh, and after every
  // open of a log that encrypts or whose last segment is encrypted: a
  // segment takes records from one process lifetime only, so no
  // (segment key, nonce) pair is ever used twice (docs/encryption.md rule 2).
  // An empty last segment is replaced (same name, new salt), never reused:
  // recovery may have cut records that were sealed in it.
  bool start_new = scan.keep_segments == 0;
  bool replace_last = false;
  if (!start_new) {
    const SegmentScan& last = scan.segments[scan.keep_segments - 1];
    start_new = encrypt_ || last.preamble.cipher != format::kCipherNone;
    replace_last = start_new && scan.cut_offset == format::records_offset(last.preamble);
    pos = scan.cut_offset;
  }
  if (start_new) {
    // Born like every other segment, as a spare renamed into place.
    format::Preamble p;
    SIDEWAL_RETURN_IF_ERROR(new_segment_preamble(next_id, &p, &active_key));
    std::string spare = join_path(dir_, format::spare_file_name(next_id));
    SIDEWAL_RETURN_IF_ERROR(create_spare_segment(
        io_, spare, p, opts_.segment_bytes, align_,
        opts_.preallocation == WalOptions::Preallocation::kReserve ? ZeroFill::kReserve
                                                                   : ZeroFill::kWrite));
    std::string path = join_path(dir_, format::segment_file_name(scan.next_lsn));
    SIDEWAL_RETURN_IF_ERROR(io_->rename(spare, path));
    SIDEWAL_RETURN_IF_ERROR(io_->sync_dir(dir_));
    Segment seg;
    seg.first_lsn = scan.next_lsn;
    seg.id = next_id++;
    seg.path = path;
    seg.size = opts_.segment_bytes;
    seg.preamble = p;
    seg.on_disk = true;
    pos = format::records_offset(p);
    std::lock_guard<std::mutex> t(table_mu_);
    if (replace_last) {
      SW_ASSERT(segs_.back().path == path);
      segs_.back() = std::move(seg);
    } else {
      segs_.push_back(std::move(seg));
    }
  }

  const Segment& active = segs_.back();
  OpenOptions o;
  o.direct = true;
  o.dsync = opts_.sync_mode == SyncMode::kODsync;
  Result<FileHandle> f = io_->open(active.path, o);
  if (!f.ok()) return f.status();
  write_fd_ = *f;

  Staging& fill = bufs_[0];
  fill.base = format::round_down(pos, align_);
  fill.carry = pos - fill.base;
  fill.used = fill.carry;
  if (fill.carry > 0) {
    size_t got = 0;
    SIDEWAL_RETURN_IF_ERROR(io_->read(write_fd_, fill.base, fill.buf.data(), align_, &got));
    if (got != align_) {
      return Status::IoError("short read of the last page of " + active.path + " at offset " +
                             std::to_string(fill.base));
    }
    std::memset(fill.buf.data() + fill.carry, 0, align_ - fill.carry);
  }
  // The double-write invariant from the first flush on: slot 0 holds the
  // durable copy of the page the first flush rewrites, slot 1 nothing (no
  // stale copy from before a crash or a cut survives this).
  SIDEWAL_RETURN_IF_ERROR(dwb::reset_slots_at_open(io_, write_fd_, active.path, active.size,
                                                   align_, active.id, opts_.dwb, fill.base,
                                                   fill.buf.data(), fill.carry,
                                                   scan.next_lsn - 1, &dwb_next_slot_));
  fill.segment_id = active.id;
  fill.segment_bytes = active.size;
  fill.path = active.path;
  fill.seg_key = active_key;
  index_empty_ = active.index.empty();
  last_index_offset_ = active.index.empty() ? 0 : active.index.back().offset;

  next_lsn_ = scan.next_lsn;
  next_segment_id_ = next_id;
  durable_lsn_.store(scan.next_lsn - 1, std::memory_order_release);
  spare_wanted_ = true;
  state_.store(static_cast<uint8_t>(LogState::kReady));
  flusher_ = std::thread([this] { flusher_loop(); });
  completer_ = std::thread([this] { completer_loop(); });
  preparer_ = std::thread([this] { preparer_loop(); });
  return Status::Ok();
}

// ---- append ---------------------------------------------------------------

void WalImpl::append(std::span<const RecordIn> records, AppendCallback done) {
  if (records.empty()) {
    done(Status::InvalidArgument("append of an empty batch"), 0);
    return;
  }
  uint64_t bytes = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    const RecordIn& r = records[i];
    if (r.flags != 0) {
      done(Status::InvalidArgument("record " + std::to_string(i) + " of the batch has flags 0x" +
                                   std::to_string(r.flags) + "; the log owns the flag bits"),
           0);
      return;
    }
    if (r.payload.size() > opts_.max_record_bytes) {
      done(Status::InvalidArgument("record " + std::to_string(i) + " of the batch has " +
                                   std::to_string(r.payload.size()) +
                                   " payload bytes, above max_record_bytes " +
                                   std::to_string(opts_.max_record_bytes)),
           0);
      return;
    }
    bytes += format::record_bytes(r.payload.size() + tag_bytes_);
  }
  if (bytes > max_batch_bytes_) {
    done(Status::InvalidArgument("batch of " + std::to_string(records.size()) + " records is " +
                                 std::to_string(bytes) + " bytes encoded, above the " +
                                 std::to_string(max_batch_bytes_) + "-byte batch limit"),
         0);
    return;
  }

  std::unique_lock<std::mutex> lk(mu_, std::defer_lock);
  lock_briefly_spinning(lk);
  uint64_t asked_at_attempt = UINT64_MAX;  // spare_attempts_ when this append asked for a spare
  for (;;) {
    if (!failed_.ok()) {
      Status err = caller_error_locked();
      lk.unlock();
      done(err, 0);
      return;
    }
    if (closing_) {
      lk.unlock();
      done(Status::Closed("the log is closed"), 0);
      return;
    }
    Staging& f = bufs_[fill_];
    if (f.sealed || (pending_bytes_ > 0 && pending_bytes_ + bytes > opts_.max_pending_bytes) ||
        f.used + bytes > staging_bytes_ - align_) {
      space_cv_.wait(lk);
      continue;
    }
    if (f.base + f.used + bytes > dwb::records_end(f.segment_bytes, align_)) {
      // The batch starts the next segment (batches never span segments).
      if (spare_ready_) {
        f.sealed = true;
        flush_cv_.notify_one();
        space_cv_.wait(lk);
        continue;
      }
      if (asked_at_attempt == UINT64_MAX) {
        // Ask the preparer (again, after an ENOSPC) and wait for its answer.
        asked_at_attempt = spare_attempts_;
        spare_wanted_ = true;
        prep_cv_.notify_one();
      } else if (spare_attempts_ > asked_at_attempt && !spare_status_.ok()) {
        // Creating the next segment ran out of space: this append gets
        // NoSpace and the log stays up; the next append that needs the new
        // segment retries the creation, so appends resume when space returns.
        Status err = Status::NoSpace("segment " + f.path +
                                     " is full and the next segment could not be created: " +
                                     spare_status_.ToString());
        lk.unlock();
        done(err, 0);
        return;
      }
      space_cv_.wait(lk);
      continue;
    }
    break;
  }
  encode_batch_locked(records, bytes, std::move(done));
  if (flusher_idle_) flush_cv_.notify_one();
}

void WalImpl::encode_batch_locked(std::span<const RecordIn> records, uint64_t bytes,
                                  AppendCallback&& done) {
  Staging& f = bufs_[fill_];
  const uint64_t first = next_lsn_;
  uint64_t lsn = first;
  for (size_t i = 0; i < records.size(); ++i, ++lsn) {
    const RecordIn& r = records[i];
    uint16_t flags = 0;
    if (f.records == 0 && i == 0) flags |= format::kFlagFlushStart;
    if (i + 1 == records.size()) flags |= format::kFlagBatchEnd;
    const uint64_t offset = f.base + f.used;
    if (index_empty_ || offset - last_index_offset_ >= format::kIndexIntervalBytes) {
      std::lock_guard<std::mutex> t(table_mu_);
      segs_.back().index.push_back({lsn, offset});
      last_index_offset_ = offset;
      index_empty_ = false;
    }
    if (f.seg_key != nullptr) {
      // Plaintext plus room for the tag; the flusher seals it (flags are
      // final here: FLUSH_START and BATCH_END are known at encoding).
      f.used += encode_record_for_sealing(lsn, r.type, flags, r.tenant, r.payload,
                                          f.buf.data() + f.used);
    } else {
      f.used += format::encode_record(f.segment_id, lsn, r.type, flags, r.tenant, r.payload,
                                      f.buf.data() + f.used);
    }
  }
  if (f.records == 0) f.first_lsn = first;
  f.last_lsn = lsn - 1;
  f.records += static_cast<uint32_t>(records.size());
  f.batches += 1;
  f.pending.push_back(Pending{std::move(done), first});
  pending_bytes_ += bytes;
  next_lsn_ = lsn;
}

// ---- flusher --------------------------------------------------------------

void WalImpl::prepare_next_locked(Staging& fl, Staging& nx) {
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
      std::lock_guard<std::mutex> t(table_mu_);
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
    std::lock_guard<std::mutex> t(table_mu_);
    for (auto it = segs_.rbegin(); it != segs_.rend(); ++it) {
      if (it->path == s.path) {
        it->on_disk = true;
        break;
      }
    }
  }
  return cst;
}

// The one place a flush's pages reach the file. With the double-write buffer
// a flush whose last page is partly filled also copies that page (its new
// image) into slot dwb_next_slot_, under the same sync: the next flush
// rewrites that page, and while it does so the copy is durable and in the
// slot that flush does not write (docs/format.md "Double-write buffer").
Status WalImpl::write_pages(const Staging& s, uint64_t* dwb_bytes) {
  *dwb_bytes = 0;
  const size_t len = format::round_up(s.used, align_);
  SW_ASSERT(s.base % align_ == 0 && s.base + len <= dwb::records_end(s.segment_bytes, align_));
  // A new segment was created with page 0's copy in slot 1.
  if (s.new_segment) dwb_next_slot_ = 0;
  const size_t tail = s.used % align_;  // bytes of the partly filled last page; 0: full
  const bool odsync = opts_.sync_mode == SyncMode::kODsync;
  if (!opts_.dwb || tail == 0) {
    // A full last page is never rewritten: nothing to copy.
    if (odsync) return io_->write(write_fd_, s.base, s.buf.data(), len);
    return io_->write_and_sync(write_fd_, s.base, s.buf.data(), len);
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
  if (odsync) {
    st = io_->write(write_fd_, s.base, s.buf.data(), len);
    if (st.ok()) st = io_->write(write_fd_, slot_off, dwb_slot_.data(), slot_len);
  } else {
    st = io_->write2_and_sync(write_fd_, s.base, s.buf.data(), len, slot_off, dwb_slot_.data(),
                              slot_len);
  }
  if (!st.ok()) return st;
  dwb_next_slot_ ^= 1;
  *dwb_bytes = slot_len;
  return Status::Ok();
}

void WalImpl::flusher_loop() {
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    flusher_idle_ = true;
    flush_cv_.wait(lk, [&] {
      const Staging& f = bufs_[fill_];
      return f.records > 0 || f.sealed || closing_ || (!failed_.ok() && !failed_notified_);
    });
    flusher_idle_ = false;
    Staging& fl = bufs_[fill_];
    if (!failed_.ok()) {
      // Fail everything still queued; nothing is written after a failure
      // (which may have come from the preparer, not from a flush).
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
      lk.unlock();
      hand_off(std::move(c), &fl.pending);  // fl.pending is touched under mu_ only here
      lk.lock();
      if (closing_ && bufs_[fill_].records == 0) break;
      continue;
    }
    if (fl.records == 0 && !fl.sealed) break;  // closing, nothing left

    Staging& nx = bufs_[1 - fill_];
    prepare_next_locked(fl, nx);
    // An encrypted flush is sealed below, after nx copied its last page as
    // the carry: that copy is redone from the sealed bytes (appenders write
    // nx only at and after its carry, and nx is flushed after fl).
    const bool recarry = fl.seg_key != nullptr && !fl.sealed && nx.carry > 0;
    const size_t recarry_from = recarry ? nx.base - fl.base : 0;
    const size_t recarry_len = recarry ? nx.carry : 0;
    uint8_t* const recarry_to = nx.buf.data();
    fill_ = 1 - fill_;
    space_cv_.notify_all();
    lk.unlock();

    // `fl` now belongs to this thread alone until it becomes the fill buffer again.
    // Its bytes past `used` are stale from earlier turns; the rest of the last
    // page goes to disk (and into the double-write slot) as zeros.
    std::memset(fl.buf.data() + fl.used, 0, format::round_up(fl.used, align_) - fl.used);
    Status st;
    double seconds = 0;
    uint64_t dwb_bytes = 0;
    TailWindow::Prepared tail_chunk;
    if (fl.records > 0 && fl.seg_key != nullptr) {
      // The tail window keeps the plaintext; the disk gets only ciphertext.
      tail_chunk = tail_.prepare(
          fl.first_lsn, fl.last_lsn,
          std::span<const uint8_t>(fl.buf.data() + fl.carry, fl.used - fl.carry), kTagBytes);
      st = seal_records(seal_cipher_, *fl.seg_key, fl.segment_id, fl.buf.data() + fl.carry,
                        fl.used - fl.carry);
      if (recarry) std::memcpy(recarry_to, fl.buf.data() + recarry_from, recarry_len);
    }
    if (fl.records > 0 && st.ok()) {
      if (fl.new_segment) st = roll_to(fl);
      auto t0 = std::chrono::steady_clock::now();
      if (st.ok()) st = write_pages(fl, &dwb_bytes);
      seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      // Followers near the head read these records from memory from now on.
      if (st.ok() && fl.seg_key != nullptr) {
        tail_.publish(std::move(tail_chunk));
      } else if (st.ok()) {
        tail_.add_flush(fl.first_lsn, fl.last_lsn,
                        std::span<const uint8_t>(fl.buf.data() + fl.carry, fl.used - fl.carry));
      }
    }

    Completion c;
    lk.lock();
    if (st.ok()) {
      if (fl.records > 0) {
        durable_lsn_.store(fl.last_lsn, std::memory_order_release);
        flushed_bytes_ += fl.used - fl.carry;
        ++flush_count_;
      }
    } else {
      enter_failed_locked(st);
      if (!failed_notified_) c.failure = st;
      failed_notified_ = true;
    }
    c.status = st.ok() ? Status::Ok() : caller_error_locked();
    lk.unlock();
    c.pending.swap(fl.pending);
    c.queued_bytes = fl.used - fl.carry;
    c.records = fl.records;
    c.batches = fl.batches;
    c.durable = fl.last_lsn;
    c.written = format::round_up(fl.used, align_);
    c.dwb_bytes = dwb_bytes;
    c.seconds = seconds;
    hand_off(std::move(c), &fl.pending);
    // Reset the buffer for its next turn as the fill buffer. Its bytes are not
    // cleared (a flush of large records is megabytes): each turn zeroes its
    // own last page's tail above, and every record encodes its own padding.
    fl.used = fl.carry = 0;
    fl.records = fl.batches = 0;
    fl.sealed = fl.new_segment = false;
    lk.lock();
  }
}

void WalImpl::hand_off(Completion&& c, std::vector<Pending>* refill) {
  std::lock_guard<std::mutex> g(complete_mu_);
  completions_.push_back(std::move(c));
  if (!spare_vectors_.empty()) {
    refill->swap(spare_vectors_.back());
    spare_vectors_.pop_back();
  }
  complete_cv_.notify_one();
}

// Runs callbacks, observers and listeners flush by flush, in LSN order, while
// the flusher already writes the next group.
void WalImpl::completer_loop() {
  std::unique_lock<std::mutex> lk(complete_mu_);
  for (;;) {
    complete_cv_.wait(lk, [&] { return !completions_.empty() || completer_stop_; });
    if (completions_.empty()) return;  // stopping, and everything delivered
    Completion c = std::move(completions_.front());
    completions_.pop_front();
    lk.unlock();
    // The flush is counted before any of its callbacks runs, so whoever sees
    // an acknowledgement also sees the flush that made it durable (metrics
    // never lag the ACKs they describe).
    const bool flushed = c.status.ok() && c.records > 0;
    if (flushed && opts_.observer) {
      if (c.dwb_bytes > 0) opts_.observer->on_dwb_write(c.dwb_bytes);
      opts_.observer->on_flush(c.records, c.batches, c.written, c.seconds);
    }
    for (Pending& p : c.pending) p.done(c.status, c.status.ok() ? p.first_lsn : 0);
    c.pending.clear();
    if (flushed) notify_listeners(c.durable);
    if (!c.failure.ok() && opts_.observer) opts_.observer->on_failed(c.failure);
    {
      // Queued bytes are released only once acknowledged, so max_pending_bytes
      // also bounds callbacks that have not run yet.
      std::lock_guard<std::mutex> g(mu_);
      pending_bytes_ -= c.queued_bytes;
      space_cv_.notify_all();
    }
    lk.lock();
    if (spare_vectors_.size() < 4) spare_vectors_.push_back(std::move(c.pending));
  }
}

void WalImpl::enter_failed_locked(const Status& why) {
  if (!failed_.ok()) return;
  failed_ = why;
  state_.store(static_cast<uint8_t>(LogState::kFailed));
  space_cv_.notify_all();
  flush_cv_.notify_one();
}

Status WalImpl::caller_error_locked() const {
  // The daemon maps kNoSpace to NO_SPACE and the rest to IO_FAILED; the
  // original code and message stay visible.
  std::string msg = "the log is fail-stopped after: " + failed_.ToString();
  if (failed_.code() == Code::kNoSpace) return Status::NoSpace(std::move(msg));
  return Status::Failed(std::move(msg));
}

void WalImpl::notify_listeners(uint64_t durable) {
  std::lock_guard<std::mutex> g(listeners_mu_);
  for (auto& [id, fn] : listeners_) fn(durable);
}

uint64_t WalImpl::add_durable_listener(std::function<void(uint64_t)> listener) {
  std::lock_guard<std::mutex> g(listeners_mu_);
  uint64_t id = next_listener_id_++;
  listeners_.emplace(id, std::move(listener));
  return id;
}

void WalImpl::remove_durable_listener(uint64_t id) {
  std::lock_guard<std::mutex> g(listeners_mu_);
  listeners_.erase(id);
}

// ---- preparer -------------------------------------------------------------

ZeroFill WalImpl::zero_fill_for_spare_locked() {
  const uint64_t flushes = flush_count_ - flush_count_at_spare_;
  const uint64_t bytes = flushed_bytes_ - flushed_bytes_at_spare_;
  flush_count_at_spare_ = flush_count_;
  flushed_bytes_at_spare_ = flushed_bytes_;
  switch (opts_.preallocation) {
    case WalOptions::Preallocation::kWrite:
      return ZeroFill::kWrite;
    case WalOptions::Preallocation::kReserve:
      return ZeroFill::kReserve;
    case WalOptions::Preallocation::kAuto:
      break;
  }
  // Small flushes (the common case) keep written zeros: their fdatasync
  // stays a bare cache flush (fio on this class of disk: ~2x the flushes/s of
  // a file with unwritten extents). Large flushes are bandwidth-bound, and
  // writing the zeros first would double the bytes the device takes.
  return flushes > 0 && bytes / flushes >= kReserveFlushBytes ? ZeroFill::kReserve
                                                              : ZeroFill::kWrite;
}

void WalImpl::preparer_loop() {
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    prep_cv_.wait(lk, [&] {
      return stopping_preparer_ || (spare_wanted_ && !spare_ready_ && failed_.ok());
    });
    if (stopping_preparer_) return;
    spare_wanted_ = false;
    const uint64_t id = next_segment_id_++;
    const ZeroFill fill = zero_fill_for_spare_locked();
    const std::string path = join_path(dir_, format::spare_file_name(id));
    lk.unlock();
    // A fresh salt (and segment key) for every segment file: rule 1 of
    // docs/encryption.md.
    format::Preamble p;
    std::shared_ptr<const SecureKey> key;
    Status st = new_segment_preamble(id, &p, &key);
    if (st.ok()) st = create_spare_segment(io_, path, p, opts_.segment_bytes, align_, fill);
    if (st.ok() && opts_.dwb) {
      // Page 0's copy, so the first flush into the segment may tear it.
      st = dwb::write_spare_slot(io_, path, p, opts_.segment_bytes, align_);
      if (!st.ok()) (void)io_->remove(path);  // best effort: a spare is never part of the log
    }
    lk.lock();
    ++spare_attempts_;
    if (st.ok()) {
      spare_ready_ = true;
      spare_id_ = id;
      spare_path_ = path;
      spare_preamble_ = p;
      spare_key_ = std::move(key);
      spare_status_ = Status::Ok();
    } else if (st.code() == Code::kNoSpace) {
      spare_status_ = st;  // not a data write: appends get NoSpace, no fail-stop
    } else {
      enter_failed_locked(st);
    }
    space_cv_.notify_all();
  }
}

Status WalImpl::close() {
  std::lock_guard<std::mutex> c(close_mu_);
  if (closed_) return Status::Ok();
  closed_ = true;
  {
    std::lock_guard<std::mutex> lk(mu_);
    closing_ = true;
    stopping_preparer_ = true;
    flush_cv_.notify_one();
    space_cv_.notify_all();
    prep_cv_.notify_one();
  }
  if (flusher_.joinable()) flusher_.join();
  {
    std::lock_guard<std::mutex> g(complete_mu_);
    completer_stop_ = true;
    complete_cv_.notify_one();
  }
  if (completer_.joinable()) completer_.join();
  if (preparer_.joinable()) preparer_.join();
  Status st;
  if (write_fd_ >= 0) {
    st = io_->close(write_fd_);
    write_fd_ = -1;
  }
  dir_lock_.reset();  // nothing of ours writes any more: the next writer may open
  std::lock_guard<std::mutex> lk(mu_);
  if (!failed_.ok()) return caller_error_locked();
  return st;
}

}  // namespace sidewal::wal
