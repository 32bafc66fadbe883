// RecordCipher: AES-256-GCM for one record's payload, through OpenSSL EVP
// (AES-NI where the CPU has it). docs/encryption.md is the contract: what the
// nonce is made of and why it is never reused under one key, and what the
// associated data covers.
//
// On disk an encrypted payload is ciphertext || 16-byte tag (so payload_len
// is the plaintext length + kTagBytes); the record header stays in the clear
// and is authenticated as associated data, so a moved or altered header fails
// to open.
//
// One RecordCipher per thread: it keeps one EVP context for sealing and one
// for opening, sets a key's schedule once and then only a new nonce per
// record, so the hot path allocates nothing. Not thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "common/status.h"
#include "wal/codecs/format.h"
#include "wal/codecs/secure_key.h"

typedef struct evp_cipher_ctx_st EVP_CIPHER_CTX;  // <openssl/types.h>, kept out of includers

namespace sidewal::wal {

constexpr size_t kNonceBytes = 12;  // the GCM nonce length with no extra GHASH step
constexpr size_t kTagBytes = 16;    // full-length tag; never truncated

using Nonce = std::array<uint8_t, kNonceBytes>;

// nonce = low 32 bits of segment_id (u32 LE) || lsn (u64 LE). Records are
// sealed under their segment's own key (derive_segment_key), inside which
// LSNs never repeat; the segment id in the nonce is defence in depth should
// two segments ever end up with the same salt. Injective in lsn for a given
// segment. docs/encryption.md has the uniqueness argument.
Nonce derive_nonce(uint64_t segment_id, uint64_t lsn);

// Associated data of a record: segment_id (u64 LE) || the first 20 header
// bytes as docs/format.md lays them out (lsn u64, type u16, flags u16,
// tenant u32, payload_len u32), i.e. the same bytes the record CRC covers
// before the payload. `payload_len` is the on-disk length (plaintext + tag).
constexpr size_t kRecordAadBytes = sizeof(uint64_t) + format::kCrcOffset;
using RecordAad = std::array<uint8_t, kRecordAadBytes>;
RecordAad record_aad(uint64_t segment_id, uint64_t lsn, uint16_t type, uint16_t flags,
                     uint32_t tenant, uint32_t payload_len);

class RecordCipher {
 public:
  RecordCipher();
  ~RecordCipher();
  RecordCipher(const RecordCipher&) = delete;
  RecordCipher& operator=(const RecordCipher&) = delete;

  // Encrypts `plaintext` into `out` (plaintext.size() + kTagBytes bytes:
  // ciphertext then tag) authenticating `aad`. `out` may start at
  // plaintext.data() (in place) but must not otherwise overlap it.
  // kInvalidArgument for a wrong `out` size or a payload over 2 GiB.
  Status seal(const SecureKey& key, const Nonce& nonce, std::span<const uint8_t> aad,
              std::span<const uint8_t> plaintext, std::span<uint8_t> out);

  // Verifies and decrypts `sealed` (ciphertext || tag) into `out`
  // (sealed.size() - kTagBytes bytes; may be sealed.data()). Any changed bit
  // in ciphertext, tag or aad, a wrong key or a wrong nonce is kCorruption,
  // and `out` is zeroed so no unauthenticated plaintext escapes.
  Status open(const SecureKey& key, const Nonce& nonce, std::span<const uint8_t> aad,
              std::span<const uint8_t> sealed, std::span<uint8_t> out);

 private:
  // Serial of the SecureKey whose schedule each context holds (0 = none).
  // Serials are never reused, so a destroyed key's schedule is never taken
  // for a new key at the same address.
  EVP_CIPHER_CTX* seal_ctx_ = nullptr;
  EVP_CIPHER_CTX* open_ctx_ = nullptr;
  uint64_t seal_key_serial_ = 0;
  uint64_t open_key_serial_ = 0;
};

}  // namespace sidewal::wal
