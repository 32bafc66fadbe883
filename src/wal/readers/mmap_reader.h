// MmapReader: the catch-up reader for a follower far behind the head, over
// a log directory (a closed log, or an open one up to its durable LSN).
//
// It maps one segment at a time read-only, walks its records checking every
// CRC exactly like SequentialReader, and gives its pages back as it goes:
// every `release_bytes` behind the read position it calls
// madvise(MADV_DONTNEED) on the mapping (drops this process's mapping of the
// pages) and posix_fadvise(POSIX_FADV_DONTNEED) on the file (asks the kernel
// to evict them from the page cache), so a replay of gigabytes leaves the
// host's page cache where it found it. bench/replay_bench measures it
// against the O_DIRECT reader (BENCHMARKS.md "Replay").
//
// It uses the file descriptors of the OS directly, not IoBackend (mmap has no
// IoBackend equivalent), so SimDisk cannot drive it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/status.h"
#include "wal/codecs/format.h"
#include "wal/codecs/segment_keys.h"

namespace sidewal::wal {

struct MmapReaderStats {
  uint64_t records = 0;
  uint64_t payload_bytes = 0;
  uint64_t bytes_released = 0;  // given back with MADV_DONTNEED + FADV_DONTNEED
  uint64_t segments = 0;
};

struct MmapRecord {
  format::RecordHeader header;
  const uint8_t* payload = nullptr;  // valid during the callback only (plaintext)
};

// Calls `on_record` for every record with from_lsn <= lsn <= to_lsn (to_lsn
// UINT64_MAX: to the end of the last segment's records), in order; stops
// early when it returns false. kCorruption names segment and offset.
// Encrypted segments are decrypted with `keys` (a failed tag is kCorruption);
// MmapRecord then carries the plaintext and its length.
Status mmap_replay(const std::string& dir, uint64_t from_lsn, uint64_t to_lsn,
                   const std::function<bool(const MmapRecord&)>& on_record, MmapReaderStats* stats,
                   uint64_t release_bytes = 8ull << 20,
                   std::shared_ptr<SegmentKeys> keys = nullptr);

}  // namespace sidewal::wal
