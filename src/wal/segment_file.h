// Creating and repairing segment files (docs/format.md "Directory"): a
// segment is born as a zero-filled, synced `.spare` with its preamble, and
// becomes part of the log only by rename + directory fsync (done by the writer).
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"
#include "wal/codecs/format.h"
#include "wal/io/io_backend.h"

namespace sidewal::wal {

// Creates `path` exclusively, zero-fills `bytes` (a multiple of `alignment`),
// writes the preamble for `segment_id` into page 0 and syncs. On failure the
// partial file is removed (best effort) and the original error returned.
Status create_spare_segment(IoBackend* io, const std::string& path, uint64_t segment_id,
                            uint64_t bytes, size_t alignment);
// The same with a given preamble (an encrypted segment's carries its salt),
// and how the zeros are made (IoBackend::preallocate_zeroed).
Status create_spare_segment(IoBackend* io, const std::string& path,
                            const format::Preamble& preamble, uint64_t bytes, size_t alignment,
                            ZeroFill fill = ZeroFill::kWrite);

// Overwrites [from, to) of an open segment with zeros, keeping the bytes of
// the first page below `from`, then syncs. Recovery uses it to cut a torn
// tail so that no stale record survives behind the new end of the log.
Status zero_segment_range(IoBackend* io, FileHandle file, const std::string& path, uint64_t from,
                          uint64_t to, size_t alignment);

std::string join_path(const std::string& dir, const std::string& name);

}  // namespace sidewal::wal
