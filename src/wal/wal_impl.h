// WalImpl: the engine behind wal.h, opened by Wal::open (wal.cc) after
// recovery; its life (start, fail-stop, close) is wal_impl.cc. The write side
// is writer/: append.cc, flusher.cc (group commit), completer.cc and
// segment_preparer.cc; reads and truncation are readers/wal_read.cc.
//
// Threads:
//   - appenders (any number) copy records into the fill staging buffer under
//     mu_, assign LSNs and queue their callback;
//   - one flusher takes the whole fill buffer, swaps in the other one (so the
//     next group fills while this one is written), issues ONE aligned write
//     and ONE sync, and hands the flush's callbacks to
//   - one completer, which runs them in LSN order, then the observer and the
//     durable listeners, while the flusher already writes the next group
//     (when no next group waits, the flusher runs them itself:
//     claim_delivery, then deliver_claimed once the flush token is given back);
//   - one preparer creates the next segment (.spare) ahead of time.
// One flush at a time: whoever holds the flush token (flushing_, under mu_)
// runs a flush turn. That is the flusher thread, or, with
// WalOptions::caller_flushes, an appender that finds the flusher idle and
// the token free (lead_flush_locked, the leader): it then swaps, writes,
// syncs and delivers on its own thread. What is "owned by the flusher
// thread" below is owned by the token holder. With overlapped flushes the
// flusher keeps the token from one turn to the next: the group it started
// under the previous sync (its Staging's bulk_started) is the one buffer
// not in the fill slot, and only the flusher writes or syncs it.
// Lock order: mu_ -> table_mu_ (ACQUIRED_BEFORE). complete_mu_,
// listeners_mu_ and truncate_mu_ are never held together with mu_. The lock
// rules are annotations clang's -Wthread-safety checks (common/mutex.h).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/mutex.h"
#include "wal/codecs/record_cipher.h"
#include "wal/codecs/segment_keys.h"
#include "wal/dir_lock.h"
#include "wal/io/aligned_buffer.h"
#include "wal/readers/tail_window.h"
#include "wal/recovery/recovery.h"
#include "wal/wal.h"

namespace sidewal::wal {

class WalImpl final : public Wal {
 public:
  WalImpl(const WalOptions& options, std::shared_ptr<IoBackend> io, size_t alignment);
  ~WalImpl() override;

  // Takes over the repaired directory and starts the threads.
  Status start(const DirScan& scan);
  // Keeps the directory's exclusive lock (null: none) until close(); called
  // by Wal::open before start().
  void hold_dir_lock(std::shared_ptr<const DirLock> lock) EXCLUDES(close_mu_) {
    MutexLock c(close_mu_);
    dir_lock_ = std::move(lock);
  }

  void append(std::span<const RecordIn> records, AppendCallback done) override {
    append_batch(records, std::move(done), /*may_lead=*/true);
  }
  void append_without_leading(std::span<const RecordIn> records, AppendCallback done) override {
    append_batch(records, std::move(done), /*may_lead=*/false);
  }
  Status read(uint64_t from_lsn, const ReadLimits& limits, std::vector<Record>* out,
              uint64_t* next_lsn) override;
  Status read_headers(uint64_t from_lsn, const ReadLimits& limits,
                      std::vector<RecordHeaderInfo>* out, uint64_t* next_lsn) override;
  Result<uint64_t> truncate_before(uint64_t lsn) override;
  WalStatus status() const override;
  uint64_t durable_lsn() const override { return durable_lsn_.load(std::memory_order_acquire); }
  LogState state() const override { return static_cast<LogState>(state_.load()); }
  Status failure() const override;
  uint64_t add_durable_listener(std::function<void(uint64_t)> listener) override;
  void remove_durable_listener(uint64_t id) override;
  uint64_t max_batch_bytes() const override { return max_batch_bytes_; }
  Status close() override;

 private:
  // read() and read_headers(): exactly one of `records` and `headers` is set.
  Status read_records(uint64_t from_lsn, const ReadLimits& limits, std::vector<Record>* records,
                      std::vector<RecordHeaderInfo>* headers, uint64_t* next_lsn);

  struct Pending {
    AppendCallback done;
    uint64_t first_lsn = 0;
  };

