// Wal: the public face of the engine. The daemon, the CLI's offline commands
// and the benchmarks use only this header (and io_backend.h for tests).
//
// Threads: append() may be called from any number of threads at once. Its
// callback runs on one of the log's threads once the batch is durable (or the
// log failed): the completion thread, or the flusher when nothing waits for
// the next flush; with WalOptions::caller_flushes, also the appending thread
// itself, inside append(), when it led the flush. Callbacks (and durable listeners) run one at a
// time, in LSN order; each must be quick and must not call back into append() synchronously in a
// way that waits for its own completion.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "wal/io/io_backend.h"

namespace sidewal::wal {

class KeyRing;          // wal/codecs/secure_key.h
class DirLock;          // wal/dir_lock.h
class TruncationFloor;  // wal/truncation_floor.h

// Record types 0x0000-0x7FFF belong to the application; 0x8000-0xFFFF are the
// log's own control records.
constexpr uint16_t kFirstControlType = 0x8000;
constexpr uint32_t kDefaultMaxRecordBytes = 1u << 20;   // 1 MiB
constexpr uint32_t kHardMaxRecordBytes = 16u << 20;     // 16 MiB ceiling
constexpr uint64_t kDefaultSegmentBytes = 64ull << 20;  // 64 MiB
constexpr uint64_t kDefaultStagingBytes = 4ull << 20;   // 4 MiB

enum class SyncMode : uint8_t {
  kFdatasync,  // write, then fdatasync (the default; BENCHMARKS.md compares the two)
  kODsync,     // O_DSYNC writes
};

enum class LogState : uint8_t { kRecovering = 0, kReady = 1, kFailed = 2 };

// What the caller hands to append(): views into the caller's memory, copied
// before append() returns.
struct RecordIn {
  uint16_t type = 0;
  uint16_t flags = 0;  // must be 0 from callers; the log owns the flag bits
  uint32_t tenant = 0;
  std::span<const uint8_t> payload;
};

// A durable record as read back.
struct Record {
  uint64_t lsn = 0;
  uint16_t type = 0;
  uint16_t flags = 0;  // the log's bits (docs/format.md): 0x1 BATCH_END, 0x2 FLUSH_START
  uint32_t tenant = 0;
  std::vector<uint8_t> payload;
  bool operator==(const Record&) const = default;
};

// A durable record as read_headers() returns it: the header, and the stored
// (plaintext) payload length instead of the payload.
struct RecordHeaderInfo {
  uint64_t lsn = 0;
  uint16_t type = 0;
  uint16_t flags = 0;
  uint32_t tenant = 0;
  uint32_t payload_len = 0;
  bool operator==(const RecordHeaderInfo&) const = default;
};

// Called where callbacks run (see the top of this file) after every flush:
// the daemon turns these into metrics. The engine knows nothing of
// Prometheus.
class WalObserver {
 public:
  virtual ~WalObserver() = default;
  virtual void on_flush(uint32_t records, uint32_t batches, uint64_t bytes_written,
                        double sync_seconds) = 0;
  virtual void on_dwb_write(uint64_t /*bytes*/) {}
  // The log fail-stopped: called once, with the first error
  // (Wal::failure()), after the callbacks of the flush that failed. A
  // notification for whoever reports it: the state itself is the engine's
  // (Wal::state()), already kFailed before any append callback sees the
  // error.
  virtual void on_failed(const Status& /*why*/) {}
};

// Preallocation::kAuto reserves (no zero writes) the next segment when the
// flushes since the previous one averaged at least this many bytes.
constexpr uint64_t kReserveFlushBytes = 256u << 10;

// WalOptions::max_pending_bytes for "no bound".
constexpr uint64_t kNoPendingBound = UINT64_MAX;

struct WalOptions {
  std::string dir;
  uint64_t segment_bytes = kDefaultSegmentBytes;       // rollover size
  uint32_t max_record_bytes = kDefaultMaxRecordBytes;  // payload limit, <= kHardMaxRecordBytes
  BackendKind backend = BackendKind::kAuto;
  SyncMode sync_mode = SyncMode::kFdatasync;
  // Open for writing even though recovery found corruption before the tail
  // (the operator accepts losing everything after the first bad record).
  bool salvage = false;
  // Double-write buffer (docs/format.md "Double-write buffer"): every flush
  // whose last page is partly filled also writes a copy of that page to a
  // slot of the segment (same sync), so the next flush may tear the page
  // while rewriting it without losing an acknowledged record. Off only for
  // devices whose 4 KiB writes are atomic (docs/operations.md). Recovery
  // restores from the slots whatever this says.
  bool dwb = true;
  // How a new segment's zeros are made before it is used (IoBackend::
  // preallocate_zeroed). kAuto: the preparer writes them (kWrite) unless the
  // flushes since the previous segment averaged kReserveFlushBytes or more,
  // then it only reserves the blocks (kReserve): a large flush pays one
  // extent-conversion journal commit in its fdatasync, far less than writing
  // every byte of the segment twice (docs/format.md "Directory").
  enum class Preallocation { kAuto, kWrite, kReserve };
  Preallocation preallocation = Preallocation::kAuto;
  // Bounds the bytes appended whose callbacks have not run yet: above it
  // append() waits for acknowledgements (the only wait in append()).
  // kNoPendingBound: none, for a caller that bounds its own in-flight appends
  // (the daemon: limits.max_inflight_bytes_total), so append() never waits.
  uint64_t max_pending_bytes = 64ull << 20;
  // Leader flush (RocksDB's write-group leader): while the log serves one
  // committer at a time (the last few flushes each carried one batch and
  // nothing waited behind them), an append() that finds the flusher idle,
  // with no flush in progress, writes and syncs its group on the calling
  // thread and runs the flush's callbacks there, before append() returns,
  // instead of waking the flusher and waiting for the completer: the commit
  // crosses no thread hand-off inside the log. With more committers the
  // flusher keeps every flush: a leader would take the first append and
  // leave those a few microseconds behind it to a second flush, where the
  // flusher's wake-up gathers them into one. The cost: such an append()
  // takes one write + sync (one flush at most; what arrives meanwhile goes to
  // the flusher). Off by default, since append() then blocks for the device;
  // the daemon's wal.caller_flushes turns it on.
  bool caller_flushes = false;
  // Overlapped flushes (docs/format.md "Overlapped flushes"): when a flush's
  // writes are done and the next group waits with at least this many bytes
  // in pages after its first page, the flusher starts writing those pages
  // before it syncs the flush it just wrote, so a large flush's transfer
  // runs under the previous flush's sync. The next group's first page (the
  // one its first record starts on), its double-write copy and its sync
  // still wait for that sync, which is what keeps the recovery rule and the
  // double-write proof unchanged. 0 turns it off; plaintext segments and
  // SyncMode::kFdatasync only (an encrypted group is sealed as a whole, and
  // an O_DSYNC write has no separate sync to overlap).
  uint64_t overlap_min_bytes = 64ull << 10;
  // Each of the two staging buffers (one fills while the other is written):
  // the most one flush carries, and the largest batch append() accepts.
  // Raised to at least two of the largest records, cut to the segment
  // (wal_impl.cc, staging_capacity); both buffers are allocated and zeroed
  // at open, so resident. Meant for large records: with 16 MiB of 64 KiB
  // records in flight, 16 MiB buffers were +19 % in five alternated short
  // pairs and behind in run 13's longer lines (BENCHMARKS.md "The 64 KiB
  // line placed"): measure on the target device. Small records never fill one.
  uint64_t staging_bytes = kDefaultStagingBytes;
  // The most recent durable records kept in memory (TailWindow), so
  // followers near the head never read the disk; 0 disables it.
  uint64_t tail_window_bytes = 16ull << 20;
  // Encryption at rest (docs/encryption.md): the keys by id. With a current
  // key, every segment this open creates is AES-256-GCM under it (appends go
  // into a new segment after every open); segments of other key ids stay
  // readable while their key is listed. Null or no current key: new segments
  // are plaintext; encrypted segments still need their keys. Open refuses a
  // log whose encrypted segments name a key id that is missing or configured
  // with other bytes (fingerprint), before anything is written.
  std::shared_ptr<const KeyRing> keys;
  // Tests inject a SimDisk (src/testing) here; when set, `backend` is ignored.
  std::shared_ptr<IoBackend> io;
  // One writer per directory (wal/dir_lock.h, docs/format.md "Directory"):
  // the open log holds an exclusive DirLock on `dir` until close(). Set: a
  // lock the caller already holds (exclusive, on this directory; the daemon
  // takes it before it binds its socket), kept by the log until close().
  // Unset: Wal::open takes it itself, before it reads anything in `dir`,
  // when it builds the backend (`io` unset: the real file system). With an
  // injected `io` and no lock, none is taken: the engine cannot tell whether
  // that backend's paths are real files (SimDisk's are not).
  std::shared_ptr<const DirLock> dir_lock;
  WalObserver* observer = nullptr;  // not owned; may be null
  // Set: truncate_before never deletes a record at or above its keep_from()
  // (the archive's guard, docs/archive.md). Null: no floor.
  std::shared_ptr<const TruncationFloor> truncation_floor;
};

// What recovery found and did.
struct RecoveryReport {
  uint64_t first_lsn = 1;    // lowest LSN still in the log
  uint64_t durable_lsn = 0;  // last LSN of the last complete batch (0 = empty)
  uint64_t segments = 0;
  uint64_t bytes_on_disk = 0;
  uint64_t records = 0;
  uint64_t discarded_bytes = 0;       // torn or partial tail cut off
  uint64_t discarded_records = 0;     // records of an incomplete trailing batch
  std::string discarded_why;          // empty when nothing was cut
  uint64_t dwb_restores = 0;          // torn pages restored from the double-write slots
  uint64_t dwb_restored_records = 0;  // records valid in those pages at/after the tear
  std::string dwb_why;                // which pages, from which slots; empty when none
  bool corruption = false;            // a bad record followed by valid ones
  std::string corruption_at;          // "segment <file> offset <n>: <what>"
  double seconds = 0;
  std::string backend;  // which IoBackend ran
};

struct WalStatus {
  uint64_t first_lsn = 1;
  uint64_t durable_lsn = 0;
  uint64_t segments = 0;
  uint64_t bytes_on_disk = 0;
  LogState state = LogState::kRecovering;
  std::string failure;                     // why the log is failed, when it is
  std::vector<std::string> segment_paths;  // for mincore residency measurement
  // The next segment is pre-created (rollover will not wait for it). When its
  // creation failed with ENOSPC, next_segment_problem says so and appends that
  // need it get kNoSpace (the log stays kReady and retries on the next one).
  bool next_segment_ready = false;
  std::string next_segment_problem;
  // Flushes whose pages after the first were written while the previous
  // flush synced (WalOptions::overlap_min_bytes), since open.
  uint64_t overlapped_flushes = 0;
};

struct ReadLimits {
  uint64_t max_records = 0;  // 0 = no limit
  uint64_t max_bytes = 0;    // payload bytes; 0 = no limit. At least one record is returned.
};

// Completion of one append() batch: ok with the LSN of the batch's first
// record (record i has first_lsn + i), or the error that failed the log.
using AppendCallback = std::function<void(const Status& status, uint64_t first_lsn)>;

class Wal {
 public:
  virtual ~Wal() = default;

