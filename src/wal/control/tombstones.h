// Replay helpers: what the control records in a range of the log say, built
// in one pass (issue 6's extract_tombstones): which records are dead by
// collection tombstone, where each Calvin shard's applied sequence ends, and
// the temporal purges in log order.
//
// How a record names its collection: application records carry no collection
// in the log's header; only the database knows which collection a record
// belongs to. So TombstoneSet::is_dead takes the collection from the caller.
// For databases that follow the optional convention of starting every
// application payload with the collection name (u16 length, 1-255 bytes of
// UTF-8, see docs/control-records.md), leading_collection_name() and
// ReplayState::is_dead_by_convention() do that lookup for them.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "wal/control/control_records.h"
#include "wal/wal.h"

namespace sidewal::wal {

// (tenant, collection) -> highest purge LSN seen.
class TombstoneSet {
 public:
  // Keeps the highest purge_lsn per (tenant, collection): tombstones only
  // ever widen what is dead, whatever order they are added in.
  void add(uint32_t tenant, std::string_view collection, uint64_t purge_lsn);

  // True when a tombstone for (tenant, collection) has purge_lsn > lsn.
  bool is_dead(uint32_t tenant, std::string_view collection, uint64_t lsn) const;

  // Highest purge LSN for (tenant, collection), 0 when none.
  uint64_t purge_lsn(uint32_t tenant, std::string_view collection) const;

  size_t size() const { return size_; }

  // Every entry (order unspecified), for `sidewal verify`.
  void for_each(const std::function<void(uint32_t tenant, const std::string& collection,
                                         uint64_t purge_lsn)>& fn) const;

 private:
  // Transparent hashing so lookups by string_view do not allocate.
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using ByName = std::unordered_map<std::string, uint64_t, NameHash, std::equal_to<>>;
  std::unordered_map<uint32_t, ByName> by_tenant_;
  size_t size_ = 0;
};

// A Calvin-applied marker and where it was found.
struct CalvinMarker {
  uint64_t lsn = 0;  // LSN of the control record
  CalvinApplied applied;
  bool operator==(const CalvinMarker&) const = default;
};

struct TemporalPurgeEntry {
  uint64_t lsn = 0;
  TemporalPurge purge;
  bool operator==(const TemporalPurgeEntry&) const = default;
};

// Built by feeding every record of a range, in LSN order. Application records
// are skipped without looking at their payload (a header-only reader can
// pass an empty payload for them).
class ReplayState {
 public:
  // kInvalidArgument when lsn is 0 or not above the previous record's;
  // kCorruption (naming the LSN) for a known control record whose payload
  // does not decode. Reserved control types this version does not know are
  // counted and skipped: a newer writer may have added them.
  // On error the state is unchanged.
  Status add(uint64_t lsn, uint16_t type, uint32_t tenant, std::span<const uint8_t> payload);
  Status add(const Record& record) {
    return add(record.lsn, record.type, record.tenant, record.payload);
  }

  const TombstoneSet& tombstones() const { return tombstones_; }

  // Per virtual shard, the marker with the highest (epoch, position); equal
  // markers keep the first. A marker below the one already held is counted
  // in calvin_regressions() (a scheduler that went backwards; replay still
  // ends each shard at its highest marker).
  const std::unordered_map<uint32_t, CalvinMarker>& calvin_markers() const { return calvin_; }
  const CalvinMarker* calvin_marker(uint32_t virtual_shard) const;
  uint64_t calvin_regressions() const { return calvin_regressions_; }

  // Temporal purges in LSN order.
  const std::vector<TemporalPurgeEntry>& temporal_purges() const { return purges_; }

  uint64_t records() const { return records_; }
  uint64_t control_records() const { return control_records_; }
  uint64_t unknown_control_records() const { return unknown_control_; }
  uint64_t last_lsn() const { return last_lsn_; }

  // The optional convention: the record's collection is the name its payload
  // starts with. Control records are never dead. An application payload that
  // does not start with a valid name is kInvalidArgument naming the LSN.
  Result<bool> is_dead_by_convention(const Record& record) const;

 private:
  TombstoneSet tombstones_;
  std::unordered_map<uint32_t, CalvinMarker> calvin_;
  std::vector<TemporalPurgeEntry> purges_;
  uint64_t calvin_regressions_ = 0;
  uint64_t records_ = 0;
  uint64_t control_records_ = 0;
  uint64_t unknown_control_ = 0;
  uint64_t last_lsn_ = 0;
};

// The optional convention's parser: the u16-length-prefixed collection name
// at the start of an application payload (a view into `payload`), validated
// like a control record's name. The bytes after it are the database's own.
Result<std::string_view> leading_collection_name(std::span<const uint8_t> payload);

// Builds a convention payload: u16 length, name, then `rest`.
Status encode_leading_collection_name(std::string_view collection, std::span<const uint8_t> rest,
                                      std::vector<uint8_t>* out);

}  // namespace sidewal::wal
