// SecureKey: one AES-256 key, 32 raw bytes, loaded from a file (a Kubernetes
// Secret mounted read-only), never from the config file itself.
//
// Where the bytes live: a private anonymous mapping of its own (one page),
// mlock'ed before the key is read into it so it is never swapped out,
// madvise(MADV_DONTDUMP) so core dumps leave it out, MADV_WIPEONFORK so a
// forked child sees zeros, and read-only while in use. The file is read with
// read(2) straight into that page: no stdio or std::string copy of the key
// exists anywhere. On destruction the bytes are wiped with OPENSSL_cleanse
// before the page is unlocked and unmapped.
//
// mlock can fail under a small RLIMIT_MEMLOCK (containers often have 64 KiB,
// sometimes 0). That is not fatal: the key is still wiped and excluded from
// core dumps, and locked() says it may be swapped, so the daemon can warn and
// export it. Swap is usually off on Kubernetes nodes.
//
// A key is never printed: there is no operator<< and no accessor that returns
// text. Log the key id (KeyRing) or fingerprint() instead.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "wal/codecs/format.h"

namespace sidewal::wal {

constexpr size_t kKeyBytes = 32;  // AES-256

class SecureKey {
 public:
  // What the destructor does with the key's page once it is wiped: give it
  // back to the system (release_page: munlock if `locked`, then munmap). A
  // test passes one that looks at the page first, then calls release_page.
  using PageRelease = void (*)(uint8_t* page, size_t bytes, bool locked);
  static void release_page(uint8_t* page, size_t bytes, bool locked);

  // Reads exactly 32 raw bytes from `path`. Errors name the file: missing
  // (kNotFound), unreadable (kIoError), not a regular file, wrong size or all
  // zeros (kInvalidArgument; the size message says it wants raw bytes, not
  // base64 or hex, and no trailing newline).
  static Result<std::unique_ptr<SecureKey>> load_file(const std::string& path,
                                                      PageRelease release = &release_page);

  // A key from bytes already in memory (derived keys, tests). `source` names
  // it in messages. The caller wipes its own copy.
  static Result<std::unique_ptr<SecureKey>> from_bytes(std::span<const uint8_t> bytes,
                                                       const std::string& source,
                                                       PageRelease release = &release_page);

  ~SecureKey();
  SecureKey(const SecureKey&) = delete;
  SecureKey& operator=(const SecureKey&) = delete;

  // The key bytes, for the cipher only. All zeros after wipe().
  std::span<const uint8_t, kKeyBytes> bytes() const {
    return std::span<const uint8_t, kKeyBytes>(mem_, kKeyBytes);
  }

  bool locked() const { return locked_; }                      // mlock succeeded
  bool excluded_from_core_dumps() const { return dontdump_; }  // MADV_DONTDUMP succeeded
  const std::string& source() const { return source_; }        // the file path (or `source`)

  // Unique in this process for the key's lifetime and never reused, so a
  // RecordCipher can tell that it already holds this key's schedule.
  uint64_t serial() const { return serial_; }

  // First 8 bytes of HMAC-SHA256(key, "sidewal key fingerprint v1"): safe to
  // log or store, lets an operator or a preamble tell two keys apart without
  // revealing either.
  uint64_t fingerprint() const;

  // Zeroes the key now (the destructor does it too). Idempotent.
  void wipe();

 private:
  SecureKey() = default;
  // Maps and locks the page; the key bytes are still zero afterwards.
  static Result<std::unique_ptr<SecureKey>> allocate(const std::string& source,
                                                     PageRelease release);
  Status seal_read_only();

  uint8_t* mem_ = nullptr;  // page-aligned, kPageBytes long, first kKeyBytes are the key
  size_t map_bytes_ = 0;
  PageRelease release_ = &release_page;
  bool locked_ = false;
  bool dontdump_ = false;
  bool read_only_ = false;
  uint64_t serial_ = 0;
  std::string source_;
};

// The key that encrypts the records of one segment: HKDF-SHA256 with the
// configured key as input key material, the segment's 16-byte random salt
// (made by new_segment_salt() when the segment file is created, kept in its
// preamble) as salt, and "sidewal segment key v1" || segment_id (u64 LE) as
// info. A fresh key per segment is what makes nonces unique without any
// durable counter: docs/encryption.md has the argument. The result is a
// SecureKey like any other (locked, excluded from dumps, wiped).
Result<std::unique_ptr<SecureKey>> derive_segment_key(
    const SecureKey& configured, std::span<const uint8_t, format::kSaltBytes> salt,
    uint64_t segment_id);

// Fills `out` from OpenSSL's CSPRNG (RAND_bytes); kIoError if it cannot,
// never a weaker fallback.
Status new_segment_salt(std::span<uint8_t, format::kSaltBytes> out);

// Keys by id (the u16 key id of the segment preamble; 0 means "no cipher" and
// is not a valid id) and which one new segments use.
class KeyRing {
 public:
  // kInvalidArgument for id 0, a duplicate id, or a null key.
  Status add(uint16_t id, std::unique_ptr<SecureKey> key);
  // kInvalidArgument unless the id was added.
  Status set_current(uint16_t id);

  // kNotFound naming the id and the ids that are configured.
  Result<const SecureKey*> get(uint16_t id) const;

  bool has_current() const { return current_ != 0; }
  uint16_t current_id() const { return current_; }  // 0 when none is set
  // REQUIRES: has_current().
  const SecureKey& current() const;

  std::vector<uint16_t> ids() const;  // ascending
  size_t size() const { return keys_.size(); }

 private:
  std::map<uint16_t, std::unique_ptr<SecureKey>> keys_;
  uint16_t current_ = 0;  // 0 = none; otherwise a key of keys_
};

}  // namespace sidewal::wal
