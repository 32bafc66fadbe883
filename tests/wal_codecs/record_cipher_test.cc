// RecordCipher (AES-256-GCM), the nonce derivation and the associated data.
#include "wal/record_cipher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

namespace sidewal::wal {
namespace {

std::vector<uint8_t> from_hex(const std::string& hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoul(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

std::unique_ptr<SecureKey> make_key(uint8_t seed) {
  std::vector<uint8_t> k(kKeyBytes);
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(seed * 31 + i + 1);
  return SecureKey::from_bytes(k, "key" + std::to_string(seed)).value();
}

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> out(n);
  for (auto& b : out) b = static_cast<uint8_t>(rng());
  return out;
}

std::vector<uint8_t> sealed_of(RecordCipher& c, const SecureKey& key, const Nonce& nonce,
                               std::span<const uint8_t> aad, std::span<const uint8_t> pt) {
  std::vector<uint8_t> out(pt.size() + kTagBytes);
  Status st = c.seal(key, nonce, aad, pt, out);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out;
}

TEST(RecordCipher, MatchesTheGcmSpecTestVector) {
  // McGrew & Viega, "The Galois/Counter Mode of Operation", test case 16
  // (AES-256, 96-bit IV, 20 bytes of AAD, 60 bytes of plaintext).
  auto key = SecureKey::from_bytes(
      from_hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"), "tc16");
  ASSERT_TRUE(key.ok());
  Nonce iv;
  const auto ivb = from_hex("cafebabefacedbaddecaf888");
  std::copy(ivb.begin(), ivb.end(), iv.begin());
  const auto aad = from_hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
  const auto pt = from_hex(
      "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e24"
      "49a6b525b16aedf5aa0de657ba637b39");
  const auto want = from_hex(
      "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b10"
      "56828838c5f61e6393ba7a0abcc9f662"
      "76fc6ece0f4e1768cddf8853bb2d551b");
  RecordCipher c;
  EXPECT_EQ(sealed_of(c, **key, iv, aad, pt), want);
  std::vector<uint8_t> back(pt.size());
  ASSERT_TRUE(c.open(**key, iv, aad, want, back).ok());
  EXPECT_EQ(back, pt);
}

TEST(RecordCipher, RoundTripsEverySizeInPlaceOrNot) {
  auto key = make_key(1);
  RecordCipher c;
  const auto aad = record_aad(3, 10, 0x0001, 0, 7, 0);
  uint64_t lsn = 1;
  for (size_t size : {0, 1, 15, 16, 17, 100, 4096, 65537, 1 << 20}) {
    const auto pt = random_bytes(size, static_cast<uint32_t>(size));
    const Nonce n = derive_nonce(1, lsn++);
    auto sealed = sealed_of(c, *key, n, aad, pt);
    ASSERT_EQ(sealed.size(), size + kTagBytes);
    if (size >= 16) {
      EXPECT_NE(std::vector<uint8_t>(sealed.begin(), sealed.begin() + 16),
                std::vector<uint8_t>(pt.begin(), pt.begin() + 16));
    }
    std::vector<uint8_t> back(size);
    ASSERT_TRUE(c.open(*key, n, aad, sealed, back).ok()) << size;
    EXPECT_EQ(back, pt) << size;

    // In place: the engine seals into its staging buffer and opens into the read buffer.
    std::vector<uint8_t> buf(pt);
    buf.resize(size + kTagBytes);
    ASSERT_TRUE(c.seal(*key, n, aad, std::span(buf).first(size), buf).ok());
    EXPECT_EQ(buf, sealed);
    ASSERT_TRUE(c.open(*key, n, aad, buf, std::span(buf).first(size)).ok());
    EXPECT_EQ(std::vector<uint8_t>(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(size)), pt);
  }
}

TEST(RecordCipher, EveryFlippedBitOfCiphertextTagOrAadIsDetected) {
  auto key = make_key(2);
  RecordCipher c;
  const auto pt = random_bytes(100, 5);
  const auto aad = record_aad(9, 1234, 0x0042, 0x0001, 77, 100 + kTagBytes);
  const Nonce n = derive_nonce(4, 1234);
  const auto sealed = sealed_of(c, *key, n, aad, pt);
  std::vector<uint8_t> out(pt.size());
  size_t detected = 0, tried = 0;
  for (size_t bit = 0; bit < sealed.size() * 8; ++bit) {
    auto bad = sealed;
    bad[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    std::fill(out.begin(), out.end(), 0xCC);
    Status st = c.open(*key, n, aad, bad, out);
    ++tried;
    if (st.code() == Code::kCorruption) ++detected;
    // No unauthenticated plaintext is handed out.
    EXPECT_EQ(out, std::vector<uint8_t>(out.size(), 0)) << "bit " << bit;
  }
  for (size_t bit = 0; bit < aad.size() * 8; ++bit) {
    auto bad = aad;
    bad[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    ++tried;
    if (c.open(*key, n, bad, sealed, out).code() == Code::kCorruption) ++detected;
  }
  EXPECT_EQ(detected, tried);
  EXPECT_EQ(tried, (116 + kRecordAadBytes) * 8);
  // The unmodified record still opens with the same context afterwards.
  ASSERT_TRUE(c.open(*key, n, aad, sealed, out).ok());
  EXPECT_EQ(out, pt);
}

TEST(RecordCipher, WrongKeyWrongNonceOrAnotherSegmentIsRefused) {
  auto key = make_key(3);
  auto other = make_key(4);
  RecordCipher c;
  const auto pt = random_bytes(64, 6);
  const auto aad = record_aad(5, 100, 1, 0, 1, 64 + kTagBytes);
  const auto sealed = sealed_of(c, *key, derive_nonce(2, 100), aad, pt);
  std::vector<uint8_t> out(pt.size());
  Status st = c.open(*other, derive_nonce(2, 100), aad, sealed, out);
  EXPECT_EQ(st.code(), Code::kCorruption);
  EXPECT_NE(st.message().find("authentication failed (wrong key"), std::string::npos);
  EXPECT_EQ(c.open(*key, derive_nonce(3, 100), aad, sealed, out).code(), Code::kCorruption);
  EXPECT_EQ(c.open(*key, derive_nonce(2, 101), aad, sealed, out).code(), Code::kCorruption);
  // The same record bytes copied into segment 6: the AAD binds the segment id.
  EXPECT_EQ(c.open(*key, derive_nonce(2, 100), record_aad(6, 100, 1, 0, 1, 64 + kTagBytes),
                   sealed, out)
                .code(),
            Code::kCorruption);
  EXPECT_TRUE(c.open(*key, derive_nonce(2, 100), aad, sealed, out).ok());
}

TEST(RecordCipher, SwitchingKeysOnOneContextUsesTheRightKey) {
  auto k1 = make_key(5);
  auto k2 = make_key(6);
  const auto pt = random_bytes(300, 7);
  const Nonce n = derive_nonce(1, 1);
  RecordCipher fresh1, fresh2, shared;
  const auto want1 = sealed_of(fresh1, *k1, n, {}, pt);
  const auto want2 = sealed_of(fresh2, *k2, n, {}, pt);
  ASSERT_NE(want1, want2);
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(sealed_of(shared, *k1, n, {}, pt), want1);
    EXPECT_EQ(sealed_of(shared, *k2, n, {}, pt), want2);
    std::vector<uint8_t> out(pt.size());
    EXPECT_TRUE(shared.open(*k1, n, {}, want1, out).ok());
    EXPECT_TRUE(shared.open(*k2, n, {}, want2, out).ok());
    EXPECT_FALSE(shared.open(*k1, n, {}, want2, out).ok());
  }
}

TEST(RecordCipher, AKeyRecreatedAtTheSameAddressIsNotMistakenForTheOldOne) {
  RecordCipher c;
  const auto pt = random_bytes(50, 8);
  const Nonce n = derive_nonce(1, 9);
  auto k1 = make_key(7);
  const auto with_k1 = sealed_of(c, *k1, n, {}, pt);
  k1.reset();
  auto k2 = make_key(8);  // mmap usually hands back the page k1 had
  RecordCipher fresh;
  EXPECT_EQ(sealed_of(c, *k2, n, {}, pt), sealed_of(fresh, *k2, n, {}, pt));
  EXPECT_NE(sealed_of(c, *k2, n, {}, pt), with_k1);
}

TEST(RecordCipher, RefusesWrongBufferSizes) {
  auto key = make_key(9);
  RecordCipher c;
  std::vector<uint8_t> pt(10), out(10 + kTagBytes - 1);
  EXPECT_EQ(c.seal(*key, derive_nonce(1, 1), {}, pt, out).code(), Code::kInvalidArgument);
  std::vector<uint8_t> sealed(kTagBytes - 1), back(0);
  EXPECT_EQ(c.open(*key, derive_nonce(1, 1), {}, sealed, back).code(), Code::kCorruption);
  std::vector<uint8_t> sealed2(kTagBytes + 4), back2(3);
  EXPECT_EQ(c.open(*key, derive_nonce(1, 1), {}, sealed2, back2).code(), Code::kInvalidArgument);
}

TEST(Nonce, IsKeyEpochThenLsnLittleEndian) {
  const Nonce n = derive_nonce(0x04030201, 0x0C0B0A0908070605ull);
  EXPECT_EQ(n, (Nonce{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}));
}

// The 12 nonce bytes as one integer (an injective map), so that uniqueness
// checks sort integers instead of byte arrays.
unsigned __int128 as_int(const Nonce& n) {
  unsigned __int128 v = 0;
  for (uint8_t b : n) v = (v << 8) | b;
  return v;
}

bool all_unique(const std::vector<Nonce>& nonces) {
  std::vector<unsigned __int128> v;
  v.reserve(nonces.size());
  for (const Nonce& n : nonces) v.push_back(as_int(n));
  std::sort(v.begin(), v.end());
  return std::adjacent_find(v.begin(), v.end()) == v.end();
}

TEST(Nonce, DistinctEpochLsnPairsGiveDistinctNonces) {
  // A grid across the boundaries of both fields: 64 epochs x 16384 LSNs.
  const std::vector<uint32_t> epoch_bases = {0, 1u << 16, 0x7FFFFFF0u, UINT32_MAX - 15};
  const std::vector<uint64_t> lsn_bases = {1, (1ull << 32) - 2048, (1ull << 63) - 2048,
                                           UINT64_MAX - 4095 - 4096};
  std::vector<Nonce> all;
  all.reserve(64 * 16384);
  for (uint32_t eb : epoch_bases) {
    for (uint32_t i = 0; i < 16; ++i) {
      for (uint64_t lb : lsn_bases) {
        for (uint64_t j = 0; j < 4096; ++j) all.push_back(derive_nonce(eb + i, lb + j));
      }
    }
  }
  ASSERT_EQ(all.size(), 64u * 16384u);
  EXPECT_TRUE(all_unique(all));
}

// A model of the engine's rules (docs/encryption.md): each writer lifetime
// takes next_key_epoch(highest on disk); a crash cuts a torn tail, so the next
// lifetime re-assigns LSNs whose ciphertext may already be on the disk.
std::vector<Nonce> nonces_of_lifetimes(bool bump_epoch, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Nonce> used;
  uint32_t highest_epoch_on_disk = 0;
  uint64_t next_lsn = 1;
  for (int lifetime = 0; lifetime < 200; ++lifetime) {
    const uint32_t epoch =
        bump_epoch ? next_key_epoch(highest_epoch_on_disk).value() : 1;
    highest_epoch_on_disk = epoch;  // the first new segment is durable before any record
    const uint64_t written = 1 + rng() % 3000;
    for (uint64_t i = 0; i < written; ++i) used.push_back(derive_nonce(epoch, next_lsn + i));
    const uint64_t cut = rng() % std::min<uint64_t>(written, 50);  // torn tail
    next_lsn += written - cut;
  }
  return used;
}

TEST(Nonce, UniqueAcrossRestartsWithTornTailsWhenEachLifetimeTakesANewEpoch) {
  EXPECT_TRUE(all_unique(nonces_of_lifetimes(true, 1)));
  EXPECT_TRUE(all_unique(nonces_of_lifetimes(true, 2)));
  // Without the epoch bump the re-assigned LSNs of a cut tail repeat a nonce:
  // the rule is what makes the difference, not luck.
  EXPECT_FALSE(all_unique(nonces_of_lifetimes(false, 1)));
}

TEST(Nonce, EpochsRunOutLoudly) {
  EXPECT_EQ(next_key_epoch(0).value(), 1u);
  EXPECT_EQ(next_key_epoch(41).value(), 42u);
  auto r = next_key_epoch(UINT32_MAX);
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("key epoch exhausted"), std::string::npos);
}

TEST(RecordAad, IsSegmentIdThenTheHeaderBytesTheCrcCovers) {
  const RecordAad a = record_aad(0x0807060504030201ull, 0x100F0E0D0C0B0A09ull, 0x1211, 0x1413,
                                 0x18171615, 0x1C1B1A19);
  RecordAad want;
  for (size_t i = 0; i < want.size(); ++i) want[i] = static_cast<uint8_t>(i + 1);
  EXPECT_EQ(a, want);
}

}  // namespace
}  // namespace sidewal::wal
