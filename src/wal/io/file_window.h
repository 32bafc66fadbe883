// FileWindow: sequential, aligned reads of one segment file through a reused
// aligned buffer, so a record that straddles two reads is still seen whole.
// Used by recovery, inspect_dir and Wal::read.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "wal/io/aligned_buffer.h"
#include "wal/io/io_backend.h"

namespace sidewal::wal {

class FileWindow {
 public:
  // `file_size` and every read are multiples of `alignment`; `window_bytes`
  // is the usual read size (grown when a larger record asks for more).
  FileWindow(IoBackend* io, FileHandle file, std::string path, uint64_t file_size, size_t alignment,
             size_t window_bytes);

  // Makes [offset, offset + len) readable and points *out at it. `len` must not
  // run past the end of the file. When it has to read, it reads `read_bytes`
  // (0: the usual window), and always at least the pages [offset, offset + len)
  // touches.
  Status get(uint64_t offset, uint64_t len, const uint8_t** out, uint64_t read_bytes = 0);

  // True when [offset, offset + len) is already in the buffer (get() would
  // not read). The headers-only reader checks a CRC only then.
  bool holds(uint64_t offset, uint64_t len) const {
    return offset >= buf_offset_ && offset + len <= buf_offset_ + buf_valid_;
  }

  uint64_t file_size() const { return file_size_; }
  const std::string& path() const { return path_; }

  // End of the record area (docs/format.md "Double-write buffer": the last
  // pages hold the slots); the whole file until set.
  uint64_t records_end() const { return records_end_; }
  void set_records_end(uint64_t end) { records_end_ = end; }

  // Recovery's double-write restore: from now on reads see `bytes` (at most
  // one page, from a page start) at `offset` instead of the file's bytes.
  void add_overlay(uint64_t offset, std::vector<uint8_t> bytes);
  void remove_overlay(uint64_t offset);

 private:
  IoBackend* io_;
  FileHandle file_;
  std::string path_;
  uint64_t file_size_;
  size_t alignment_;
  size_t window_bytes_;
  AlignedBuffer buf_;
  uint64_t buf_offset_ = 0;  // file offset of buf_[0]; multiple of alignment_
  uint64_t buf_valid_ = 0;   // bytes of buf_ holding file data
  uint64_t records_end_;
  std::vector<std::pair<uint64_t, std::vector<uint8_t>>> overlays_;  // applied after each read

  void apply_overlays();
};

}  // namespace sidewal::wal
