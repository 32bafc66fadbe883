// The listing rule (docs/archive.md "The archive's durable LSN"): from the
// names of a generation's pieces alone, which pieces make its log, where it
// starts and ends, and whether anything is missing. No I/O.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "archive/archive_names.h"
#include "archive/object_store.h"
#include "common/status.h"

namespace sidewal::archive {

struct Piece {
  std::string key;
  PieceName name;
  uint64_t size = 0;  // as listed
};

// One segment of the chain: the pieces the cover took, in offset order.
struct ChainSegment {
  uint64_t first_lsn = 0;  // F
  uint64_t last_lsn = 0;   // H of the last piece taken
  uint64_t end = 0;        // E of the last piece taken
  uint64_t segment_id = 0;
  uint64_t file_bytes = 0;
  uint64_t stamp_us = 0;  // of the last piece taken
  std::vector<Piece> cover;
};

struct Chain {
  std::vector<ChainSegment> segments;  // contiguous LSNs, in order
  uint64_t first_lsn = 0;              // 0 when the chain is empty
  uint64_t durable_lsn = 0;            // 0 when the chain is empty
  uint64_t pieces = 0;                 // every piece listed
  uint64_t bytes = 0;                  // their sizes
  uint64_t max_stamp_us = 0;
  // Pieces every byte of which a taken piece of the same segment holds
  // (tail pieces left by compaction): safe to delete.
  std::vector<Piece> superseded;
  // Groups before the chain's start that cannot be covered (expired).
  std::vector<Piece> before_start;
  // Not ok when something after the chain's start is not in it: the message
  // names the last piece of the chain and the first piece after the gap.
  Status gap;
  bool empty() const { return segments.empty(); }
};

// `listing` is ObjectStore::list(segments_prefix(...)). Pieces stamped after
// `max_stamp_us` are left out (restore to a time). Fails on a key that does
// not parse, a size that is not E - O, or pieces of one segment that
// disagree on segment id or file size: each error names the object.
Status build_chain(const std::vector<ObjectInfo>& listing, const std::string& segments_prefix,
                   uint64_t max_stamp_us, Chain* out);

}  // namespace sidewal::archive
