// The on-disk format (docs/format.md): encode/decode round trips, CRC
// coverage, segment-id keying against stale bytes, names, end vs. bad.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "common/endian.h"
#include "wal/codecs/format.h"
#include "wal/wal.h"

namespace sidewal::wal::format {
namespace {

std::vector<uint8_t> encoded(uint64_t seg, uint64_t lsn, uint16_t type, uint16_t flags,
                             uint32_t tenant, const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> out(record_bytes(payload.size()) + 64, 0);
  size_t n = encode_record(seg, lsn, type, flags, tenant, payload, out.data());
  EXPECT_EQ(n, record_bytes(payload.size()));
  return out;
}

TEST(WalFormat, PreambleRoundTripAndLayout) {
  Preamble p;
  p.segment_id = 0x0102030405060708ull;
  uint8_t b[kPreambleBytes];
  encode_preamble(p, b);
  EXPECT_EQ(std::memcmp(b, "SWAL", 4), 0);
  EXPECT_EQ(b[4], kVersion);
  EXPECT_EQ(b[5], kCipherNone);
  EXPECT_EQ(b[8], 0x08);  // little-endian segment id
  Preamble q;
  ASSERT_TRUE(decode_preamble(b, "/x/00000000000000000001.wal", &q).ok());
  EXPECT_EQ(q.segment_id, p.segment_id);
}

TEST(WalFormat, PreambleMismatchNamesTheFile) {
  Preamble p;
  p.segment_id = 3;
  uint8_t b[kPreambleBytes];
  encode_preamble(p, b);
  Preamble q;
  b[0] = 'X';
  Status st = decode_preamble(b, "/data/00000000000000000042.wal", &q);
  EXPECT_EQ(st.code(), Code::kCorruption);
  EXPECT_NE(st.message().find("/data/00000000000000000042.wal"), std::string::npos);
  encode_preamble(p, b);
  b[4] = 9;  // unknown version
  st = decode_preamble(b, "/data/f.wal", &q);
  EXPECT_EQ(st.code(), Code::kUnsupported);
  EXPECT_NE(st.message().find("/data/f.wal"), std::string::npos);
  // No checksum guards the preamble: the message names damage as a cause too.
  EXPECT_NE(st.message().find("damaged"), std::string::npos) << st.message();
  encode_preamble(p, b);
  b[5] = 7;  // unknown cipher
  st = decode_preamble(b, "/data/f.wal", &q);
  EXPECT_EQ(st.code(), Code::kUnsupported);
  EXPECT_NE(st.message().find("damaged"), std::string::npos) << st.message();
  // Cipher 1 needs its 40-byte preamble; 16 bytes are not enough.
  b[5] = kCipherAes256Gcm;
  b[6] = 1;
  EXPECT_EQ(decode_preamble(b, "/data/f.wal", &q).code(), Code::kCorruption);
}

TEST(WalFormat, EncryptedPreambleCarriesSaltAndFingerprint) {
  Preamble p;
  p.segment_id = 9;
  p.cipher = kCipherAes256Gcm;
  p.key_id = 0x0203;
  for (size_t i = 0; i < kSaltBytes; ++i) p.salt[i] = static_cast<uint8_t>(0xA0 + i);
  p.key_fingerprint = 0x1122334455667788ull;
  uint8_t b[kMaxPreambleBytes];
  encode_preamble(p, b);
  EXPECT_EQ(records_offset(p), 40u);
  EXPECT_EQ(b[5], 1);
  EXPECT_EQ(b[6], 0x03);   // key id LE at 6..7
  EXPECT_EQ(b[16], 0xA0);  // salt at 16
  EXPECT_EQ(b[32], 0x88);  // fingerprint LE at 32
  Preamble q;
  ASSERT_TRUE(decode_preamble(b, sizeof b, "/x/f.wal", &q).ok());
  EXPECT_EQ(q.key_id, p.key_id);
  EXPECT_EQ(q.salt, p.salt);
  EXPECT_EQ(q.key_fingerprint, p.key_fingerprint);
  b[6] = b[7] = 0;  // key id 0 with a cipher
  EXPECT_EQ(decode_preamble(b, sizeof b, "/x/f.wal", &q).code(), Code::kCorruption);
}

TEST(WalFormat, RecordRoundTrip) {
  std::vector<uint8_t> payload = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  auto rec = encoded(5, 77, 0x1234, kFlagBatchEnd, 0xABCDEF01, payload);
  RecordHeader h;
  std::string why;
  ASSERT_EQ(check_record(rec.data(), rec.size(), 5, 77, &h, &why), RecordCheck::kValid) << why;
  EXPECT_EQ(h.lsn, 77u);
  EXPECT_EQ(h.type, 0x1234);
  EXPECT_EQ(h.flags, kFlagBatchEnd);
  EXPECT_EQ(h.tenant, 0xABCDEF01u);
  EXPECT_EQ(h.payload_len, payload.size());
  EXPECT_EQ(0, std::memcmp(rec.data() + kHeaderBytes, payload.data(), payload.size()));
  // Header layout is the documented one.
  EXPECT_EQ(get_u64(rec.data()), 77u);
  EXPECT_EQ(get_u16(rec.data() + 8), 0x1234);
  EXPECT_EQ(get_u32(rec.data() + 16), payload.size());
  // Padding to 8 bytes is zero.
  for (size_t i = kHeaderBytes + payload.size(); i < record_bytes(payload.size()); ++i) {
    EXPECT_EQ(rec[i], 0);
  }
  // Empty payload is a valid record.
  auto empty = encoded(5, 78, 0, 0, 0, {});
  EXPECT_EQ(check_record(empty.data(), empty.size(), 5, 78, &h, &why), RecordCheck::kValid);
}

TEST(WalFormat, CrcDetectsEverySingleBitFlipInHeaderAndPayload) {
  std::vector<uint8_t> payload(100);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(i * 7 + 3);
  auto rec = encoded(9, 1000, 3, kFlagBatchEnd | kFlagFlushStart, 42, payload);
  const size_t len = kHeaderBytes + payload.size();
  size_t flips = 0;
  for (size_t byte = 0; byte < len; ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      auto bad = rec;
      bad[byte] ^= static_cast<uint8_t>(1u << bit);
      RecordHeader h;
      std::string why;
      // Expected lsn 0 = "any": the CRC alone must catch it (a flipped lsn
      // would otherwise be caught by the LSN check, which hides CRC gaps).
      EXPECT_EQ(check_record(bad.data(), bad.size(), 9, 0, &h, &why), RecordCheck::kBad)
          << "flip of bit " << bit << " in byte " << byte << " went unnoticed";
      ++flips;
    }
  }
  EXPECT_EQ(flips, len * 8);
}

TEST(WalFormat, StaleRecordFromEarlierLifeOfTheFileNeverValidates) {
  // The same bytes, read as part of a segment with another id (a recycled or
  // re-created file), fail the CRC even though LSN and layout look right.
  auto rec = encoded(/*segment id=*/4, 50, 1, kFlagBatchEnd, 0, {9, 9, 9});
  RecordHeader h;
  std::string why;
  EXPECT_EQ(check_record(rec.data(), rec.size(), 4, 50, &h, &why), RecordCheck::kValid);
  EXPECT_EQ(check_record(rec.data(), rec.size(), 5, 50, &h, &why), RecordCheck::kBad);
  EXPECT_NE(why.find("crc"), std::string::npos) << why;
}

TEST(WalFormat, ZeroHeaderIsTheEndAndGarbageIsBad) {
  std::vector<uint8_t> zeros(64, 0);
  RecordHeader h;
  std::string why;
  EXPECT_EQ(check_record(zeros.data(), zeros.size(), 1, 5, &h, &why), RecordCheck::kEnd);
  // Fewer than a header's bytes left in the file: end when zero, bad otherwise.
  EXPECT_EQ(check_record(zeros.data(), 16, 1, 5, &h, &why), RecordCheck::kEnd);
  zeros[3] = 1;
  EXPECT_EQ(check_record(zeros.data(), 16, 1, 5, &h, &why), RecordCheck::kBad);
  // A torn header: only the lsn landed.
  std::vector<uint8_t> torn(64, 0);
  put_u64(torn.data(), 5);
  EXPECT_EQ(check_record(torn.data(), torn.size(), 1, 5, &h, &why), RecordCheck::kBad);
  // Wrong LSN, unknown flag, length past the end.
  auto rec = encoded(1, 6, 0, kFlagBatchEnd, 0, {1, 2, 3});
  EXPECT_EQ(check_record(rec.data(), rec.size(), 1, 5, &h, &why), RecordCheck::kBad);
  EXPECT_EQ(check_record(rec.data(), 26, 1, 6, &h, &why), RecordCheck::kBad);
  auto flagged = encoded(1, 6, 0, 0x0100, 0, {1});
  EXPECT_EQ(check_record(flagged.data(), flagged.size(), 1, 6, &h, &why), RecordCheck::kBad);
}

TEST(WalFormat, SegmentNamesSortByLsn) {
  std::vector<uint64_t> lsns = {1, 9, 10, 99, 100, 123456789, 18446744073709551615ull};
  std::vector<std::string> names;
  for (uint64_t l : lsns) names.push_back(segment_file_name(l));
  EXPECT_EQ(names[0], "00000000000000000001.wal");
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  for (size_t i = 0; i < lsns.size(); ++i) {
    uint64_t v = 0;
    ASSERT_TRUE(parse_segment_file_name(names[i], &v));
    EXPECT_EQ(v, lsns[i]);
  }
  uint64_t v = 0;
  EXPECT_FALSE(parse_segment_file_name("00000000000000000001.wal.tmp", &v));
  EXPECT_FALSE(parse_segment_file_name("0000000000000000000x.wal", &v));
  EXPECT_FALSE(parse_segment_file_name("00000000000000000000.wal", &v));
  EXPECT_FALSE(parse_segment_file_name("99999999999999999999.wal", &v));  // overflows u64
  EXPECT_TRUE(parse_spare_file_name(spare_file_name(12), &v));
  EXPECT_EQ(v, 12u);
}

}  // namespace
}  // namespace sidewal::wal::format
