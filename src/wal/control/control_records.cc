#include "wal/control/control_records.h"

#include <cinttypes>
#include <cstdio>

#include "common/endian.h"

namespace sidewal::wal {
namespace {

// Fixed parts of each payload (docs/control-records.md).
constexpr size_t kTombstoneFixedBytes = 4 + 2 + 8;  // tenant, name_len, purge_lsn
constexpr size_t kPurgeFixedBytes =
    4 + 1 + 2 + 8 + 8;                      // tenant, engine, name_len, cutoff, versions
constexpr size_t kCalvinBytes = 8 + 4 + 4;  // epoch, position, shard

const char* control_type_name(uint16_t type) {
  switch (type) {
    case kTypeCollectionTombstone: return "collection-tombstone";
    case kTypeTemporalPurge: return "temporal-purge";
    case kTypeCalvinApplied: return "calvin-applied";
    default: return nullptr;
  }
}

std::string hex16(uint16_t v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%04X", v);
  return buf;
}

// Length of the UTF-8 sequence starting at s[i] if it is valid, else 0.
size_t utf8_sequence_length(std::string_view s, size_t i) {
  const auto b0 = static_cast<uint8_t>(s[i]);
  if (b0 < 0x80) return 1;
  size_t n;
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) lo = 0xA0;  // overlong
    if (b0 == 0xED) hi = 0x9F;  // UTF-16 surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) lo = 0x90;  // overlong
    if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;  // continuation byte, C0/C1 overlong lead, or F5..FF
  }
  if (s.size() - i < n) return 0;
  const auto b1 = static_cast<uint8_t>(s[i + 1]);
  if (b1 < lo || b1 > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    const auto b = static_cast<uint8_t>(s[i + k]);
    if (b < 0x80 || b > 0xBF) return 0;
  }
  return n;
}

// Name as a quoted, always-printable string for dump and error messages.
std::string quote_name(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<uint8_t>(s[i]);
    const size_t n = utf8_sequence_length(s, i);
    if (n > 1) {
      out.append(s.substr(i, n));
      i += n;
      continue;
    }
    if (n == 1 && b >= 0x20 && b != 0x7F && b != '"' && b != '\\') {
      out.push_back(static_cast<char>(b));
    } else if (b == '"' || b == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(b));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", b);
      out += buf;
    }
    ++i;
  }
  out.push_back('"');
  return out;
}

void put_name(ByteWriter& w, const std::string& name) {
  w.u16(static_cast<uint16_t>(name.size()));
  w.bytes(name.data(), name.size());
}

Status check_size(std::span<const uint8_t> payload, size_t min_bytes, const char* what) {
  if (payload.size() < min_bytes) {
    return Status::InvalidArgument(std::string(what) + ": payload is " +
                                   std::to_string(payload.size()) + " bytes, at least " +
                                   std::to_string(min_bytes) + " expected");
  }
  return Status::Ok();
}

Status check_consumed(const ByteReader& r, const char* what, const char* last_field) {
  if (r.remaining() != 0) {
    return Status::InvalidArgument(std::string(what) + ": " + std::to_string(r.remaining()) +
                                   " trailing bytes after " + last_field);
  }
  return Status::Ok();
}

constexpr const char* kTombstoneWhat = "collection tombstone (0x8001)";
constexpr const char* kPurgeWhat = "temporal purge (0x8002)";
constexpr const char* kCalvinWhat = "calvin applied (0x8003)";

Status check_purge_lsn(uint64_t purge_lsn) {
  if (purge_lsn == 0) {
    return Status::InvalidArgument(std::string(kTombstoneWhat) +
                                   ": purge_lsn is 0; LSNs start at 1, so it would kill nothing");
  }
  return Status::Ok();
}

Status check_engine_tag(uint8_t tag) {
  if (!is_known_engine_tag(tag)) {
    return Status::InvalidArgument(std::string(kPurgeWhat) + ": unknown engine tag " +
                                   std::to_string(tag) +
                                   " (known: 1 row-store, 2 column-store, 3 document-store)");
  }
  return Status::Ok();
}

}  // namespace

const char* engine_tag_name(EngineTag tag) {
  switch (tag) {
    case EngineTag::kRowStore: return "row-store";
    case EngineTag::kColumnStore: return "column-store";
    case EngineTag::kDocumentStore: return "document-store";
  }
  return "unknown";
}

