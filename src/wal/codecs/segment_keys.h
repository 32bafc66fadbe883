// SegmentKeys: what the engine and its readers need to read and write
// encrypted segments (docs/encryption.md, docs/format.md "Encrypted
// segments"): the configured keys (a KeyRing), a check that a segment's key
// id is configured with the key it was written with (fingerprint in the
// preamble), and a small cache of per-segment keys (HKDF of the configured
// key, the segment's salt and id), so a reader derives a segment's key once.
//
// Plus the per-record helpers that put the format's rules in one place:
// nonce from (segment id, lsn), AAD from the header as written, on-disk
// payload_len = plaintext + 16, CRC over what is on disk.
//
// Thread-safe (the cache has a mutex); RecordCipher is not, so every thread
// brings its own.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "common/mutex.h"
#include "common/status.h"
#include "wal/codecs/format.h"
#include "wal/codecs/record_cipher.h"
#include "wal/codecs/secure_key.h"

namespace sidewal::wal {

class SegmentKeys {
 public:
  // `ring` may be null or empty: plaintext segments only.
  explicit SegmentKeys(std::shared_ptr<const KeyRing> ring);

  const KeyRing* ring() const { return ring_.get(); }
  // New segments are encrypted (the ring names a current key).
  bool encrypts() const { return ring_ != nullptr && ring_->has_current(); }

  // Ok for a plaintext segment. For an encrypted one: NotFound when its key
  // id is not configured, InvalidArgument when the configured key's
  // fingerprint differs from the preamble's (a wrong key file). Messages name
  // the segment, the key id and the key file, never key bytes.
  Status check(const format::Preamble& p, const std::string& path) const;

  // The key that seals the records of an encrypted segment (check() first).
  Result<std::shared_ptr<const SecureKey>> segment_key(const format::Preamble& p,
                                                       const std::string& path);

  // A preamble for a new segment under the current key: fresh salt, key id,
  // fingerprint. REQUIRES: encrypts().
  Status new_preamble(uint64_t segment_id, format::Preamble* out) const;

 private:
  struct Cached {
    uint64_t segment_id = 0;
    std::array<uint8_t, format::kSaltBytes> salt{};
    uint16_t key_id = 0;
    std::shared_ptr<const SecureKey> key;
  };
  static constexpr size_t kCacheEntries = 8;  // each is one mlocked page

  const std::shared_ptr<const KeyRing> ring_;
  Mutex mu_;
  std::deque<Cached> cache_ GUARDED_BY(mu_);  // most recent last
};

// Writes a record of an encrypted segment with its PLAINTEXT payload and room
// for the tag: the header says payload_len = plaintext + 16 (flags final), the
// tag and padding are zero and the CRC is not yet set. seal_records() turns it
// into what goes to disk. Returns record_bytes(plaintext + 16).
size_t encode_record_for_sealing(uint64_t lsn, uint16_t type, uint16_t flags, uint32_t tenant,
                                 std::span<const uint8_t> plaintext, uint8_t* out);

// Seals, in place, every record in [begin, begin + len) written by
// encode_record_for_sealing (payload -> ciphertext || tag) and sets each CRC
// over the on-disk bytes. Each record is sealed exactly once: callers pass
// only records that were never sealed.
Status seal_records(RecordCipher& cipher, const SecureKey& segment_key, uint64_t segment_id,
                    uint8_t* begin, size_t len);

// Verifies and decrypts the payload of a CRC-checked record of an encrypted
// segment into `out` (h.payload_len - 16 bytes). Corruption naming `path`,
// offset and lsn when the tag does not verify or the record is too short.
Status open_record(RecordCipher& cipher, const SecureKey& segment_key, uint64_t segment_id,
                   const format::RecordHeader& h, const uint8_t* sealed, uint8_t* out,
                   const std::string& path, uint64_t offset);

// "0123456789abcdef": a fingerprint as logs and messages show it.
std::string fingerprint_hex(uint64_t fingerprint);

}  // namespace sidewal::wal
