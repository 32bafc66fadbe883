// append(): validates a batch, then under mu_ copies it into the fill
// staging buffer, assigns its LSNs and queues its callback for the flusher
// (flusher.cc).
//
// append() never waits for the engine: a batch that cannot go into the fill
// buffer now (the buffer is sealed for a rollover or full while the flusher
// writes the other one, or the batch needs the next segment and the preparer
// has not made it yet) is parked with a copy of its records and admitted in
// call order when the flusher swaps buffers or the preparer answers
// (admit_parked_locked). The one wait left is the caller's own backpressure:
// above WalOptions::max_pending_bytes append() waits for acknowledgements
// (the daemon sets no bound and bounds its in-flight bytes itself, so an
// Asio thread never waits here). With WalOptions::caller_flushes an append
// that finds the flusher idle leads one flush on its own thread
// (lead_flush_locked); that is device I/O, not a wait for another thread.
#include <algorithm>
#include <cstring>

#include "wal/codecs/format.h"
#include "wal/dwb.h"
#include "wal/wal_impl.h"

namespace sidewal::wal {
namespace {

// mu_ is held for a few hundred nanoseconds per batch (copy + CRC of small
// records), so under many appenders a short spin before sleeping avoids most
// futex round trips; a holder that is descheduled still lets waiters sleep.
// Otherwise a MutexLock: held to the end of the scope unless unlock()ed.
class SCOPED_CAPABILITY SpinThenLock {
 public:
  explicit SpinThenLock(Mutex& mu) ACQUIRE(mu) : mu_(mu) {
    for (int i = 0; i < 64; ++i) {
      if (mu_.try_lock()) return;
#if defined(__x86_64__)
      __builtin_ia32_pause();
#endif
    }
    mu_.lock();
  }
  ~SpinThenLock() RELEASE() {
    if (locked_) mu_.unlock();
  }
  SpinThenLock(const SpinThenLock&) = delete;
  SpinThenLock& operator=(const SpinThenLock&) = delete;

  void unlock() RELEASE() {
    mu_.unlock();
    locked_ = false;
  }

 private:
  Mutex& mu_;
  bool locked_ = true;
};

}  // namespace

void WalImpl::append_batch(std::span<const RecordIn> records, AppendCallback done, bool may_lead) {
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

  SpinThenLock lk(mu_);
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
    if (pending_bytes_ > 0 && pending_bytes_ + bytes > opts_.max_pending_bytes) {
      space_cv_.wait(mu_);
      continue;
    }
    break;
  }
  pending_bytes_ += bytes;
  uint64_t asked_at_attempt = kNotAsked;
  if (parked_.empty()) {
    Status unused;
    if (place_locked(bytes, &asked_at_attempt, &unused) == Placement::kFits) {
      encode_batch_locked(records, std::move(done));
      // The token's holder (the flusher, or a leader) hands this group on.
      if (flushing_) return;
      if (opts_.caller_flushes && may_lead && lone_flushes_ >= kLoneFlushesToLead) {
        lead_flush_locked();  // this thread writes and syncs the group
        return;
      }
      // A flusher that is not idle is delivering and comes back for it.
      if (flusher_idle_) flush_cv_.notify_one();
      return;
    }
  }
  // Behind earlier parked batches (call order is LSN order), or it must wait.
  park_locked(records, bytes, std::move(done), asked_at_attempt);
}

WalImpl::Placement WalImpl::place_locked(uint64_t bytes, uint64_t* asked_at_attempt,
                                         Status* refused) {
  Staging& f = bufs_[fill_];
  if (f.sealed || f.used + bytes > staging_bytes_ - align_) return Placement::kWait;
  if (f.base + f.used + bytes <= dwb::records_end(f.segment_bytes, align_)) return Placement::kFits;
  // The batch starts the next segment (batches never span segments).
  if (spare_ready_) {
    f.sealed = true;
    flush_cv_.notify_one();
    return Placement::kWait;
  }
  if (*asked_at_attempt == kNotAsked) {
    // Ask the preparer (again, after an ENOSPC) and wait for its answer.
    *asked_at_attempt = spare_attempts_;
    spare_wanted_ = true;
    prep_cv_.notify_one();
  } else if (spare_attempts_ > *asked_at_attempt && !spare_status_.ok()) {
    // Creating the next segment ran out of space: this append gets NoSpace
    // and the log stays up; the next append that needs the new segment
    // retries the creation, so appends resume when space returns.
    *refused = Status::NoSpace(
        "segment " + f.path +
        " is full and the next segment could not be created: " + spare_status_.ToString());
    return Placement::kRefused;
  }
  return Placement::kWait;
}

void WalImpl::park_locked(std::span<const RecordIn> records, uint64_t bytes, AppendCallback&& done,
                          uint64_t asked_at_attempt) {
  Parked& p = parked_.emplace_back();
  size_t payload_bytes = 0;
  for (const RecordIn& r : records) payload_bytes += r.payload.size();
  p.payloads.resize(payload_bytes);
  p.records.assign(records.begin(), records.end());
  size_t at = 0;
  for (RecordIn& r : p.records) {
    if (!r.payload.empty()) std::memcpy(p.payloads.data() + at, r.payload.data(), r.payload.size());
    r.payload = std::span<const uint8_t>(p.payloads.data() + at, r.payload.size());
    at += r.payload.size();
  }
  p.bytes = bytes;
  p.done = std::move(done);
  p.asked_at_attempt = asked_at_attempt;
}

void WalImpl::admit_parked_locked(std::vector<Completion>* refused) {
  bool admitted = false;
  while (!parked_.empty()) {
    Parked& p = parked_.front();
    Status why;
    if (!failed_.ok()) {
      why = caller_error_locked();
    } else if (closing_) {
      why = Status::Closed("the log is closed");
    } else {
      const Placement where = place_locked(p.bytes, &p.asked_at_attempt, &why);
      if (where == Placement::kWait) break;
      if (where == Placement::kFits) {
        encode_batch_locked(p.records, std::move(p.done));
        admitted = true;
        parked_.pop_front();
        continue;
      }
    }
    // Refused: the completer runs its callback and releases its bytes.
    Completion c;
    c.status = std::move(why);
    c.pending.push_back(Pending{std::move(p.done), 0});
    c.queued_bytes = p.bytes;
    refused->push_back(std::move(c));
    parked_.pop_front();
  }
  if (admitted && flusher_idle_) flush_cv_.notify_one();
}

void WalImpl::hand_off_refused(std::vector<Completion>* refused) {
  std::vector<Pending> scratch;
  for (Completion& c : *refused) hand_off(std::move(c), &scratch);
  refused->clear();
}

void WalImpl::encode_batch_locked(std::span<const RecordIn> records, AppendCallback&& done) {
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
      MutexLock t(table_mu_);
      segs_.back().index.push_back({lsn, offset});
      last_index_offset_ = offset;
      index_empty_ = false;
    }
    if (f.seg_key != nullptr) {
      // Plaintext plus room for the tag; the flusher seals it (flags are
      // final here: FLUSH_START and BATCH_END are known at encoding).
      f.used +=
          encode_record_for_sealing(lsn, r.type, flags, r.tenant, r.payload, f.buf.data() + f.used);
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
  next_lsn_ = lsn;
}

}  // namespace sidewal::wal
