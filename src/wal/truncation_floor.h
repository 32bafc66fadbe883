// TruncationFloor: how far truncation may go while someone else still needs
// the segments (the archive's uploader: the LSN after the last one the archive
// holds, docs/archive.md). truncate_before(lsn) acts as truncate_before(
// min(lsn, keep_from())), whoever calls it (TRUNCATE, retention).
#pragma once

#include <atomic>
#include <cstdint>

namespace sidewal::wal {

class TruncationFloor {
 public:
  // Truncation keeps every record at or above this LSN; 0 (the start, before
  // the holder knows what it needs) keeps everything.
  uint64_t keep_from() const { return keep_from_.load(std::memory_order_acquire); }
  void set_keep_from(uint64_t lsn) { keep_from_.store(lsn, std::memory_order_release); }

 private:
  std::atomic<uint64_t> keep_from_{0};
};

}  // namespace sidewal::wal
