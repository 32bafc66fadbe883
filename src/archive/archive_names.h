// Object names of the archive (docs/archive.md "Pieces", "Generations"): pure
// functions over strings, no I/O.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace sidewal::archive {

// One piece: bytes [begin, end) of the segment file whose first LSN is
// segment_first_lsn, holding records first_lsn..last_lsn.
struct PieceName {
  uint64_t segment_first_lsn = 0;  // F
  uint64_t begin = 0;              // O
  uint64_t end = 0;                // E
  uint64_t first_lsn = 0;          // L
  uint64_t last_lsn = 0;           // H
  uint64_t segment_id = 0;         // I
  uint64_t file_bytes = 0;         // Z
  uint64_t stamp_us = 0;           // T: microseconds since the epoch, UTC
  bool operator==(const PieceName&) const = default;
};

// "P/" (or "" for an empty prefix): every key starts with it.
std::string key_root(const std::string& prefix);
// "P/generations/"
std::string generations_prefix(const std::string& prefix);
// "P/generations/G/"
std::string generation_prefix(const std::string& prefix, const std::string& generation);
// "P/generations/G/segments/"
std::string segments_prefix(const std::string& prefix, const std::string& generation);
// "P/generations/G/GENERATION"
std::string generation_marker_key(const std::string& prefix, const std::string& generation);

// "P/generations/G/segments/F/O-E.L-H.I.Z.T.piece"
std::string piece_key(const std::string& prefix, const std::string& generation,
                      const PieceName& name);
// Parses the part of a key after segments_prefix(): "F/O-E.L-H.I.Z.T.piece".
// Checks the fields against each other (begin < end, first <= last,
// segment_first_lsn <= first_lsn, end <= file_bytes); false on anything else.
bool parse_piece_suffix(const std::string& suffix, PieceName* out);

// 16 lowercase hex digits.
bool valid_generation_id(const std::string& id);
// 64 random bits (RAND_bytes) as 16 hex digits.
Result<std::string> new_generation_id();

// Splits "s3://BUCKET/PREFIX" (PREFIX may be empty or nested, trailing '/'
// dropped).
Status parse_archive_url(const std::string& url, std::string* bucket, std::string* prefix);

// Microseconds since the epoch as RFC 3339 UTC ("2026-12-06T02:59:00.123456Z")
// and back (seconds precision or any fraction; 'Z' or a numeric offset).
std::string format_stamp(uint64_t stamp_us);
bool parse_rfc3339(const std::string& text, uint64_t* stamp_us);
uint64_t now_stamp_us();

}  // namespace sidewal::archive