  // Recovers `options.dir` (creating it if missing) and opens it for writing.
  // Fills *report even on error when recovery got that far. Another writer
  // holding the directory (WalOptions::dir_lock) gives kBusy naming the
  // directory and the holder's pid, before anything in it is read.
  static Result<std::unique_ptr<Wal>> open(const WalOptions& options, RecoveryReport* report);

  // Queues `records` as one atomic batch; `done` runs once all are durable.
  // Invalid input (empty batch, oversized record) or a failed log completes
  // `done` with the error before append() returns. Never waits for the
  // engine: a batch that must wait for the flusher or for the next segment is
  // queued with a copy of its records and gets its LSNs later, in call order.
  // The one wait is the caller's backpressure, WalOptions::max_pending_bytes.
  // With WalOptions::caller_flushes, append() may also write and sync one
  // flush itself (and run its callbacks, `done` among them) before it
  // returns; it never waits for another thread's flush.
  virtual void append(std::span<const RecordIn> records, AppendCallback done) = 0;
  // append() for a caller that knows another append follows at once (the
  // daemon: more request bytes already read from the same socket): it never
  // leads a flush (WalOptions::caller_flushes), so what follows joins the
  // same group instead of waiting for a flush of this batch alone.
  virtual void append_without_leading(std::span<const RecordIn> records, AppendCallback done) = 0;

