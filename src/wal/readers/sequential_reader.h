// SequentialReader: reads a log's records in LSN order from any LSN, one
// record at a time, through O_DIRECT aligned buffers (FileWindow), checking
// every record's LSN, flags, length and CRC (docs/format.md "Records").
//
// Where the records are is the caller's business: a SegmentLocator maps an
// LSN to its segment and the closest sparse-index entry at or below it. The
// open log's locator is WalImpl's segment table (Wal::read uses this class);
// DirSegments (below) is the offline one, for a closed log directory (the
// CLI, replay helpers, benchmarks).
//
// Two modes:
//   - full: every record is loaded whole and its CRC checked before next()
//     returns it; view().payload points at the payload.
//   - headers-only ("lazy"): next() needs only the 24 header bytes. When the
//     whole record already sits in the read buffer (the usual case: a window
//     is 1 MiB) its CRC is checked anyway, since that costs no I/O; a record
//     that runs past the buffer is skipped without reading the rest of it,
//     and view().crc_checked is false. load_payload() reads it and checks the
//     CRC on request. What "lazy" saves: the payload copy into a Record, its
//     allocation, decryption (an encrypted record is decrypted only by
//     load_payload(); next() reports its plaintext length), and
//     for large records the reads of payload bytes nobody asked for: after
//     stepping over a record at least a window long, the next header is read
//     with a one-page read instead of a whole window. What it does not save:
//     the pages holding headers are read whole (O_DIRECT reads whole pages),
//     so for small records it reads the same bytes as full mode.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "wal/codecs/format.h"
#include "wal/codecs/record_cipher.h"
#include "wal/codecs/segment_keys.h"
#include "wal/io/io_backend.h"
#include "wal/recovery/segment_scan.h"
#include "wal/wal.h"

namespace sidewal::wal {

class FileWindow;

// One segment as the reader needs it.
struct SegmentRef {
  std::string path;
  uint64_t id = 0;                       // 0: take it from the file's preamble
  uint64_t first_lsn = 0;                // from the name
  uint64_t next_first_lsn = UINT64_MAX;  // first LSN of the next segment; MAX for the last
  IndexEntry start;                      // closest known (lsn, offset) at or below the asked LSN
  // The segment's preamble when the locator knows it (the open log's table);
  // otherwise the reader reads it from the file.
  bool have_preamble = false;
  format::Preamble preamble;
};

// Fills *ref for the segment holding `lsn`. kTruncated below the log's first
// LSN; kNotFound when the log has no segment at all.
using SegmentLocator = std::function<Status(uint64_t lsn, SegmentRef* ref)>;

struct SequentialReaderOptions {
  bool direct = true;             // O_DIRECT (no page-cache pollution); false for tmpfs
  size_t window_bytes = 1 << 20;  // usual read size; grown for a larger record
  bool headers_only = false;
  // Keys for encrypted segments (null: an encrypted segment is an error
  // naming its key id). Payloads of encrypted records come back decrypted;
  // a tag that fails is kCorruption naming segment, offset and LSN.
  std::shared_ptr<SegmentKeys> keys;
};

// A record as next() returns it; valid until the next call to next() or
// load_payload().
struct RecordRef {
  // As on disk, except that payload_len is the plaintext length for an
  // encrypted record (on disk it is 16 more: the tag).
  format::RecordHeader header;
  const uint8_t* payload = nullptr;      // null in headers-only mode when not loaded
  bool crc_checked = false;              // always true in full mode
  uint64_t offset = 0;                   // of the header in its segment
  const std::string* segment = nullptr;  // path of its segment
};

struct ReaderStats {
  uint64_t records = 0;
  uint64_t payload_bytes = 0;     // of the records returned
  uint64_t crc_checked = 0;       // records whose CRC was verified
  uint64_t payloads_skipped = 0;  // headers-only: records not read whole
  uint64_t payload_loads = 0;     // load_payload() calls that had to read
  uint64_t segments_opened = 0;
};

class SequentialReader {
 public:
  SequentialReader(IoBackend* io, size_t alignment, SegmentLocator locate,
                   SequentialReaderOptions options = {});
  ~SequentialReader();
  SequentialReader(const SequentialReader&) = delete;
  SequentialReader& operator=(const SequentialReader&) = delete;

