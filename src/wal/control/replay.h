// Replay helpers over a log directory: extract_tombstones() is the one pass
// of issue 6 (the headers-only reader, plus the payloads of control records
// only) that returns the ReplayState of a range: tombstones with their "is
// this record dead?" query, the latest Calvin marker per shard, the temporal
// purges in order (docs/control-records.md "Replay").
//
// Works on a closed log, and on the directory of an open one when `to_lsn`
// is at most its durable LSN (records up to it are on disk).
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"
#include "wal/control/tombstones.h"
#include "wal/io/io_backend.h"
#include "wal/readers/sequential_reader.h"

namespace sidewal::wal {

struct ReplayRange {
  uint64_t from_lsn = 0;         // 0: the log's first LSN
  uint64_t to_lsn = UINT64_MAX;  // inclusive; MAX: the end of a closed log
};

// `stats` (may be null) says what the pass read: how many records had their
// payload loaded (control records, and small records whose CRC was checked
// for free in the read buffer) and how many were skipped.
// `keys` decrypts encrypted segments (their control payloads are needed).
Result<ReplayState> extract_tombstones(IoBackend* io, const std::string& dir,
                                       const ReplayRange& range, ReaderStats* stats = nullptr,
                                       std::shared_ptr<SegmentKeys> keys = nullptr);

// The reader set-up extract_tombstones uses, for other one-pass tools:
// O_DIRECT at the directory's alignment, or buffered 4 KiB reads where the
// filesystem refuses O_DIRECT (tmpfs). *first_lsn is the log's first LSN
// (0 for a log without segments).
Result<std::unique_ptr<SequentialReader>> open_dir_reader(
    IoBackend* io, const std::string& dir, bool headers_only, uint64_t* first_lsn,
    std::shared_ptr<SegmentKeys> keys = nullptr);

}  // namespace sidewal::wal
