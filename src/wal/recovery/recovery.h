// Recovery, split in two: scan_dir() reads the whole directory and decides
// what the log is (read-only; inspect_dir uses it as is), repair_dir() makes
// the directory match that decision before the writer opens it.
// docs/format.md "Recovery" is the specification; recovery_cases.h holds
// its decisions as tables that this code looks up.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "wal/io/io_backend.h"
#include "wal/recovery/recovery_cases.h"
#include "wal/recovery/segment_scan.h"
#include "wal/wal.h"

namespace sidewal::wal {

struct DirScan {
  std::vector<SegmentScan> segments;  // scanned, in name (= LSN) order
  std::vector<std::string> spares;    // leftover .spare files (deleted by repair)
  uint64_t max_segment_id = 0;        // over segments and spares

  bool corrupt = false;
  size_t corrupt_segment = 0;  // index into segments
  uint64_t corrupt_offset = 0;
  std::string corrupt_what;
  // The segment table's case for the segment that ends the log (kEndCut or
  // kEndKeep); null when the scan stopped at corruption or found no segment.
  const recovery_cases::SegmentCase* end_case = nullptr;

  // What the log holds after repair (salvage applied when corrupt).
  size_t keep_segments = 0;  // segments [0, keep_segments) stay
  uint64_t cut_offset = 0;   // end of the log inside the last kept segment
  uint64_t zero_end = 0;     // bytes [cut_offset, zero_end) of it are cut
  uint64_t next_lsn = 1;
};

// Scans `dir` (which must exist). Unsupported/IoError are returned; a
// corrupt log is not an error here (see DirScan::corrupt). `on_record` sees
// every valid record before the stop point of each segment, in order.
Status scan_dir(IoBackend* io, const std::string& dir, size_t alignment, bool direct,
                const std::function<void(const SegmentScan&)>& on_segment,
                const std::function<void(const SegmentScan&, const RecordView&)>& on_record,
                DirScan* scan, RecoveryReport* report);

// Applies the decision: deletes spares and salvaged-away segments, zeroes the
// cut tail, syncs the file and the directory. Refuses (Corruption) when the
// scan found corruption and `salvage` is false.
Status repair_dir(IoBackend* io, const std::string& dir, size_t alignment, bool salvage,
                  DirScan* scan);

}  // namespace sidewal::wal