  // One of the two staging buffers. Its bytes are the segment bytes
  // [base, base + used); [0, carry) is the durable prefix of the page at
  // `base` (rewritten unchanged), [carry, used) the queued records. Bytes of
  // buf at and after `used` are stale (left from earlier turns): the flusher
  // zeroes [used, round_up(used)) before the write, and records encode their
  // own padding. bufs_[fill_] (the fill buffer) is GUARDED_BY(mu_); the
  // other one, while it is being flushed, is owned by the flusher thread,
  // which reaches it through the reference it took under mu_.
  struct Staging {
    AlignedBuffer buf;
    uint64_t base = 0;  // multiple of align_
    size_t carry = 0;
    size_t used = 0;
    // Target segment.
    uint64_t segment_id = 0;
    uint64_t segment_bytes = 0;
    std::string path;          // final name of the segment
    std::string spare_path;    // set when new_segment
    bool new_segment = false;  // rename spare_path -> path (+ dir fsync) before the write
    bool sealed = false;       // the next batch starts a new segment
    // Overlapped (docs/format.md "Overlapped flushes"): its pages after the
    // first were started (IoBackend::start_write, outcome in bulk_status)
    // while the previous flush synced; its own turn writes the first page.
    bool bulk_started = false;
    Status bulk_status;
    // Key of an encrypted target segment (null: plaintext). Its records are
    // staged in plaintext and sealed by the flusher (seal_flush).
    std::shared_ptr<const SecureKey> seg_key;
    uint64_t first_lsn = 0;
    uint64_t last_lsn = 0;
    uint32_t records = 0;
    uint32_t batches = 0;
    std::vector<Pending> pending;  // in LSN order
  };

  // A segment of the log, for reads and truncation.
  struct Segment {
    uint64_t first_lsn = 0;
    uint64_t id = 0;
    std::string path;
    uint64_t size = 0;
    format::Preamble preamble;  // cipher, key id, salt: what a reader needs to decrypt
    bool on_disk = false;       // renamed into place and the directory synced
    std::vector<IndexEntry> index;
  };

  // One flush's outcome, for the completer.
  struct Completion {
    std::vector<Pending> pending;
    Status status;   // what the callbacks get
    Status failure;  // not ok: observers hear on_failed(failure) after the callbacks
    uint32_t records = 0;
    uint32_t batches = 0;
    uint64_t durable = 0;
    uint64_t written = 0;
    uint64_t dwb_bytes = 0;     // written to the double-write slot by this flush
    uint64_t queued_bytes = 0;  // released from pending_bytes_ once delivered
    double seconds = 0;
  };

  // Append (writer/append.cc). append() never waits for the engine: what
  // cannot be placed now is parked and admitted later, in call order.
  // may_lead: this batch may lead a flush (WalOptions::caller_flushes).
  void append_batch(std::span<const RecordIn> records, AppendCallback done, bool may_lead);
  // Leader flush is used only after this many lone flushes in a row (see
  // lone_flushes_): a committer that is alone for a few round trips.
  static constexpr uint64_t kLoneFlushesToLead = 4;
  enum class Placement { kFits, kWait, kRefused };
  static constexpr uint64_t kNotAsked = UINT64_MAX;
  // Whether a batch of `bytes` goes into the fill buffer now. kWait: after
  // the flusher's next swap or the preparer's answer (it may seal the fill
  // buffer, or ask the preparer for a spare and note spare_attempts_ in
  // *asked_at_attempt); kRefused: the spare it asked for could not be made
  // (ENOSPC), *refused says so.
  Placement place_locked(uint64_t bytes, uint64_t* asked_at_attempt, Status* refused) REQUIRES(mu_);
  void park_locked(std::span<const RecordIn> records, uint64_t bytes, AppendCallback&& done,
                   uint64_t asked_at_attempt) REQUIRES(mu_);
  // Admits parked batches in order while they fit; after a failure or once
  // closing, refuses them all. Refusals go to *refused, for
  // hand_off_refused once mu_ is released.
  void admit_parked_locked(std::vector<Completion>* refused) REQUIRES(mu_);
  void hand_off_refused(std::vector<Completion>* refused) EXCLUDES(mu_);
  void encode_batch_locked(std::span<const RecordIn> records, AppendCallback&& done) REQUIRES(mu_);

