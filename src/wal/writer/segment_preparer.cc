// The segment preparer: creates the next segment (a zero-filled, synced
// `.spare` with its preamble and, with the double-write buffer, page 0's
// copy) ahead of time on its own thread, so a rollover costs the flusher a
// rename and a directory fsync only. docs/format.md "Directory".
#include "wal/codecs/format.h"
#include "wal/dwb.h"
#include "wal/segment_file.h"
#include "wal/wal_impl.h"

namespace sidewal::wal {

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

ZeroFill WalImpl::zero_fill_for_spare_locked() {
  const uint64_t flushes = flush_count_ - flush_count_at_spare_;
  const uint64_t bytes = flushed_bytes_ - flushed_bytes_at_spare_;
  flush_count_at_spare_ = flush_count_;
  flushed_bytes_at_spare_ = flushed_bytes_;
  switch (opts_.preallocation) {
    case WalOptions::Preallocation::kWrite: return ZeroFill::kWrite;
    case WalOptions::Preallocation::kReserve: return ZeroFill::kReserve;
    case WalOptions::Preallocation::kAuto: break;
  }
  // Small flushes (the common case) keep written zeros: their fdatasync
  // stays a bare cache flush (fio on this class of disk: ~2x the flushes/s of
  // a file with unwritten extents). Large flushes are bandwidth-bound, and
  // writing the zeros first would double the bytes the device takes.
  return flushes > 0 && bytes / flushes >= kReserveFlushBytes ? ZeroFill::kReserve
                                                              : ZeroFill::kWrite;
}

void WalImpl::preparer_loop() {
  MutexLock lk(mu_);
  for (;;) {
    prep_cv_.wait(mu_, [&]() REQUIRES(mu_) {
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
    // The parked appends that waited for this answer go on: into the new
    // segment (the fill buffer is sealed for it), NoSpace, or fail-stop.
    std::vector<Completion> refused;
    admit_parked_locked(&refused);
    if (!refused.empty()) {
      lk.unlock();
      hand_off_refused(&refused);
      lk.lock();
    }
  }
}

}  // namespace sidewal::wal
