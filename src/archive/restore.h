// Restore (docs/archive.md "Restore") and the listing behind `sidewal archive
// list`: read a generation from an ObjectStore, check every object, CRC and
// LSN, and write a log directory that Wal::open recovers like its own.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "archive/chain.h"
#include "archive/object_store.h"
#include "common/status.h"

namespace sidewal::archive {

struct GenerationInfo {
  std::string id;
  Chain chain;
  Status problem;  // a damaged listing (build_chain's error) or the chain's gap
};

// Every generation under the prefix, each with its chain, in id order.
Status list_generations(ObjectStore* store, const std::string& prefix,
                        std::vector<GenerationInfo>* out);

struct RestoreOptions {
  std::string prefix;
  std::string dir;          // must be missing or empty
  std::string generation;   // empty: the one with the newest piece
  uint64_t to_lsn = 0;      // 0: the generation's durable LSN; else exactly this LSN
  uint64_t to_time_us = 0;  // 0: no time limit; else pieces stamped at or before it
};

struct RestoreReport {
  std::string generation;
  uint64_t first_lsn = 0;
  uint64_t last_lsn = 0;
  uint64_t segments = 0;
  uint64_t pieces = 0;  // objects downloaded
  uint64_t bytes = 0;   // bytes downloaded
  uint64_t records = 0;
};

Status restore(ObjectStore* store, const RestoreOptions& options, RestoreReport* report);

}  // namespace sidewal::archive