  // Positions the reader at `from_lsn`; it returns records up to and
  // including `last_lsn` (the durable LSN of an open log). With last_lsn
  // UINT64_MAX the records end where the last segment's records end (a
  // closed log; a bad record there is corruption, not a torn tail: run
  // recovery, i.e. open the log, first).
  Status seek(uint64_t from_lsn, uint64_t last_lsn = UINT64_MAX);

  // Reads the next record into *rec. *got is false at the end. A record that
  // is not what the format says is kCorruption naming segment, offset and LSN.
  Status next(RecordRef* rec, bool* got);

  // Headers-only mode: makes the payload of the record next() just returned
  // readable (checking its CRC) and points rec->payload at it.
  Status load_payload(RecordRef* rec);

  // Fills *out (cleared first) from next_lsn() on, with Wal::read's limits:
  // at least one record, then stop before max_records or before the record
  // that would take the payload above max_bytes.
  Status read(const ReadLimits& limits, std::vector<Record>* out);
  // Headers-only mode: read() without loading any payload (Wal::read_headers).
  Status read_headers(const ReadLimits& limits, std::vector<RecordHeaderInfo>* out);

  uint64_t next_lsn() const { return expected_; }
  const ReaderStats& stats() const { return stats_; }

 private:
  Status open_segment(uint64_t lsn);
  // Decrypts the record at `rec` (header + on-disk payload) into plain_.
  Status decrypt(const uint8_t* rec, uint64_t offset);
  void close_segment();
  Status corruption(uint64_t offset, const std::string& what) const;

  IoBackend* const io_;
  const size_t align_;
  const SegmentLocator locate_;
  const SequentialReaderOptions opts_;

  uint64_t expected_ = 0;  // LSN of the next record
  uint64_t last_lsn_ = UINT64_MAX;
  // Open segment: file_ >= 0 when open.
  FileHandle file_ = -1;
  SegmentRef seg_;
  std::unique_ptr<FileWindow> window_;
  uint64_t pos_ = 0;  // offset of the next record in the segment
  // The record next() returned last (for load_payload()).
  uint64_t last_offset_ = 0;
  uint32_t last_len_ = 0;  // on-disk payload_len
  // Headers only: the last record was stepped over unread and was at least a
  // window long, so the next header is fetched with a one-page read.
  bool skipped_large_ = false;
  bool locate_failed_ = false;  // the last open_segment() failed in locate_
  // Encrypted open segment: its key (null for plaintext), the cipher, and
  // the last decrypted payload.
  std::shared_ptr<const SecureKey> seg_key_;
  std::unique_ptr<RecordCipher> cipher_;
  std::vector<uint8_t> plain_;
  ReaderStats stats_;
};

// The segments of a closed log directory, from their names and preambles
// (no scan: the sparse index is not known, so a read starts at the first
// record of its segment and walks headers up to the LSN asked for).
class DirSegments : public std::enable_shared_from_this<DirSegments> {
 public:
  static Result<std::shared_ptr<DirSegments>> open(IoBackend* io, const std::string& dir);
  Status locate(uint64_t lsn, SegmentRef* ref) const;
  SegmentLocator locator() const;  // keeps this object alive
  uint64_t first_lsn() const { return firsts_.empty() ? 0 : firsts_.front(); }
  size_t segments() const { return paths_.size(); }
  const std::vector<std::string>& paths() const { return paths_; }

 private:
  std::vector<uint64_t> firsts_;  // first LSN of each segment, increasing
  std::vector<std::string> paths_;
};

}  // namespace sidewal::wal