  // Flusher (writer/flusher.cc). One turn of flusher_loop: wait for work,
  // swap the staging buffers, write the flush without mu_, finish it.
  // The bytes of an encrypted flush's last page that the next buffer carries
  // (copied again once sealed); len 0: nothing to copy.
  struct Recarry {
    size_t from = 0;  // offset in the flushed buffer
    size_t len = 0;
    uint8_t* to = nullptr;
  };
  struct FlushResult {
    Status status;
    uint64_t dwb_bytes = 0;                           // written to the double-write slot
    std::chrono::steady_clock::time_point started{};  // of the writes
    double seconds = 0;                               // write + slot write + sync
  };
  void flusher_loop() EXCLUDES(mu_);
  // A flush waits in the fill buffer (or a failure is still to announce, or
  // close() wants the rest): what the flusher wakes for.
  bool flush_work_waiting_locked() const REQUIRES(mu_);
  // The flush turn proper, by the token holder: swap the buffers, admit what
  // was parked, write and sync without mu_, finish. Lets go of mu_ while it
  // writes and delivers; holds it again when it returns.
  // Returns true when this thread claimed the flush's delivery (*claimed):
  // it gives the token back, then runs deliver_claimed(*claimed) without mu_.
  // `fl` is the fill buffer, or (`swapped`) the group the previous turn
  // started (overlapped). `overlap` (the flusher's turns only; null for a
  // leader): receives the next group when this turn starts it, else null.
  bool flush_fill_buffer_locked(Staging& fl, bool swapped, std::vector<Completion>* refused,
                                Completion* claimed, Staging** overlap) REQUIRES(mu_);
  Staging* overlap_next_locked(std::vector<Completion>* refused) REQUIRES(mu_);
  void start_bulk(Staging& nx);
  // Takes a written buffer's callbacks, counts and LSNs out into the
  // flush's Completion (outcome not yet set) and resets the buffer, so it
  // can be the fill buffer again before the sync (overlapped flushes).
  Completion take_flushed(Staging& fl);
  // An appender's turn as leader (WalOptions::caller_flushes): takes the
  // token, flushes the fill buffer it just joined, gives the token back and
  // wakes the flusher if another group waits meanwhile.
  void lead_flush_locked() REQUIRES(mu_);
  // The fill buffer. The flusher keeps this reference once swap_buffers_locked
  // has made it the buffer being flushed, which it then owns without mu_: the
  // analysis cannot follow that hand-over (it would see bufs_ written without
  // mu_), and does not look through this call.
  Staging& fill_buffer_locked() REQUIRES(mu_) { return bufs_[fill_]; }
  void wait_for_flush_work_locked() REQUIRES(mu_);
  // Lets go of mu_ while it hands the failed callbacks over; holds it again
  // when it returns.
  void fail_queued_locked(Staging& fl) REQUIRES(mu_);
  Recarry swap_buffers_locked(Staging& fl) REQUIRES(mu_);
  void prepare_next_locked(Staging& flushing, Staging& next) REQUIRES(mu_);
  FlushResult write_flush(Staging& fl, const Recarry& recarry) EXCLUDES(mu_);
  Status seal_flush(Staging& fl, const Recarry& recarry, TailWindow::Prepared* tail_chunk);
  Status roll_to(const Staging& s);
  // Writes a flush's pages (and, with the double-write buffer, the copy of its
  // partly filled last page; *dwb_bytes says how many slot bytes); the caller
  // syncs. An overlapped flush's bulk is reaped first and only its first
  // page written here.
  Status write_pages(const Staging& s, uint64_t* dwb_bytes);
  void publish_to_tail(const Staging& fl, TailWindow::Prepared&& tail_chunk);
  // Lets go of mu_ while it delivers; holds it again when it returns.
  // Returns true when the caller is to deliver *claimed (claim_delivery).
  bool finish_flush_locked(Completion c, FlushResult r, Completion* claimed, bool overlapped)
      REQUIRES(mu_);

  // Completer (writer/completer.cc).
  void completer_loop() EXCLUDES(complete_mu_);
  // Queues `c` for the completer; refills *refill with a recycled vector.
  void hand_off(Completion&& c, std::vector<Pending>* refill) EXCLUDES(mu_, complete_mu_);
  // The token holder's way to hand over a flush, decided before it gives
  // the token back (so flushes are handed over in flush order): when nothing
  // is queued for the next flush and the completer is idle with nothing
  // queued, it claims the delivery (completer_busy_) and returns true, and
  // runs deliver_claimed(c) after giving the token back (one thread wake-up
  // fewer per commit when appends come one at a time, and a leader may
  // already write the next flush meanwhile); otherwise hand_off, so that the
  // completer runs the callbacks while the next flush is written. Either way
  // callbacks run in LSN order: only one thread delivers at a time
  // (completer_busy_) and a claim is made only behind an empty queue.
  bool claim_delivery(Completion& c, std::vector<Pending>* refill, bool next_flush_waiting)
      EXCLUDES(mu_, complete_mu_);
  void deliver_claimed(Completion& c) EXCLUDES(mu_, complete_mu_);
  // Runs one completion's observer calls, callbacks and listeners and
  // releases its queued bytes. Called by whoever holds completer_busy_.
  void run_completion(Completion& c) EXCLUDES(mu_, complete_mu_);
  void notify_listeners(uint64_t durable) EXCLUDES(listeners_mu_);

