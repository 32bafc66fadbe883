#include "wal/control/tombstones.h"

#include <tuple>

#include "common/endian.h"

namespace sidewal::wal {

void TombstoneSet::add(uint32_t tenant, std::string_view collection, uint64_t purge_lsn) {
  ByName& names = by_tenant_[tenant];
  auto it = names.find(collection);
  if (it == names.end()) {
    names.emplace(std::string(collection), purge_lsn);
    ++size_;
  } else if (purge_lsn > it->second) {
    it->second = purge_lsn;
  }
}

uint64_t TombstoneSet::purge_lsn(uint32_t tenant, std::string_view collection) const {
  auto t = by_tenant_.find(tenant);
  if (t == by_tenant_.end()) return 0;
  auto it = t->second.find(collection);
  return it == t->second.end() ? 0 : it->second;
}

bool TombstoneSet::is_dead(uint32_t tenant, std::string_view collection, uint64_t lsn) const {
  return lsn < purge_lsn(tenant, collection);
}

void TombstoneSet::for_each(
    const std::function<void(uint32_t, const std::string&, uint64_t)>& fn) const {
  for (const auto& [tenant, names] : by_tenant_) {
    for (const auto& [name, lsn] : names) fn(tenant, name, lsn);
  }
}

Status ReplayState::add(uint64_t lsn, uint16_t type, uint32_t /*tenant*/,
                        std::span<const uint8_t> payload) {
  if (lsn == 0 || lsn <= last_lsn_) {
    return Status::InvalidArgument("replay: record lsn " + std::to_string(lsn) +
                                   " is not above the previous lsn " + std::to_string(last_lsn_) +
                                   " (records must be fed in LSN order)");
  }
  auto corrupt = [&](const Status& st) {
    return Status::Corruption("replay: control record at lsn " + std::to_string(lsn) + ": " +
                              st.message());
  };
  switch (type) {
    case kTypeCollectionTombstone: {
      auto t = decode_collection_tombstone(payload);
      if (!t.ok()) return corrupt(t.status());
      tombstones_.add(t->tenant, t->collection, t->purge_lsn);
      break;
    }
    case kTypeTemporalPurge: {
      auto p = decode_temporal_purge(payload);
      if (!p.ok()) return corrupt(p.status());
      purges_.push_back(TemporalPurgeEntry{lsn, std::move(*p)});
      break;
    }
    case kTypeCalvinApplied: {
      auto c = decode_calvin_applied(payload);
      if (!c.ok()) return corrupt(c.status());
      auto [it, inserted] = calvin_.try_emplace(c->virtual_shard, CalvinMarker{lsn, *c});
      if (!inserted) {
        const CalvinApplied& held = it->second.applied;
        const auto next = std::tie(c->epoch, c->position);
        const auto cur = std::tie(held.epoch, held.position);
        if (next > cur) {
          it->second = CalvinMarker{lsn, *c};
        } else if (next < cur) {
          ++calvin_regressions_;
        }
      }
      break;
    }
    default:
      if (is_control_type(type)) ++unknown_control_;
      break;
  }
  if (is_control_type(type)) ++control_records_;
  ++records_;
  last_lsn_ = lsn;
  return Status::Ok();
}

const CalvinMarker* ReplayState::calvin_marker(uint32_t virtual_shard) const {
  auto it = calvin_.find(virtual_shard);
  return it == calvin_.end() ? nullptr : &it->second;
}

Result<bool> ReplayState::is_dead_by_convention(const Record& record) const {
  if (is_control_type(record.type)) return false;
  auto name = leading_collection_name(record.payload);
  if (!name.ok()) {
    return Status::InvalidArgument("record lsn " + std::to_string(record.lsn) + ": " +
                                   name.status().message());
  }
  return tombstones_.is_dead(record.tenant, *name, record.lsn);
}

Result<std::string_view> leading_collection_name(std::span<const uint8_t> payload) {
  constexpr const char* kWhat = "payload by the collection-name convention";
  // The parse is control_records.h's; only the wording of a truncated
  // payload is this API's own (callers and tests know these texts).
  if (payload.size() < sizeof(uint16_t)) {
    return Status::InvalidArgument(std::string(kWhat) + ": payload is " +
                                   std::to_string(payload.size()) +
                                   " bytes, too short for the u16 name length");
  }
  const size_t after_len = payload.size() - sizeof(uint16_t);
  if (const uint16_t len = get_u16(payload.data()); len > after_len) {
    return Status::InvalidArgument(std::string(kWhat) + ": name length " + std::to_string(len) +
                                   " exceeds the " + std::to_string(after_len) +
                                   " bytes that follow it");
  }
  ByteReader r(payload.data(), payload.size());
  return read_collection_name(r, kWhat);
}

Status encode_leading_collection_name(std::string_view collection, std::span<const uint8_t> rest,
                                      std::vector<uint8_t>* out) {
  SIDEWAL_RETURN_IF_ERROR(
      validate_collection_name(collection, "payload by the collection-name convention"));
  ByteWriter w(out);
  w.u16(static_cast<uint16_t>(collection.size()));
  w.bytes(collection.data(), collection.size());
  w.bytes(rest.data(), rest.size());
  return Status::Ok();
}

}  // namespace sidewal::wal
