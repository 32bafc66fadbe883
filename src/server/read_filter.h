// The daemon's side of the READ flag SKIP_DEAD (docs/protocol.md): which
// records are dead by collection tombstone, decided with the engine's own
// replay logic (wal::ReplayState, docs/control-records.md) and the record's
// collection by the optional payload convention (leading collection name).
//
// One TombstoneTracker per daemon, shared by every SKIP_DEAD READ. It holds a
// ReplayState fed with every durable record in LSN order up to covered_lsn():
// built lazily by the first SKIP_DEAD READ (one pass over the log through
// Wal::read, so a daemon whose clients never ask pays nothing), then extended
// by each later filter() to the durable LSN of that moment. A record passed
// to filter() is therefore judged against every tombstone durable when it is
// sent, including tombstones at LSNs above it (a tombstone only kills records
// below its purge LSN, so the latest set is right for any reader position).
//
// Uses only wal/wal.h (reading) and wal/control/tombstones.h (the replay logic): no
// disk layout here.
#pragma once

#include <cstdint>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"
#include "wal/control/tombstones.h"
#include "wal/wal.h"

namespace sidewal::server {

// True when `record` is dead by `state`'s tombstones: an application record
// whose payload starts with a collection name (the convention) and whose
// (tenant, name) has a tombstone with purge LSN above its LSN. Control
// records (tombstones included) are never dead; a payload that does not follow
// the convention cannot be attributed to a collection and is never dead.
bool is_dead_record(const wal::ReplayState& state, const wal::Record& record);

// Removes the dead records from *records (order kept).
void strip_dead(const wal::ReplayState& state, std::vector<wal::Record>* records);

class TombstoneTracker {
 public:
  // Records read per catch-up step (bytes of payload).
  static constexpr uint64_t kCatchUpChunkBytes = 4u << 20;

  // Brings the set up to the log's durable LSN (reading what it has not seen;
  // `chunk`, records the caller just read, is fed first when it continues the
  // covered range, so a follower near the head costs no second read), then
  // strips the dead records from *chunk. Blocking: call it where Wal::read may
  // run (the daemon's blocking pool). Thread-safe.
  Status filter(wal::Wal* wal, std::vector<wal::Record>* chunk) EXCLUDES(mu_);

  // Every record with lsn <= covered_lsn() has been fed (0 = nothing yet).
  uint64_t covered_lsn() const EXCLUDES(mu_);
  // Tombstones in force, for tests and logs.
  size_t tombstones() const EXCLUDES(mu_);

 private:
  void feed_locked(const wal::Record& record) REQUIRES(mu_);
  Status catch_up_locked(wal::Wal* wal, const std::vector<wal::Record>& chunk) REQUIRES(mu_);

  mutable Mutex mu_;
  // Fed in LSN order, every record <= covered_.
  wal::ReplayState state_ GUARDED_BY(mu_);
  uint64_t covered_ GUARDED_BY(mu_) = 0;
};

}  // namespace sidewal::server
