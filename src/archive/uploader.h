// Uploader: ships a log to an ObjectStore as docs/archive.md describes
// (generations, tail pieces every interval, whole sealed segments,
// compaction), reading the segments through O_DIRECT (SegmentReader) and the
// durable LSN from the engine. Knows nothing of sockets or S3: the store is
// the ObjectStore interface.
//
// It keeps no local record of progress but the GENERATION file: after any
// failed request it lists the generation again and continues at the end of
// the chain, so a crash or a store outage at any point resumes with no gap
// and no conflicting overlap (docs/archive.md "Why uploads are idempotent").
//
// Threads: step() from one thread at a time (the background thread of
// start(), or a test). stats() from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "archive/object_store.h"
#include "archive/rate_limiter.h"
#include "archive/segment_bytes.h"
#include "common/mutex.h"
#include "common/status.h"
#include "wal/io/io_backend.h"
#include "wal/truncation_floor.h"
#include "wal/wal.h"

namespace sidewal::archive {

constexpr uint64_t kDefaultPartBytes = 8ull << 20;  // multipart parts (S3: >= 5 MiB)

struct UploaderOptions {
  std::string prefix;  // P, without leading or trailing '/'
  std::string dir;     // the log's directory: GENERATION lives there
  std::chrono::milliseconds interval{1000};
  // Pieces up to this size are one PUT; larger ones (whole segments) are
  // multipart uploads of parts this size.
  uint64_t part_bytes = kDefaultPartBytes;
  // Parts of one multipart upload sent at once (each from its own copy of
  // the part: up to concurrency x part_bytes of memory). Pieces themselves
  // go one after the other: the archive's chain must never have a hole.
  uint32_t concurrency = 1;
  // Upload bandwidth cap in bytes per second (RateLimiter); 0: none.
  uint64_t max_bytes_per_second = 0;
  // Set: the uploader keeps it at the LSN after the archive's durable LSN,
  // so truncation never deletes what the archive lacks. Null: guard off.
  std::shared_ptr<wal::TruncationFloor> floor;
  // For the daemon's log, on the stepping thread: "failing" when a step
  // fails with another error than the previous step (detail: the error),
  // "recovered" at the first good step after failures, "generation" when a
  // generation is started (detail: its id and why), "cut_short" when an
  // object cut short by an interrupted upload is deleted (detail: which).
  std::function<void(const std::string& event, const std::string& detail)> on_event;
};

struct UploaderStats {
  std::string generation;
  uint64_t archived_lsn = 0;  // the archive's durable LSN (0: nothing yet)
  uint64_t durable_lsn = 0;   // the log's, at the last step
  uint64_t lag_records = 0;   // durable_lsn - archived_lsn
  // Bytes of the log's durable records the archive lacks (from the end of
  // the archive's copy to the durable end, as of the last step; measured by
  // reading only the bytes that became durable since).
  uint64_t lag_bytes = 0;
  double lag_seconds = 0;  // since the archive last held every durable record
  uint64_t pieces_uploaded = 0;
  uint64_t bytes_uploaded = 0;
  uint64_t compactions = 0;
  uint64_t generations_started = 0;
  std::string generation_reason;  // why the last generation was started
  uint64_t failures = 0;          // steps that ended in an error
  uint64_t requests = 0;          // object store calls
  std::string last_error;         // empty once a step succeeds
};

class Uploader {
 public:
  // `store`, `wal` and `io` (a backend for O_DIRECT reads of the log's
  // segments; may be another instance than the log's) must outlive it.
  Uploader(ObjectStore* store, wal::Wal* wal, wal::IoBackend* io, UploaderOptions options);
  ~Uploader();
  Uploader(const Uploader&) = delete;
  Uploader& operator=(const Uploader&) = delete;

  // One pass: list and resume if needed, ship every record durable now,
  // then compact sealed segments. The first error ends the pass (the next
  // one lists again).
  Status step() EXCLUDES(stats_mu_, run_mu_);

  // A thread calling step() every interval until stop().
  void start() EXCLUDES(run_mu_);
  void stop() EXCLUDES(run_mu_);

  UploaderStats stats() const EXCLUDES(stats_mu_);

 private:
  struct Cursor {
    uint64_t seg_first = 0;  // F of the segment being shipped (0: none yet)
    uint64_t seg_id = 0;
    uint64_t offset = 0;              // where the archive's copy of it ends (0: nothing)
    uint64_t next_lsn = 0;            // the first LSN the archive lacks
    std::vector<std::string> pieces;  // keys of this segment's pieces
  };
  struct Compaction {
    uint64_t seg_first = 0;
    uint64_t seg_id = 0;
    uint64_t last_lsn = 0;
    uint64_t stamp_us = 0;
    std::vector<std::string> pieces;
  };
  struct LocalSegment {
    uint64_t first_lsn = 0;
    std::string path;
  };

  Status sync();
  Status start_generation(const std::string& why);
  Status drop_cut_short(const std::string& seg_prefix, std::vector<ObjectInfo>* listing);
  Status ship();
  Status compact(const Compaction& c);
  Status upload_range(SegmentReader* r, uint64_t begin, uint64_t end, const std::string& key);
  Status upload_parts(SegmentReader* r, uint64_t begin, uint64_t end, const std::string& key,
                      const std::string& upload_id, std::vector<std::string>* etags);
  // Brings stats_.lag_bytes up to date (uploader_transfer.cc).
  void measure_lag();
  Result<SegmentReader*> reader_for(const std::string& path);
  std::vector<LocalSegment> local_segments() const;
  void set_archived(uint64_t lsn);
  void count_request() { ++requests_; }

  ObjectStore* const store_;
  wal::Wal* const wal_;
  wal::IoBackend* const io_;
  const UploaderOptions opts_;
  size_t align_ = 0;

  // Step state: only the stepping thread touches these.
  bool synced_ = false;
  std::string gen_;
  uint64_t archived_ = 0;
  Cursor cur_;
  std::deque<Compaction> compactions_;
  std::unique_ptr<SegmentReader> reader_;  // of the cursor's segment
  RateLimiter limiter_;
  // measure_lag's walk: from the archive's end (base_*) forward to what it
  // has measured (at_*), `bytes` between them.
  struct LagWalk {
    uint64_t base_seg = 0, base_offset = 0, base_lsn = 0;
    uint64_t seg_first = 0, offset = 0, next_lsn = 0, bytes = 0;
  };
  LagWalk lag_;
  std::unique_ptr<SegmentReader> lag_reader_;
  std::vector<uint8_t> body_;  // one piece or part
  uint64_t requests_ = 0;

  mutable Mutex stats_mu_;
  UploaderStats stats_ GUARDED_BY(stats_mu_);
  std::chrono::steady_clock::time_point behind_since_ GUARDED_BY(stats_mu_);
  bool behind_ GUARDED_BY(stats_mu_) = false;

  Mutex run_mu_;
  CondVar run_cv_;
  bool stopping_ GUARDED_BY(run_mu_) = false;
  std::thread thread_;
};

}  // namespace sidewal::archive
