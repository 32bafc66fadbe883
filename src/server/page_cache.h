// Page-cache measurements taken at scrape time: how much of the host's memory
// is page cache, and how much of the log's own files sits in it. The second
// number is the proof that O_DIRECT keeps the log out of the cache.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace sidewal::server {

// "Cached:" from /proc/meminfo, in bytes (`path` is a parameter for tests).
Result<uint64_t> meminfo_cached_bytes(const std::string& path = "/proc/meminfo");

// Sum over `files` of the bytes whose pages are resident, measured with
// mincore() over a read-only mapping that is unmapped again at once. A file
// that vanished meanwhile (truncated away) counts as zero.
uint64_t resident_bytes(const std::vector<std::string>& files);

}  // namespace sidewal::server
