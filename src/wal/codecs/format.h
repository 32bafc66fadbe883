// The on-disk format of a segment (docs/format.md is the contract): preamble,
// record header, CRC and file names. Pure functions over bytes; no I/O.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "common/status.h"

namespace sidewal::wal::format {

constexpr uint32_t kMagic = 0x4C415753;  // "SWAL" as bytes 53 57 41 4C
constexpr uint8_t kVersion = 1;
constexpr uint8_t kCipherNone = 0;
constexpr uint8_t kCipherAes256Gcm = 1;

constexpr size_t kPreambleBytes = 16;  // every segment: magic, version, cipher, key id, segment id
// Cipher 1 extends the preamble (docs/format.md "Encrypted segments"): a
// 16-byte random salt at 16 and the 8-byte key fingerprint at 32; records
// start at 40 (a multiple of kRecordAlign).
constexpr size_t kSaltBytes = 16;
constexpr size_t kCipherPreambleBytes = kPreambleBytes + kSaltBytes + 8;
constexpr size_t kMaxPreambleBytes = kCipherPreambleBytes;
constexpr size_t kTagBytes = 16;  // GCM tag after the ciphertext of an encrypted payload
constexpr size_t kHeaderBytes = 24;
constexpr size_t kRecordAlign = 8;  // every record starts at a multiple of 8
constexpr size_t kCrcOffset = 20;   // the CRC covers header bytes [0, kCrcOffset)

constexpr uint16_t kFlagBatchEnd = 0x0001;    // last record of an append() batch
constexpr uint16_t kFlagFlushStart = 0x0002;  // first record of a flush (one write+sync)
constexpr uint16_t kKnownFlags = kFlagBatchEnd | kFlagFlushStart;

// One sparse-index entry per this many bytes of records.
constexpr uint64_t kIndexIntervalBytes = 64 * 1024;

inline constexpr uint64_t round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }
inline constexpr uint64_t round_down(uint64_t v, uint64_t a) { return v / a * a; }

// Bytes a record with `payload_len` occupies in a segment, padding included.
inline constexpr uint64_t record_bytes(uint64_t payload_len) {
  return round_up(kHeaderBytes + payload_len, kRecordAlign);
}

struct Preamble {
  uint8_t version = kVersion;
  uint8_t cipher = kCipherNone;
  uint16_t key_id = 0;  // 0 for cipher none; the KeyRing id otherwise
  uint64_t segment_id = 0;
  // Cipher 1 only (zero otherwise).
  std::array<uint8_t, kSaltBytes> salt{};  // fresh per segment file (RAND_bytes)
  uint64_t key_fingerprint = 0;            // SecureKey::fingerprint() of the configured key
};

// Bytes of the preamble of a segment with this cipher; records start there.
inline constexpr uint64_t preamble_bytes(uint8_t cipher) {
  return cipher == kCipherAes256Gcm ? kCipherPreambleBytes : kPreambleBytes;
}
inline constexpr uint64_t records_offset(const Preamble& p) { return preamble_bytes(p.cipher); }

// Writes preamble_bytes(p.cipher) bytes.
void encode_preamble(const Preamble& p, uint8_t* out /* preamble_bytes(p.cipher) */);
// Ok, Corruption (bad magic, key id 0 with a cipher, fewer than
// preamble_bytes(cipher) bytes available) or Unsupported (version, unknown
// cipher); the message names `path`. `avail` bytes are readable at `in`.
Status decode_preamble(const uint8_t* in, size_t avail, const std::string& path, Preamble* out);
inline Status decode_preamble(const uint8_t* in, const std::string& path, Preamble* out) {
  return decode_preamble(in, kPreambleBytes, path, out);
}

struct RecordHeader {
  uint64_t lsn = 0;
  uint16_t type = 0;
  uint16_t flags = 0;
  uint32_t tenant = 0;
  uint32_t payload_len = 0;
  uint32_t crc = 0;
};

void encode_header(const RecordHeader& h, uint8_t* out /* kHeaderBytes */);
RecordHeader decode_header(const uint8_t* in);

// CRC32C(segment_id LE ‖ header[0, 20) ‖ payload).
uint32_t record_crc(uint64_t segment_id, const uint8_t* header, const uint8_t* payload,
                    size_t payload_len);

// Encodes a whole record (header, payload, zero padding) at `out`, which has
// room for record_bytes(payload.size()). Returns the bytes used.
size_t encode_record(uint64_t segment_id, uint64_t lsn, uint16_t type, uint16_t flags,
                     uint32_t tenant, std::span<const uint8_t> payload, uint8_t* out);

enum class RecordCheck { kValid, kEnd, kBad };

// Classifies the bytes at a record position. `avail` bytes are readable at
// `in` (the rest of the segment file). expected_lsn 0 accepts any lsn > 0.
// On kBad, *why says what was wrong; on kValid, *header is filled.
RecordCheck check_record(const uint8_t* in, uint64_t avail, uint64_t segment_id,
                         uint64_t expected_lsn, RecordHeader* header, std::string* why);

// Segment file names: the first LSN, 20 digits, ".wal"; spares: the segment id, ".spare".
std::string segment_file_name(uint64_t first_lsn);
std::string spare_file_name(uint64_t segment_id);
bool parse_segment_file_name(const std::string& name, uint64_t* first_lsn);
bool parse_spare_file_name(const std::string& name, uint64_t* segment_id);

}  // namespace sidewal::wal::format