  // Segment preparer (writer/segment_preparer.cc).
  void preparer_loop() EXCLUDES(mu_);
  // How the preparer fills the next spare (WalOptions::preallocation); starts
  // a new history window.
  ZeroFill zero_fill_for_spare_locked() REQUIRES(mu_);
  // A new segment's preamble (fresh salt under the current key when
  // encrypting) and its record key (null for plaintext).
  Status new_segment_preamble(uint64_t id, format::Preamble* p,
                              std::shared_ptr<const SecureKey>* key);

  // Fail-stop (wal_impl.cc).
  void enter_failed_locked(const Status& why) REQUIRES(mu_);
  Status caller_error_locked() const REQUIRES(mu_);

  const WalOptions opts_;
  const std::shared_ptr<IoBackend> io_owner_;
  IoBackend* const io_;
  const std::string dir_;
  const size_t align_;
  // Keys for encrypted segments (shared with readers); encrypt_: new
  // segments are AES-256-GCM, each record takes kTagBytes more on disk.
  const std::shared_ptr<SegmentKeys> keys_;
  const bool encrypt_;
  const uint64_t tag_bytes_;
  const size_t staging_bytes_;      // capacity of each staging buffer
  const uint64_t max_batch_bytes_;  // largest encoded batch append() accepts

  mutable Mutex mu_ ACQUIRED_BEFORE(table_mu_);
  CondVar flush_cv_;  // flusher waits for work
  CondVar space_cv_;  // appenders over max_pending_bytes wait for acks, failure or close
  CondVar prep_cv_;   // preparer waits for a request
  Staging bufs_[2] GUARDED_BY(mu_);  // see Staging
  // Appends that could not be placed when made, with a copy of their
  // records, in call (= LSN) order; their bytes are in pending_bytes_.
  struct Parked {
    std::vector<RecordIn> records;  // payloads point into `payloads`
    std::vector<uint8_t> payloads;
    uint64_t bytes = 0;  // encoded
    AppendCallback done;
    uint64_t asked_at_attempt = kNotAsked;  // spare_attempts_ when it asked for a spare
  };
  std::deque<Parked> parked_ GUARDED_BY(mu_);
  int fill_ GUARDED_BY(mu_) = 0;  // index of the fill buffer
  uint64_t next_lsn_ GUARDED_BY(mu_) = 1;
  // Appended (parked too), callbacks not yet run.
  uint64_t pending_bytes_ GUARDED_BY(mu_) = 0;
  uint64_t last_index_offset_ GUARDED_BY(mu_) = 0;  // of the fill target segment
  bool index_empty_ GUARDED_BY(mu_) = true;         // fill target has no index entry yet
  bool flusher_idle_ GUARDED_BY(mu_) = false;
  // The flush token: a flush turn is running (swap to finish). At most one
  // holder; the flusher waits for it to be free, a leader takes it only when
  // it is free and the flusher idle. Write fd, double-write slot and seal
  // cipher are used only by the holder; mu_ orders one holder's use before
  // the next.
  bool flushing_ GUARDED_BY(mu_) = false;
  // Flush turns running now (flush_fill_buffer_locked): asserted to be 0
  // when one starts, so a broken token shows at once. Atomic: a turn lets go
  // of mu_ while it writes.
  std::atomic<int> flush_turns_{0};
  // Consecutive successful flushes that carried exactly one batch with no
  // other batch waiting when they finished: the log is serving one committer
  // at a time, so a leader splits no group (WalOptions::caller_flushes).
  uint64_t lone_flushes_ GUARDED_BY(mu_) = 0;
  bool closing_ GUARDED_BY(mu_) = false;
  bool stopping_preparer_ GUARDED_BY(mu_) = false;
  // Fail-stop has one owner, this engine: failed_ (the first failure) and
  // state_ (below) are the only copy of it in the process. Invariant (seen
  // from outside mu_): state_ == kFailed exactly when !failed_.ok(); both are
  // set together, once, by enter_failed_locked() under mu_, and never
  // cleared. Everyone else (the daemon's LogService, its sessions, /healthz,
  // /readyz, STATUS) reads them through state() and failure() and keeps no
  // copy.
  Status failed_ GUARDED_BY(mu_);                 // first failure
  bool failed_notified_ GUARDED_BY(mu_) = false;  // on_failed handed to the completer
  // Spare segment.
  bool spare_ready_ GUARDED_BY(mu_) = false;
  bool spare_wanted_ GUARDED_BY(mu_) = false;
  uint64_t spare_id_ GUARDED_BY(mu_) = 0;
  std::string spare_path_ GUARDED_BY(mu_);
  format::Preamble spare_preamble_ GUARDED_BY(mu_);
  std::shared_ptr<const SecureKey> spare_key_ GUARDED_BY(mu_);
  Status spare_status_ GUARDED_BY(mu_);          // result of the last pre-creation attempt
  uint64_t spare_attempts_ GUARDED_BY(mu_) = 0;  // finished pre-creation attempts
  uint64_t next_segment_id_ GUARDED_BY(mu_) = 1;
  // Flush history for WalOptions::Preallocation::kAuto: record bytes and
  // flushes so far, and their values when the preparer last chose how to
  // fill a spare.
  uint64_t overlapped_flushes_ GUARDED_BY(mu_) = 0;  // WalStatus::overlapped_flushes
  uint64_t flushed_bytes_ GUARDED_BY(mu_) = 0;
  uint64_t flush_count_ GUARDED_BY(mu_) = 0;
  uint64_t flushed_bytes_at_spare_ GUARDED_BY(mu_) = 0;
  uint64_t flush_count_at_spare_ GUARDED_BY(mu_) = 0;

