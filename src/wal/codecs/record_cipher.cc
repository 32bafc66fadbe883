#include "wal/codecs/record_cipher.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstring>
#include <string>

#include "common/endian.h"

namespace sidewal::wal {
namespace {

bool overlaps_partially(const uint8_t* a, size_t a_len, const uint8_t* b, size_t b_len) {
  if (a == b || a_len == 0 || b_len == 0) return false;
  return a < b + b_len && b < a + a_len;
}

// Points the context at `key` (only when it holds another key's schedule)
// and sets the nonce. Init with a null cipher keeps the AES-256-GCM set in
// the constructor and allocates nothing.
bool rekey_and_nonce(EVP_CIPHER_CTX* ctx, bool encrypt, const SecureKey& key, uint64_t* serial,
                     const Nonce& nonce) {
  const uint8_t* k = nullptr;
  if (*serial != key.serial()) {
    k = key.bytes().data();
    *serial = 0;  // unknown until the init succeeded
  }
  const int rc = encrypt ? EVP_EncryptInit_ex(ctx, nullptr, nullptr, k, nonce.data())
                         : EVP_DecryptInit_ex(ctx, nullptr, nullptr, k, nonce.data());
  if (rc != 1) return false;
  *serial = key.serial();
  return true;
}

}  // namespace

Nonce derive_nonce(uint64_t segment_id, uint64_t lsn) {
  Nonce n;
  put_u32(n.data(), static_cast<uint32_t>(segment_id));
  put_u64(n.data() + 4, lsn);
  return n;
}

RecordAad record_aad(uint64_t segment_id, uint64_t lsn, uint16_t type, uint16_t flags,
                     uint32_t tenant, uint32_t payload_len) {
  RecordAad a;
  put_u64(a.data(), segment_id);
  uint8_t header[format::kHeaderBytes];
  format::encode_header(format::RecordHeader{lsn, type, flags, tenant, payload_len, 0}, header);
  std::memcpy(a.data() + sizeof(uint64_t), header, format::kCrcOffset);
  return a;
}

RecordCipher::RecordCipher() : seal_ctx_(EVP_CIPHER_CTX_new()), open_ctx_(EVP_CIPHER_CTX_new()) {
  SW_ASSERT_MSG(seal_ctx_ != nullptr && open_ctx_ != nullptr, "EVP_CIPHER_CTX_new");
  // The default GCM IV length is 12 (kNonceBytes), so no EVP_CTRL_GCM_SET_IVLEN.
  SW_ASSERT_MSG(EVP_EncryptInit_ex(seal_ctx_, EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1,
                "EVP_EncryptInit_ex(aes-256-gcm)");
  SW_ASSERT_MSG(EVP_DecryptInit_ex(open_ctx_, EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1,
                "EVP_DecryptInit_ex(aes-256-gcm)");
  SW_ASSERT(EVP_CIPHER_CTX_get_iv_length(seal_ctx_) == static_cast<int>(kNonceBytes));
}

RecordCipher::~RecordCipher() {
  // EVP_CIPHER_CTX_free cleanses the key schedule it holds.
  EVP_CIPHER_CTX_free(seal_ctx_);
  EVP_CIPHER_CTX_free(open_ctx_);
}

Status RecordCipher::seal(const SecureKey& key, const Nonce& nonce, std::span<const uint8_t> aad,
                          std::span<const uint8_t> plaintext, std::span<uint8_t> out) {
  if (out.size() != plaintext.size() + kTagBytes) {
    return Status::InvalidArgument("seal: output is " + std::to_string(out.size()) +
                                   " bytes, plaintext + tag is " +
                                   std::to_string(plaintext.size() + kTagBytes));
  }
  if (plaintext.size() > INT_MAX || aad.size() > INT_MAX) {
    return Status::InvalidArgument("seal: payload or associated data over 2 GiB");
  }
  SW_ASSERT_MSG(!overlaps_partially(plaintext.data(), plaintext.size(), out.data(), out.size()),
                "seal: output overlaps the plaintext other than in place");
  if (!rekey_and_nonce(seal_ctx_, true, key, &seal_key_serial_, nonce)) {
    return Status::IoError("seal: EVP_EncryptInit_ex failed (key from " + key.source() + ")");
  }
  int len = 0;
  if (!aad.empty() &&
      EVP_EncryptUpdate(seal_ctx_, nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1) {
    return Status::IoError("seal: EVP_EncryptUpdate(aad) failed");
  }
  int ct_len = 0;
  if (!plaintext.empty() && EVP_EncryptUpdate(seal_ctx_, out.data(), &ct_len, plaintext.data(),
                                              static_cast<int>(plaintext.size())) != 1) {
    return Status::IoError("seal: EVP_EncryptUpdate failed");
  }
  int fin_len = 0;
  if (EVP_EncryptFinal_ex(seal_ctx_, out.data() + ct_len, &fin_len) != 1) {
    return Status::IoError("seal: EVP_EncryptFinal_ex failed");
  }
  // GCM is a stream mode: every byte comes out of Update, none from Final.
  SW_ASSERT(static_cast<size_t>(ct_len) + static_cast<size_t>(fin_len) == plaintext.size());
  if (EVP_CIPHER_CTX_ctrl(seal_ctx_, EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagBytes),
                          out.data() + plaintext.size()) != 1) {
    return Status::IoError("seal: EVP_CTRL_GCM_GET_TAG failed");
  }
  return Status::Ok();
}

Status RecordCipher::open(const SecureKey& key, const Nonce& nonce, std::span<const uint8_t> aad,
                          std::span<const uint8_t> sealed, std::span<uint8_t> out) {
  if (sealed.size() < kTagBytes) {
    return Status::Corruption("open: sealed payload is " + std::to_string(sealed.size()) +
                              " bytes, shorter than the " + std::to_string(kTagBytes) +
                              "-byte tag");
  }
  const size_t ct_size = sealed.size() - kTagBytes;
  if (out.size() != ct_size) {
    return Status::InvalidArgument("open: output is " + std::to_string(out.size()) +
                                   " bytes, the plaintext is " + std::to_string(ct_size));
  }
  if (ct_size > INT_MAX || aad.size() > INT_MAX) {
    return Status::InvalidArgument("open: payload or associated data over 2 GiB");
  }
  SW_ASSERT_MSG(!overlaps_partially(sealed.data(), ct_size, out.data(), out.size()),
                "open: output overlaps the ciphertext other than in place");
  // Copied first: in-place decryption overwrites the ciphertext, not the
  // tag, but the ctrl wants a writable buffer.
  uint8_t tag[kTagBytes];
  std::copy(sealed.begin() + static_cast<ptrdiff_t>(ct_size), sealed.end(), tag);

  if (!rekey_and_nonce(open_ctx_, false, key, &open_key_serial_, nonce)) {
    return Status::IoError("open: EVP_DecryptInit_ex failed (key from " + key.source() + ")");
  }
  int len = 0;
  if (!aad.empty() &&
      EVP_DecryptUpdate(open_ctx_, nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1) {
    return Status::IoError("open: EVP_DecryptUpdate(aad) failed");
  }
  int pt_len = 0;
  if (ct_size > 0 && EVP_DecryptUpdate(open_ctx_, out.data(), &pt_len, sealed.data(),
                                       static_cast<int>(ct_size)) != 1) {
    return Status::IoError("open: EVP_DecryptUpdate failed");
  }
  if (EVP_CIPHER_CTX_ctrl(open_ctx_, EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagBytes), tag) != 1) {
    return Status::IoError("open: EVP_CTRL_GCM_SET_TAG failed");
  }
  int fin_len = 0;
  if (EVP_DecryptFinal_ex(open_ctx_, out.data() + pt_len, &fin_len) != 1) {
    OPENSSL_cleanse(out.data(), out.size());
    return Status::Corruption(
        "open: authentication failed (wrong key, or the payload, its tag or the record header "
        "was altered)");
  }
  SW_ASSERT(static_cast<size_t>(pt_len) + static_cast<size_t>(fin_len) == ct_size);
  return Status::Ok();
}

}  // namespace sidewal::wal
