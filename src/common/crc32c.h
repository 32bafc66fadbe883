// CRC32C (Castagnoli) through ISA-L's crc32_iscsi, which uses the SSE4.2
// crc32 instruction where the CPU has it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sidewal {

// Extends `crc` (0 to start) over `n` bytes. extend(extend(0,a),b) equals the
// CRC of a followed by b, so a record's CRC can cover non-contiguous pieces.
uint32_t crc32c_extend(uint32_t crc, const void* data, size_t n);
inline uint32_t crc32c(const void* data, size_t n) { return crc32c_extend(0, data, n); }

}  // namespace sidewal