  // Blocking convenience: waits for durability, returns the first LSN.
  Result<uint64_t> append_sync(std::span<const RecordIn> records);

  // Reads durable records with lsn >= from_lsn. *next_lsn is the LSN after the
  // last one returned. from_lsn below first_lsn is kTruncated.
  virtual Status read(uint64_t from_lsn, const ReadLimits& limits, std::vector<Record>* out,
                      uint64_t* next_lsn) = 0;

  // read() without the payloads: the same records and *next_lsn (max_bytes
  // counts the stored payload lengths), through the headers-only reader. A
  // record that is not already in the read buffer is stepped over from its
  // header without reading its payload (nor checking its CRC: its LSN and
  // flags still are), so a header scan of large records reads little more
  // than their headers.
  virtual Status read_headers(uint64_t from_lsn, const ReadLimits& limits,
                              std::vector<RecordHeaderInfo>* out, uint64_t* next_lsn) = 0;

  // Deletes whole segments that hold only records below `lsn`; returns the new
  // first LSN. The directory is fsynced before this returns.
  virtual Result<uint64_t> truncate_before(uint64_t lsn) = 0;

  virtual WalStatus status() const = 0;
  virtual uint64_t durable_lsn() const = 0;

  // Fail-stop, owned here (WalObserver::on_failed reports it; the daemon
  // keeps no copy). state() is kReady once open, and kFailed for good from
  // the first failed flush (write, sync or rollover) or a next segment that
  // could not be created for another reason than ENOSPC (which only refuses
  // the appends that need it, docs/format.md): appends then complete with
  // kFailed, or kNoSpace when the cause was ENOSPC. failure() is that first
  // error, ok while the log is not failed. Both are safe from any thread;
  // state() takes no lock.
  virtual LogState state() const = 0;
  virtual Status failure() const = 0;