bool is_known_engine_tag(uint8_t tag) { return tag >= 1 && tag <= 3; }

bool is_known_control_type(uint16_t type) { return control_type_name(type) != nullptr; }

bool is_valid_utf8(std::string_view s, size_t* bad_offset) {
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_sequence_length(s, i);
    if (n == 0) {
      if (bad_offset != nullptr) *bad_offset = i;
      return false;
    }
    i += n;
  }
  return true;
}

Status validate_collection_name(std::string_view name, std::string_view what) {
  if (name.size() < kMinCollectionNameBytes) {
    return Status::InvalidArgument(std::string(what) + ": collection name is empty (1 to " +
                                   std::to_string(kMaxCollectionNameBytes) + " bytes expected)");
  }
  if (name.size() > kMaxCollectionNameBytes) {
    return Status::InvalidArgument(std::string(what) + ": collection name is " +
                                   std::to_string(name.size()) + " bytes, at most " +
                                   std::to_string(kMaxCollectionNameBytes) + " allowed");
  }
  size_t bad = 0;
  if (!is_valid_utf8(name, &bad)) {
    return Status::InvalidArgument(std::string(what) + ": collection name " + quote_name(name) +
                                   " is not valid UTF-8 (at byte " + std::to_string(bad) + ")");
  }
  return Status::Ok();
}

Status encode_collection_tombstone(const CollectionTombstone& in, std::vector<uint8_t>* out) {
  SIDEWAL_RETURN_IF_ERROR(validate_collection_name(in.collection, kTombstoneWhat));
  SIDEWAL_RETURN_IF_ERROR(check_purge_lsn(in.purge_lsn));
  out->reserve(out->size() + kTombstoneFixedBytes + in.collection.size());
  ByteWriter w(out);
  w.u32(in.tenant);
  put_name(w, in.collection);
  w.u64(in.purge_lsn);
  return Status::Ok();
}

Status encode_temporal_purge(const TemporalPurge& in, std::vector<uint8_t>* out) {
  SIDEWAL_RETURN_IF_ERROR(check_engine_tag(static_cast<uint8_t>(in.engine)));
  SIDEWAL_RETURN_IF_ERROR(validate_collection_name(in.collection, kPurgeWhat));
  out->reserve(out->size() + kPurgeFixedBytes + in.collection.size());
  ByteWriter w(out);
  w.u32(in.tenant);
  w.u8(static_cast<uint8_t>(in.engine));
  put_name(w, in.collection);
  w.i64(in.cutoff_ms);
  w.u64(in.versions_purged);
  return Status::Ok();
}

Status encode_calvin_applied(const CalvinApplied& in, std::vector<uint8_t>* out) {
  ByteWriter w(out);
  w.u64(in.epoch);
  w.u32(in.position);
  w.u32(in.virtual_shard);
  return Status::Ok();
}

Result<std::string_view> read_collection_name(ByteReader& r, std::string_view what) {
  uint16_t len = 0;
  if (!r.u16(&len))
    return Status::InvalidArgument(std::string(what) + ": payload ends inside name_len");
  const uint8_t* p = nullptr;
  if (!r.bytes(len, &p)) {
    return Status::InvalidArgument(std::string(what) + ": name_len says " + std::to_string(len) +
                                   " bytes but only " + std::to_string(r.remaining()) +
                                   " remain in the payload");
  }
  std::string_view name(reinterpret_cast<const char*>(p), len);
  SIDEWAL_RETURN_IF_ERROR(validate_collection_name(name, what));
  return name;
}

Result<CollectionTombstone> decode_collection_tombstone(std::span<const uint8_t> payload) {
  SIDEWAL_RETURN_IF_ERROR(check_size(payload, kTombstoneFixedBytes, kTombstoneWhat));
  ByteReader r(payload.data(), payload.size());
  CollectionTombstone t;
  // The size check above guarantees the tenant is there.
  SW_ASSERT(r.u32(&t.tenant));
  auto name = read_collection_name(r, kTombstoneWhat);
  if (!name.ok()) return name.status();
  t.collection.assign(*name);
  if (!r.u64(&t.purge_lsn)) {
    return Status::InvalidArgument(
        std::string(kTombstoneWhat) +
        ": payload ends inside purge_lsn (8 bytes expected after the name, " +
        std::to_string(r.remaining()) + " present)");
  }
  SIDEWAL_RETURN_IF_ERROR(check_consumed(r, kTombstoneWhat, "purge_lsn"));
  SIDEWAL_RETURN_IF_ERROR(check_purge_lsn(t.purge_lsn));
  return t;
}

