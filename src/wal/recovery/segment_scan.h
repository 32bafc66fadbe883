// Scanning one segment file: preamble, every record's CRC, the end of its
// records, and (for the last segment) what lies beyond that end. Read-only;
// recovery, inspect_dir and the tests build on it. docs/format.md "Recovery".
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "wal/codecs/format.h"
#include "wal/io/io_backend.h"

namespace sidewal::wal {

// One sparse-index entry: the record with `lsn` starts at `offset`.
struct IndexEntry {
  uint64_t lsn = 0;
  uint64_t offset = 0;
};

// A valid record as the scan sees it; `payload` points into the scan's buffer
// and is valid only during the callback. For an encrypted segment it is the
// on-disk ciphertext || tag (the scan never needs the key).
struct RecordView {
  format::RecordHeader header;
  const uint8_t* payload = nullptr;
  uint64_t offset = 0;
};

struct SegmentScan {
  std::string path;
  uint64_t first_lsn = 0;  // from the file name
  uint64_t file_size = 0;
  format::Preamble preamble;
  Status preamble_status;  // not ok: nothing else below was scanned

  uint64_t records = 0;                         // valid records before the stop point
  uint64_t last_lsn = 0;                        // of the last valid record; first_lsn - 1 when none
  uint64_t valid_end = format::kPreambleBytes;  // offset after the last valid record
  uint64_t batch_lsn = 0;  // last valid BATCH_END record; first_lsn - 1 when none
  uint64_t batch_end = format::kPreambleBytes;  // offset after it
  uint64_t batch_records = 0;                   // valid records up to and including batch_lsn

  // Where the records stop: a zero header (clean end) or a bad record.
  uint64_t stop_offset = format::kPreambleBytes;
  bool stopped_bad = false;
  std::string stop_why;

  // Tail scan (last segment only): the end of the last non-zero byte at or
  // after stop_offset (0 when all zero), and the first valid FLUSH_START
  // record with an LSN above last_lsn found there (proof of corruption).
  bool tail_scanned = false;
  uint64_t nonzero_end = 0;
  bool later_flush_start = false;
  uint64_t later_offset = 0;
  uint64_t later_lsn = 0;

  // Pages of the last segment restored from its double-write slots (in
  // memory: recovery writes them back, inspect_dir only reports them).
  struct DwbRestore {
    uint64_t page = 0;           // offset of the restored page
    size_t slot = 0;             // which slot held it
    uint64_t seq = 0;            // the slot's sequence number
    uint64_t from = 0;           // the scan's stop point that the restore repaired
    uint64_t records = 0;        // valid records starting in [from, page end) after the restore
    std::vector<uint8_t> image;  // the page as restored
  };
  std::vector<DwbRestore> dwb_restores;

  std::vector<IndexEntry> index;  // every kIndexIntervalBytes, first at (first_lsn, records_offset)
};

class FileWindow;

// Checks the record at `offset` of the file behind `w`, loading as much of it
// as exists. On kValid, *record points at its header (payload follows) until
// the window moves.
Status check_record_at(FileWindow& w, uint64_t offset, uint64_t segment_id, uint64_t expected_lsn,
                       format::RecordCheck* result, format::RecordHeader* h, const uint8_t** record,
                       std::string* why);

// Opens `path` read-only (O_DIRECT when `direct`), scans it and closes it.
// Returns an error only when the file cannot be read; a bad preamble is
// reported in out->preamble_status and bad records in the stop fields.
Status scan_segment(IoBackend* io, const std::string& path, uint64_t first_lsn, size_t alignment,
                    bool direct, bool scan_tail,
                    const std::function<void(const RecordView&)>& on_record, SegmentScan* out);

}  // namespace sidewal::wal
