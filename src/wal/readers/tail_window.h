// TailWindow: the most recent durable records, in memory, so that a follower
// reading near the head of the log is served without touching the disk.
//
// The flusher feeds it once per flush, after the flush's writes succeeded
// and before its sync (read() never serves an LSN above the durable one it
// is given, so nothing shows before the sync returns; a failed sync
// fail-stops the log, whose durable LSN then never moves past those
// records), and so before the durable LSN is published: the encoded bytes of the flush's
// records (exactly the bytes now on disk, segment-format records with their
// headers), so a record read from the window is byte for byte the record a
// disk read returns (same header fields, same flags). Its memory is bounded:
// when a new flush takes it over `capacity_bytes`, the oldest flushes go (up
// to two of them are kept as spare buffers for the next flushes, so the
// bound is capacity_bytes plus two flushes).
// Reads below the window's first LSN fall back to the O_DIRECT reader.
//
// Copies only while someone reads: once capacity_bytes of flushes went in
// with no read() in between, the window is dormant (prepare() copies
// nothing; what it holds stays, bounded as above) until the next read(),
// hit or miss. A log nobody follows then pays no copy per flush: with
// 64 KiB records a flush is ~4 MiB, and that copy on the flusher's path cost
// ~14 % of the bandwidth (BENCHMARKS.md "The tail window when nobody
// reads"). The first flush after that read restarts the window (its LSNs no
// longer continue the held ones), so the reader that woke it misses once and
// reads from disk up to there.
//
// Encrypted segments: the window holds the flush's records as they were
// before sealing (plaintext payload, then the 16 tag bytes zeroed; the header
// with the on-disk payload_len), built by prepare() before the flusher seals
// and published after the writes, as above; read() returns plaintext payloads.
// Memory is not "at rest"; the disk never sees these bytes.
//
// Threads: add_flush()/publish() from the flusher; read() from any reader thread. One
// mutex; read() copies the records out under it (a follower's read is at most
// ReadLimits' worth of payload).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <vector>

#include "common/mutex.h"
#include "wal/wal.h"

namespace sidewal::wal {

constexpr uint64_t kDefaultTailWindowBytes = 16ull << 20;  // 16 MiB

struct TailWindowStats {
  uint64_t first_lsn = 0;  // 0 when empty
  uint64_t last_lsn = 0;
  uint64_t bytes = 0;    // encoded bytes held (headers, payloads, padding)
  uint64_t flushes = 0;  // flushes held
  uint64_t hits = 0;     // read() calls served from memory
  uint64_t misses = 0;   // read() calls below the window (or above it)
  uint64_t skipped = 0;  // flushes not copied in: dormant, nobody read
  bool dormant = false;
};

class TailWindow {
  struct Chunk;

 public:
  // capacity 0 disables the window (every read() misses).
  explicit TailWindow(uint64_t capacity_bytes) : capacity_(capacity_bytes) {}

  // One flush's records copied and indexed, not yet visible (prepare() then
  // publish(), for a flusher that must copy before it seals).
  class Prepared {
   public:
    Prepared();
    ~Prepared();
    Prepared(Prepared&&) noexcept;
    Prepared& operator=(Prepared&&) noexcept;

   private:
    friend class TailWindow;
    std::unique_ptr<Chunk> chunk_;  // null: nothing to add
    bool too_big_ = false;          // larger than the whole window: empties it
  };
  // `tag_bytes`: 16 when the records' payload_len counts a tag that read()
  // must not return (encrypted segments), else 0.
  Prepared prepare(uint64_t first_lsn, uint64_t last_lsn, std::span<const uint8_t> records,
                   uint32_t tag_bytes = 0);
  void publish(Prepared&& p);

  // `records` holds encoded records with LSNs first_lsn..last_lsn, back to
  // back from the first header (docs/format.md layout). LSNs must continue
  // the window's (first_lsn == last_lsn() + 1) or the window restarts there.
  void add_flush(uint64_t first_lsn, uint64_t last_lsn, std::span<const uint8_t> records);

  // Serves a read of [from_lsn, up_to] from memory when from_lsn is in the
  // window: fills *out (cleared first) with Wal::read's limits and sets
  // *next_lsn. Returns false (and leaves *out empty) when from_lsn is not in
  // the window; the caller then reads from disk. Records above the window's
  // end are left for the next read (*next_lsn says where to go on).
  bool read(uint64_t from_lsn, uint64_t up_to, const ReadLimits& limits, std::vector<Record>* out,
            uint64_t* next_lsn);

  TailWindowStats stats() const;
  uint64_t capacity() const { return capacity_; }

 private:
  // One flush's records. offsets[i] is where record first_lsn + i starts.
  struct Chunk {
    uint64_t first_lsn = 0;
    uint32_t tag_bytes = 0;  // subtracted from each header's payload_len by read()
    std::vector<uint8_t> bytes;
    std::vector<uint32_t> offsets;
    uint64_t last_lsn() const { return first_lsn + offsets.size() - 1; }
    uint64_t footprint() const { return bytes.size() + offsets.size() * sizeof(uint32_t); }
  };

  const uint64_t capacity_;
  mutable Mutex mu_;
  std::deque<Chunk> chunks_ GUARDED_BY(mu_);  // in LSN order, contiguous
  // Evicted chunks kept for their memory: prepare() copies the next flush
  // into one instead of a fresh allocation, whose first touch of every page
  // costs a page fault (a 4 MiB flush of large records: ~1,000 faults on the
  // flusher's path). At most kMaxSpareChunks.
  static constexpr size_t kMaxSpareChunks = 2;
  std::vector<Chunk> spare_ GUARDED_BY(mu_);
  uint64_t bytes_ GUARDED_BY(mu_) = 0;  // sum of footprints; <= capacity_
  // Bytes published since the last read(). Dormant (prepare() copies
  // nothing) while >= capacity_: a window's worth went in and nobody read.
  uint64_t unread_bytes_ GUARDED_BY(mu_) = 0;
  uint64_t skipped_ GUARDED_BY(mu_) = 0;
  bool dormant_locked() const REQUIRES(mu_) { return unread_bytes_ >= capacity_; }
  uint64_t hits_ GUARDED_BY(mu_) = 0;
  uint64_t misses_ GUARDED_BY(mu_) = 0;
};

}  // namespace sidewal::wal