Result<TemporalPurge> decode_temporal_purge(std::span<const uint8_t> payload) {
  SIDEWAL_RETURN_IF_ERROR(check_size(payload, kPurgeFixedBytes, kPurgeWhat));
  ByteReader r(payload.data(), payload.size());
  TemporalPurge p;
  uint8_t tag = 0;
  SW_ASSERT(r.u32(&p.tenant));
  SW_ASSERT(r.u8(&tag));
  SIDEWAL_RETURN_IF_ERROR(check_engine_tag(tag));
  p.engine = static_cast<EngineTag>(tag);
  auto name = read_collection_name(r, kPurgeWhat);
  if (!name.ok()) return name.status();
  p.collection.assign(*name);
  if (!r.i64(&p.cutoff_ms) || !r.u64(&p.versions_purged)) {
    return Status::InvalidArgument(std::string(kPurgeWhat) +
                                   ": payload ends inside cutoff_ms/versions_purged (16 bytes "
                                   "expected after the name)");
  }
  SIDEWAL_RETURN_IF_ERROR(check_consumed(r, kPurgeWhat, "versions_purged"));
  return p;
}

Result<CalvinApplied> decode_calvin_applied(std::span<const uint8_t> payload) {
  if (payload.size() != kCalvinBytes) {
    return Status::InvalidArgument(std::string(kCalvinWhat) + ": payload is " +
                                   std::to_string(payload.size()) + " bytes, exactly " +
                                   std::to_string(kCalvinBytes) + " expected");
  }
  ByteReader r(payload.data(), payload.size());
  CalvinApplied c;
  SW_ASSERT(r.u64(&c.epoch));
  SW_ASSERT(r.u32(&c.position));
  SW_ASSERT(r.u32(&c.virtual_shard));
  return c;
}

Status validate_control_record(uint16_t type, std::span<const uint8_t> payload) {
  switch (type) {
    case kTypeCollectionTombstone: return decode_collection_tombstone(payload).status();
    case kTypeTemporalPurge: return decode_temporal_purge(payload).status();
    case kTypeCalvinApplied: return decode_calvin_applied(payload).status();
    default: break;
  }
  if (!is_control_type(type)) {
    return Status::InvalidArgument("record type " + hex16(type) +
                                   " is an application type, not a control record");
  }
  return Status::InvalidArgument("record type " + hex16(type) +
                                 " is reserved for control records and not known to this "
                                 "version (known: 0x8001, 0x8002, 0x8003)");
}

std::string describe(uint16_t type, std::span<const uint8_t> payload) {
  const char* name = control_type_name(type);
  if (name == nullptr) {
    const char* kind = is_control_type(type) ? "reserved" : "application";
    return std::string(kind) + " type=" + hex16(type) + " bytes=" + std::to_string(payload.size());
  }
  char buf[160];
  switch (type) {
    case kTypeCollectionTombstone: {
      auto t = decode_collection_tombstone(payload);
      if (!t.ok()) break;
      std::snprintf(buf, sizeof buf, " purge_lsn=%" PRIu64, t->purge_lsn);
      return std::string(name) + " tenant=" + std::to_string(t->tenant) +
             " collection=" + quote_name(t->collection) + buf;
    }
    case kTypeTemporalPurge: {
      auto p = decode_temporal_purge(payload);
      if (!p.ok()) break;
      std::snprintf(buf, sizeof buf, " cutoff_ms=%" PRId64 " versions_purged=%" PRIu64,
                    p->cutoff_ms, p->versions_purged);
      return std::string(name) + " tenant=" + std::to_string(p->tenant) +
             " engine=" + engine_tag_name(p->engine) + " collection=" + quote_name(p->collection) +
             buf;
    }
    case kTypeCalvinApplied: {
      auto c = decode_calvin_applied(payload);
      if (!c.ok()) break;
      std::snprintf(buf, sizeof buf, " epoch=%" PRIu64 " position=%" PRIu32 " shard=%" PRIu32,
                    c->epoch, c->position, c->virtual_shard);
      return std::string(name) + buf;
    }
    default: break;
  }
  return std::string(name) + " INVALID: " + validate_control_record(type, payload).message();
}

}  // namespace sidewal::wal
