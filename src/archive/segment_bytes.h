// Segment bytes for the archive: a walk over records (LSN, flags, length and
// CRC of each, docs/format.md "Records") that finds where a piece ends, and a
// reader of a local segment file through O_DIRECT windows (archiving must not
// grow the page cache: every byte the uploader ships is read this way).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "wal/codecs/format.h"
#include "wal/io/aligned_buffer.h"
#include "wal/io/io_backend.h"

namespace sidewal::archive {

// Bytes [off, off + n) of a segment; the pointer is valid until the next call.
using ByteView = std::function<Result<const uint8_t*>(uint64_t off, size_t n)>;

struct WalkResult {
  // The last BATCH_END record taken: a piece may end there.
  uint64_t batch_end = 0;       // position after it (its padding included)
  uint64_t batch_last_lsn = 0;  // its LSN (first expected LSN - 1 when none)
  // The last record walked (a batch end or not).
  uint64_t end = 0;
  uint64_t last_lsn = 0;
  uint64_t records = 0;  // up to and including the last batch end
};

// Walks records from `pos` (a record position) expecting LSN `lsn`, taking
// every record up to and including `stop_lsn`, never past `limit` (the
// record area's end, or a piece's end). When `budget` is not 0 it stops
// early, after the last BATCH_END, before a record that would end more than
// `budget` bytes after `pos` (a first batch is taken whatever its size).
// Anything but a valid record where one is expected is kCorruption naming
// `what` and the offset.
Status walk_records(const ByteView& view, uint64_t pos, uint64_t limit, uint64_t segment_id,
                    uint64_t lsn, uint64_t stop_lsn, uint64_t budget, const std::string& what,
                    WalkResult* out);

// A local segment file, read with O_DIRECT a window at a time. Not
// thread-safe (one per uploader thread).
class SegmentReader {
 public:
  static Result<std::unique_ptr<SegmentReader>> open(wal::IoBackend* io, const std::string& path,
                                                     size_t align, size_t window_bytes);
  ~SegmentReader();
  SegmentReader(const SegmentReader&) = delete;
  SegmentReader& operator=(const SegmentReader&) = delete;

  const std::string& path() const { return path_; }
  const wal::format::Preamble& preamble() const { return preamble_; }
  uint64_t file_bytes() const { return file_bytes_; }
  uint64_t records_begin() const { return wal::format::records_offset(preamble_); }
  uint64_t records_end() const;

  Result<const uint8_t*> view(uint64_t off, size_t n);
  // Forgets the window: bytes past the durable end may have changed since.
  void invalidate() { win_len_ = 0; }
  ByteView viewer() {
    return [this](uint64_t off, size_t n) { return view(off, n); };
  }

 private:
  SegmentReader(wal::IoBackend* io, std::string path, size_t align, size_t window_bytes)
      : io_(io), path_(std::move(path)), align_(align), window_bytes_(window_bytes) {}
  Status load(uint64_t base, uint64_t len);

  wal::IoBackend* const io_;
  const std::string path_;
  const size_t align_;
  const size_t window_bytes_;
  wal::FileHandle fd_ = -1;
  uint64_t file_bytes_ = 0;
  wal::format::Preamble preamble_;
  wal::AlignedBuffer buf_;
  uint64_t win_base_ = 0;  // file offset of buf_[0]
  uint64_t win_len_ = 0;   // valid bytes in buf_
};

}  // namespace sidewal::archive
