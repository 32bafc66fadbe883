// RecordCipher (AES-256-GCM), the nonce derivation and the associated data.
#include "wal/codecs/record_cipher.h"

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
  const Nonce n = derive_nonce(9, 1234);
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
  const auto sealed = sealed_of(c, *key, derive_nonce(5, 100), aad, pt);
  std::vector<uint8_t> out(pt.size());
  Status st = c.open(*other, derive_nonce(5, 100), aad, sealed, out);
  EXPECT_EQ(st.code(), Code::kCorruption);
  EXPECT_NE(st.message().find("authentication failed (wrong key"), std::string::npos);
  EXPECT_EQ(c.open(*key, derive_nonce(6, 100), aad, sealed, out).code(), Code::kCorruption);
  EXPECT_EQ(c.open(*key, derive_nonce(5, 101), aad, sealed, out).code(), Code::kCorruption);
  // The same record bytes copied into segment 6: the AAD binds the segment id.
  EXPECT_EQ(c.open(*key, derive_nonce(5, 100), record_aad(6, 100, 1, 0, 1, 64 + kTagBytes), sealed,
                   out)
                .code(),
            Code::kCorruption);
  EXPECT_TRUE(c.open(*key, derive_nonce(5, 100), aad, sealed, out).ok());
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

TEST(Nonce, IsLow32BitsOfSegmentIdThenLsnLittleEndian) {
  const Nonce n = derive_nonce(0xFFFFFFFF04030201ull, 0x0C0B0A0908070605ull);
  EXPECT_EQ(n, (Nonce{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}));
}

// The 12 nonce bytes as one integer (an injective map), so that uniqueness
// checks sort integers instead of byte arrays.
unsigned __int128 as_int(const Nonce& n) {
  unsigned __int128 v = 0;
  for (uint8_t b : n) v = (v << 8) | b;
  return v;
}

template <typename T>
bool all_unique(std::vector<T> v) {
  std::sort(v.begin(), v.end());
  return std::adjacent_find(v.begin(), v.end()) == v.end();
}

TEST(Nonce, DistinctSegmentLsnPairsGiveDistinctNonces) {
  // A grid across the boundaries of both fields: 64 segment ids x 16384 LSNs.
  // Segment ids are distinct modulo 2^32 here (the nonce keeps their low half).
  const std::vector<uint64_t> segment_bases = {1, 1ull << 16, 0x7FFFFFF0ull, 0xFFFFFFF0ull};
  const std::vector<uint64_t> lsn_bases = {1, (1ull << 32) - 2048, (1ull << 63) - 2048,
                                           UINT64_MAX - 4095 - 4096};
  std::vector<unsigned __int128> all;
  all.reserve(64 * 16384);
  for (uint64_t sb : segment_bases) {
    for (uint64_t i = 0; i < 16; ++i) {
      for (uint64_t lb : lsn_bases) {
        for (uint64_t j = 0; j < 4096; ++j) all.push_back(as_int(derive_nonce(sb + i, lb + j)));
      }
    }
  }
  ASSERT_EQ(all.size(), 64u * 16384u);
  EXPECT_TRUE(all_unique(std::move(all)));
}

// A model of the engine's rules (docs/encryption.md). Each writer lifetime
// writes only into segments it created, each with a fresh salt, rolling over
// every so often; a crash cuts a torn tail, so the next lifetime re-assigns
// LSNs whose ciphertext may already have reached the disk. A (key, nonce) pair
// is (segment salt, derive_nonce(segment id, lsn)). With
// `append_after_restart` the model breaks the rule and keeps writing into the
// recovered last segment instead.
struct KeyAndNonce {
  unsigned __int128 salt;  // the 16 salt bytes as one integer
  unsigned __int128 nonce;
  auto operator<=>(const KeyAndNonce&) const = default;
};

std::vector<KeyAndNonce> sealed_in_lifetimes(bool append_after_restart, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<KeyAndNonce> used;
  uint64_t next_lsn = 1, segment_id = 0;
  unsigned __int128 salt = 0;
  auto new_segment = [&] {
    ++segment_id;
    std::array<uint8_t, format::kSaltBytes> bytes{};
    EXPECT_TRUE(new_segment_salt(bytes).ok());
    salt = 0;
    for (uint8_t b : bytes) salt = (salt << 8) | b;
  };
  new_segment();
  for (int lifetime = 0; lifetime < 120; ++lifetime) {
    if (lifetime > 0 && !append_after_restart) new_segment();
    const uint64_t written = 1 + rng() % 3000;
    for (uint64_t i = 0; i < written; ++i) {
      if (rng() % 1000 == 0) new_segment();  // rollover
      used.push_back({salt, as_int(derive_nonce(segment_id, next_lsn + i))});
    }
    const uint64_t cut = rng() % std::min<uint64_t>(written, 50);  // torn tail
    next_lsn += written - cut;
  }
  return used;
}

TEST(Nonce, UniqueAcrossRestartsTornTailsAndRolloverWhenEachLifetimeStartsASegment) {
  EXPECT_TRUE(all_unique(sealed_in_lifetimes(false, 1)));
  EXPECT_TRUE(all_unique(sealed_in_lifetimes(false, 2)));
  // Appending to the recovered segment re-seals cut LSNs under the same key
  // and nonce: the rule is what makes the difference, not luck.
  EXPECT_FALSE(all_unique(sealed_in_lifetimes(true, 1)));
}

TEST(RecordCipher, SameRecordInTwoSegmentsSealsDifferently) {
  auto configured = make_key(10);
  std::array<uint8_t, format::kSaltBytes> s1{}, s2{};
  ASSERT_TRUE(new_segment_salt(s1).ok());
  ASSERT_TRUE(new_segment_salt(s2).ok());
  auto k1 = derive_segment_key(*configured, s1, 5);
  auto k2 = derive_segment_key(*configured, s2, 5);  // even with an equal segment id
  ASSERT_TRUE(k1.ok() && k2.ok());
  RecordCipher c;
  const auto pt = random_bytes(100, 11);
  const Nonce n = derive_nonce(5, 42);
  const auto a = sealed_of(c, **k1, n, {}, pt);
  const auto b = sealed_of(c, **k2, n, {}, pt);
  EXPECT_NE(a, b);
  std::vector<uint8_t> out(pt.size());
  EXPECT_EQ(c.open(**k2, n, {}, a, out).code(), Code::kCorruption);
  EXPECT_TRUE(c.open(**k1, n, {}, a, out).ok());
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