  // Largest encoded batch (sum of records' header + payload + padding, see
  // docs/format.md) append() accepts: max(WalOptions::staging_bytes, 2 x
  // largest record), and no more than a segment minus its preamble. Larger batches get kInvalidArgument.
  virtual uint64_t max_batch_bytes() const = 0;

  // `listener` runs where callbacks run (see the top of this file) after each flush with the new
  // durable LSN (for followers). Returns an id for remove_durable_listener().
  virtual uint64_t add_durable_listener(std::function<void(uint64_t durable_lsn)> listener) = 0;
  virtual void remove_durable_listener(uint64_t id) = 0;

  // Finishes every queued append (completing its callback), then closes files
  // and lets go of the directory lock (another open may follow at once).
  virtual Status close() = 0;
};

// ---- Offline inspection (the CLI's `verify` and `dump`): read-only, never
// modifies, truncates or creates a file, and needs no running daemon. It
// takes no lock itself; the CLI holds a shared DirLock around it.
struct SegmentInfo {
  std::string path;
  uint64_t segment_id = 0;
  uint64_t first_lsn = 0;  // from the name; records start here
  uint64_t last_lsn = 0;   // last valid record (first_lsn - 1 when empty)
  uint64_t records = 0;
  uint64_t valid_bytes = 0;  // end offset of the last valid record
  uint8_t cipher = 0;        // 0 none, 1 AES-256-GCM
  uint16_t key_id = 0;       // key id of an encrypted segment (0 for none)
  uint64_t key_fingerprint = 0;
  // Encrypted segment whose key was not given or does not match: its records'
  // CRCs were checked but their payloads not decrypted (and not handed out).
  std::string key_problem;
  std::string problem;  // empty when the segment is clean
};
// Scans `dir` like recovery does, calling on_segment once per segment (in
// order, after its records) and on_record for every valid record. Either
// callback may be empty. The report says what recovery would keep and cut.
// Records of encrypted segments are decrypted with `keys` (a record whose
// tag fails is corruption and is not handed out); without their key they are
// CRC-checked only, not handed out, and SegmentInfo::key_problem says so.
Status inspect_dir(const std::string& dir, IoBackend* io,
                   const std::function<void(const SegmentInfo&)>& on_segment,
                   const std::function<void(const Record&)>& on_record, RecoveryReport* report,
                   std::shared_ptr<const KeyRing> keys = nullptr);

}  // namespace sidewal::wal
