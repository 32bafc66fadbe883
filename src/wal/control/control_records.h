// Control records: the log's own record types (0x8000 and above) that the
// database writes so that replay is correct. docs/control-records.md is the
// contract for their payloads; this file is its encoder and validating decoder.
//
// The payload is authoritative: a control record's header tenant is not
// interpreted (a database may write every tombstone from a system tenant), the
// tenant a tombstone or purge applies to is the one in its payload.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/endian.h"
#include "common/status.h"
#include "wal/wal.h"

namespace sidewal::wal {

// The reserved range starts at wal.h's kFirstControlType; kFirstControlType
// itself and every type above the last known one are reserved for later use.
constexpr uint16_t kTypeCollectionTombstone = 0x8001;
constexpr uint16_t kTypeTemporalPurge = 0x8002;
constexpr uint16_t kTypeCalvinApplied = 0x8003;

// Collection names are 1..255 bytes of valid UTF-8 (length-prefixed by a u16).
constexpr size_t kMinCollectionNameBytes = 1;
constexpr size_t kMaxCollectionNameBytes = 255;

// Which storage engine of the database purged history (TemporalPurge). The
// values are part of the on-disk format; new engines get new values, never a
// reused one.
enum class EngineTag : uint8_t {
  kRowStore = 1,
  kColumnStore = 2,
  kDocumentStore = 3,
};
// "row-store", "column-store", "document-store"; "unknown" for other values.
const char* engine_tag_name(EngineTag tag);
bool is_known_engine_tag(uint8_t tag);

// 0x8001: every record of `collection` for `tenant` with an LSN below
// `purge_lsn` is dead.
struct CollectionTombstone {
  uint32_t tenant = 0;
  std::string collection;
  uint64_t purge_lsn = 0;  // >= 1: LSNs start at 1, so 0 would kill nothing
  bool operator==(const CollectionTombstone&) const = default;
};

// 0x8002: history of `collection` in `engine` older than `cutoff_ms` (system
// time, ms since the Unix epoch; may be negative) was purged.
struct TemporalPurge {
  uint32_t tenant = 0;
  EngineTag engine = EngineTag::kRowStore;
  std::string collection;
  int64_t cutoff_ms = 0;
  uint64_t versions_purged = 0;
  bool operator==(const TemporalPurge&) const = default;
};

// 0x8003: a deterministic (Calvin) scheduler applied everything up to
// (`epoch`, `position`) on `virtual_shard`.
struct CalvinApplied {
  uint64_t epoch = 0;
  uint32_t position = 0;
  uint32_t virtual_shard = 0;
  bool operator==(const CalvinApplied&) const = default;
};

// Encoders append the payload to *out. They validate their input exactly as
// the decoders do (empty, oversized or non-UTF-8 name, unknown engine tag,
// purge_lsn 0) and leave *out untouched on error, so nothing invalid is ever
// written to the log.
Status encode_collection_tombstone(const CollectionTombstone& in, std::vector<uint8_t>* out);
Status encode_temporal_purge(const TemporalPurge& in, std::vector<uint8_t>* out);
Status encode_calvin_applied(const CalvinApplied& in, std::vector<uint8_t>* out);

// Decoders accept exactly one well-formed payload: a short payload, trailing
// bytes, a bad name or an unknown engine tag is kInvalidArgument with a
// message naming the field and what was expected.
Result<CollectionTombstone> decode_collection_tombstone(std::span<const uint8_t> payload);
Result<TemporalPurge> decode_temporal_purge(std::span<const uint8_t> payload);
Result<CalvinApplied> decode_calvin_applied(std::span<const uint8_t> payload);

// True for the whole reserved range (0x8000-0xFFFF), known or not.
inline constexpr bool is_control_type(uint16_t type) { return type >= kFirstControlType; }
// True for the control types this version can decode.
bool is_known_control_type(uint16_t type);

// Ok for a known control type with a valid payload; kInvalidArgument for an
// application type, a reserved type this version does not know, or a
// malformed payload. The daemon accepts a record in the reserved range from a
// client only when this is ok.
Status validate_control_record(uint16_t type, std::span<const uint8_t> payload);

// One line for `sidewal dump`, e.g.
//   collection-tombstone tenant=7 collection="orders" purge_lsn=1234
// Malformed payloads and unknown types are described, never rejected: dump
// shows what is there. Collection names are escaped (", \, control bytes and
// invalid UTF-8 as \xNN), so the line is always printable.
std::string describe(uint16_t type, std::span<const uint8_t> payload);

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above
// U+10FFFF. On failure *bad_offset is the offset of the first invalid byte.
bool is_valid_utf8(std::string_view s, size_t* bad_offset);

// Checks a collection name (length and UTF-8); `what` prefixes the message.
Status validate_collection_name(std::string_view name, std::string_view what);

// The one parser of the name layout above (u16 name_len, then the name),
// shared by the decoders here and tombstones.h's leading_collection_name():
// reads it at `r`'s position, validates it and returns a view into the bytes
// `r` reads; `r` is then past the name. kInvalidArgument, prefixed with
// `what`, when the payload ends inside name_len or the name, or the name is bad.
Result<std::string_view> read_collection_name(ByteReader& r, std::string_view what);

}  // namespace sidewal::wal
