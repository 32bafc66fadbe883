#include "server/read_filter.h"

#include <algorithm>

#include "server/log.h"
#include "wal/control/control_records.h"

namespace sidewal::server {

bool is_dead_record(const wal::ReplayState& state, const wal::Record& record) {
  // A payload outside the convention (an error here) names no collection, so
  // no tombstone can be said to cover it: it is delivered.
  Result<bool> dead = state.is_dead_by_convention(record);
  return dead.ok() && *dead;
}

void strip_dead(const wal::ReplayState& state, std::vector<wal::Record>* records) {
  std::erase_if(*records, [&](const wal::Record& r) { return is_dead_record(state, r); });
}

Status TombstoneTracker::filter(wal::Wal* wal, std::vector<wal::Record>* chunk) {
  MutexLock lock(mu_);
  SIDEWAL_RETURN_IF_ERROR(catch_up_locked(wal, *chunk));
  strip_dead(state_, chunk);
  return Status::Ok();
}

uint64_t TombstoneTracker::covered_lsn() const {
  MutexLock lock(mu_);
  return covered_;
}

size_t TombstoneTracker::tombstones() const {
  MutexLock lock(mu_);
  return state_.tombstones().size();
}

void TombstoneTracker::feed_locked(const wal::Record& record) {
  SW_ASSERT(record.lsn > covered_);  // LSN order: ReplayState needs it
  Status st = state_.add(record);
  if (!st.ok()) {
    // The daemon validates control records before writing them, so this is
    // a record from an older writer: it is skipped, as replay would.
    log::warn("skip-dead: control record ignored", {{"error", st.ToString()}});
  }
  covered_ = record.lsn;
}

Status TombstoneTracker::catch_up_locked(wal::Wal* wal, const std::vector<wal::Record>& chunk) {
  // The chunk is durable, so the durable LSN read after it is at least its end.
  const uint64_t target = wal->durable_lsn();
  if (!chunk.empty() && chunk.front().lsn <= covered_ + 1) {
    for (const wal::Record& r : chunk) {
      if (r.lsn > covered_) feed_locked(r);
    }
  }
  std::vector<wal::Record> records;
  while (covered_ < target) {
    uint64_t from = covered_ + 1;
    uint64_t next = from;
    records.clear();
    Status st = wal->read(from, wal::ReadLimits{.max_records = 0, .max_bytes = kCatchUpChunkBytes},
                          &records, &next);
    if (st.code() == Code::kTruncated) {
      // Segments below the first LSN were deleted (TRUNCATE) before this set
      // saw them: their records are gone, and so are their tombstones.
      const uint64_t first = wal->status().first_lsn;
      SW_ASSERT(first > from);
      covered_ = first - 1;
      continue;
    }
    SIDEWAL_RETURN_IF_ERROR(st);
    if (records.empty()) break;  // nothing durable past `from` (target raced a reopen)
    for (const wal::Record& r : records) feed_locked(r);
  }
  return Status::Ok();
}

}  // namespace sidewal::server