  // Owned by the flush-token holder (start() sets them before the flusher
  // starts, close() after it is joined, and the flusher keeps the token
  // once it stops): no lock, which the analysis cannot express.
  FileHandle write_fd_ = -1;
  // Double-write buffer (docs/format.md): the slot the next copy goes to.
  // The other slot holds the durable copy of the page this flush rewrites,
  // so it is never the one written.
  size_t dwb_next_slot_ = 0;
  AlignedBuffer dwb_slot_;  // encoded slot (header + image)
  // Empty, capacity kept: what take_flushed gives a buffer for its next
  // callbacks (refilled by claim_delivery with a recycled vector).
  std::vector<Pending> spare_pending_;
  RecordCipher seal_cipher_;  // seals encrypted flushes (one per thread)

  Mutex complete_mu_;
  CondVar complete_cv_;
  std::deque<Completion> completions_ GUARDED_BY(complete_mu_);
  // Emptied, capacity kept.
  std::vector<std::vector<Pending>> spare_vectors_ GUARDED_BY(complete_mu_);
  bool completer_stop_ GUARDED_BY(complete_mu_) = false;
  // A thread (the completer, or a token holder that claimed a delivery) is
  // running a completion outside complete_mu_; the other waits.
  bool completer_busy_ GUARDED_BY(complete_mu_) = false;

  // Fed by the flusher after each flush's successful writes (before its sync) and before
  // durable_lsn_ moves, so every durable LSN at or above its first is in it.
  // Has its own mutex (never held with another).
  TailWindow tail_{opts_.tail_window_bytes};

  std::atomic<uint64_t> durable_lsn_{0};
  // LogState; written by start() (kReady) and enter_failed_locked() (kFailed,
  // see failed_), read without a lock by state().
  std::atomic<uint8_t> state_{static_cast<uint8_t>(LogState::kRecovering)};

  mutable Mutex table_mu_;
  std::deque<Segment> segs_ GUARDED_BY(table_mu_);  // never empty after start()

  Mutex truncate_mu_;  // serializes truncate_before

  // Held while listeners run (on the completer, or the flusher), so a listener must not
  // call add/remove_durable_listener itself.
  Mutex listeners_mu_;
  std::map<uint64_t, std::function<void(uint64_t)>> listeners_ GUARDED_BY(listeners_mu_);
  uint64_t next_listener_id_ GUARDED_BY(listeners_mu_) = 1;

  Mutex close_mu_;  // serializes close()
  bool closed_ GUARDED_BY(close_mu_) = false;
  // One writer per directory (wal/dir_lock.h); released by close() once the
  // files are closed.
  std::shared_ptr<const DirLock> dir_lock_ GUARDED_BY(close_mu_);
  std::thread flusher_;
  std::thread completer_;
  std::thread preparer_;
};

}  // namespace sidewal::wal
