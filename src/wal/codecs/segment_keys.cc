#include "wal/codecs/segment_keys.h"

#include <cstdio>
#include <cstring>

#include "common/endian.h"

namespace sidewal::wal {

std::string fingerprint_hex(uint64_t fingerprint) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(fingerprint));
  return buf;
}

SegmentKeys::SegmentKeys(std::shared_ptr<const KeyRing> ring) : ring_(std::move(ring)) {}

Status SegmentKeys::check(const format::Preamble& p, const std::string& path) const {
  if (p.cipher == format::kCipherNone) return Status::Ok();
  if (ring_ == nullptr || ring_->size() == 0) {
    return Status::NotFound("segment " + path + " is encrypted with key id " +
                            std::to_string(p.key_id) + " (fingerprint " +
                            fingerprint_hex(p.key_fingerprint) +
                            ") but no encryption key is configured");
  }
  Result<const SecureKey*> k = ring_->get(p.key_id);
  if (!k.ok()) {
    return Status::NotFound("segment " + path + " needs key id " + std::to_string(p.key_id) +
                            " (fingerprint " + fingerprint_hex(p.key_fingerprint) +
                            "): " + k.status().message());
  }
  const uint64_t fp = (*k)->fingerprint();
  if (fp != p.key_fingerprint) {
    return Status::InvalidArgument(
        "wrong key: segment " + path + " was written with key id " + std::to_string(p.key_id) +
        " of fingerprint " + fingerprint_hex(p.key_fingerprint) + ", but key id " +
        std::to_string(p.key_id) + " from " + (*k)->source() + " has fingerprint " +
        fingerprint_hex(fp) + " (key ids must never be reused for other key bytes)");
  }
  return Status::Ok();
}

Result<std::shared_ptr<const SecureKey>> SegmentKeys::segment_key(const format::Preamble& p,
                                                                  const std::string& path) {
  {
    MutexLock g(mu_);
    for (const Cached& c : cache_) {
      if (c.segment_id == p.segment_id && c.key_id == p.key_id && c.salt == p.salt) return c.key;
    }
  }
  SIDEWAL_RETURN_IF_ERROR(check(p, path));
  Result<const SecureKey*> k = ring_->get(p.key_id);
  if (!k.ok()) return k.status();
  Result<std::unique_ptr<SecureKey>> derived =
      derive_segment_key(**k, std::span<const uint8_t, format::kSaltBytes>(p.salt), p.segment_id);
  if (!derived.ok()) return derived.status();
  std::shared_ptr<const SecureKey> key(std::move(*derived));
  MutexLock g(mu_);
  cache_.push_back(Cached{p.segment_id, p.salt, p.key_id, key});
  if (cache_.size() > kCacheEntries) cache_.pop_front();
  return key;
}

Status SegmentKeys::new_preamble(uint64_t segment_id, format::Preamble* out) const {
  SW_ASSERT(encrypts());
  *out = format::Preamble{};
  out->segment_id = segment_id;
  out->cipher = format::kCipherAes256Gcm;
  out->key_id = ring_->current_id();
  out->key_fingerprint = ring_->current().fingerprint();
  return new_segment_salt(std::span<uint8_t, format::kSaltBytes>(out->salt));
}

size_t encode_record_for_sealing(uint64_t lsn, uint16_t type, uint16_t flags, uint32_t tenant,
                                 std::span<const uint8_t> plaintext, uint8_t* out) {
  format::RecordHeader h;
  h.lsn = lsn;
  h.type = type;
  h.flags = flags;
  h.tenant = tenant;
  h.payload_len = static_cast<uint32_t>(plaintext.size() + kTagBytes);
  format::encode_header(h, out);
  if (!plaintext.empty())
    std::memcpy(out + format::kHeaderBytes, plaintext.data(), plaintext.size());
  const size_t used = format::kHeaderBytes + plaintext.size();
  const size_t total = format::record_bytes(h.payload_len);
  std::memset(out + used, 0, total - used);
  return total;
}

Status seal_records(RecordCipher& cipher, const SecureKey& segment_key, uint64_t segment_id,
                    uint8_t* begin, size_t len) {
  size_t pos = 0;
  while (pos < len) {
    SW_ASSERT(pos + format::kHeaderBytes <= len);
    uint8_t* rec = begin + pos;
    const format::RecordHeader h = format::decode_header(rec);
    SW_ASSERT(h.payload_len >= kTagBytes && pos + format::record_bytes(h.payload_len) <= len);
    const RecordAad aad = record_aad(segment_id, h.lsn, h.type, h.flags, h.tenant, h.payload_len);
    uint8_t* payload = rec + format::kHeaderBytes;
    const size_t plain = h.payload_len - kTagBytes;
    SIDEWAL_RETURN_IF_ERROR(cipher.seal(segment_key, derive_nonce(segment_id, h.lsn), aad,
                                        std::span<const uint8_t>(payload, plain),
                                        std::span<uint8_t>(payload, h.payload_len)));
    put_u32(rec + format::kCrcOffset, format::record_crc(segment_id, rec, payload, h.payload_len));
    pos += format::record_bytes(h.payload_len);
  }
  return Status::Ok();
}

Status open_record(RecordCipher& cipher, const SecureKey& segment_key, uint64_t segment_id,
                   const format::RecordHeader& h, const uint8_t* sealed, uint8_t* out,
                   const std::string& path, uint64_t offset) {
  if (h.payload_len < kTagBytes) {
    return Status::Corruption("segment " + path + " offset " + std::to_string(offset) +
                              ": record lsn " + std::to_string(h.lsn) + " has payload_len " +
                              std::to_string(h.payload_len) +
                              ", shorter than the 16-byte tag of an encrypted record");
  }
  const RecordAad aad = record_aad(segment_id, h.lsn, h.type, h.flags, h.tenant, h.payload_len);
  Status st = cipher.open(segment_key, derive_nonce(segment_id, h.lsn), aad,
                          std::span<const uint8_t>(sealed, h.payload_len),
                          std::span<uint8_t>(out, h.payload_len - kTagBytes));
  if (!st.ok()) {
    return Status::Corruption("segment " + path + " offset " + std::to_string(offset) +
                              ": record lsn " + std::to_string(h.lsn) +
                              " fails authentication (AES-256-GCM tag): " + st.message());
  }
  return Status::Ok();
}

}  // namespace sidewal::wal
