#include "payload.h"

#include <gtest/gtest.h>

#include <vector>

#include "common/endian.h"

namespace sidewal::bench {
namespace {

TEST(Payload, CarriesConnectionAndSequenceAndChecksBack) {
  std::vector<uint8_t> p(100);
  fill_payload(7, 123456789, p);
  EXPECT_EQ(get_u32(p.data()), 7u);
  EXPECT_EQ(get_u64(p.data() + 4), 123456789u);
  EXPECT_EQ(check_payload(7, 123456789, p, 100), std::nullopt);
}

TEST(Payload, DifferentRecordsHaveDifferentFiller) {
  std::vector<uint8_t> a(64), b(64);
  fill_payload(1, 1, a);
  fill_payload(1, 2, b);
  EXPECT_FALSE(
      std::equal(a.begin() + kPayloadHeaderBytes, a.end(), b.begin() + kPayloadHeaderBytes));
}

TEST(Payload, CheckNamesTheFirstDifferingByteAndWhatTheRecordClaims) {
  std::vector<uint8_t> p(100);
  fill_payload(3, 40, p);
  p[57] ^= 1;
  auto bad = check_payload(3, 40, p, 100);
  ASSERT_TRUE(bad.has_value());
  EXPECT_NE(bad->find("offset 57"), std::string::npos) << *bad;

  fill_payload(4, 41, p);  // someone else's record at this LSN
  bad = check_payload(3, 40, p, 100);
  ASSERT_TRUE(bad.has_value());
  EXPECT_NE(bad->find("connection 4 sequence 41"), std::string::npos) << *bad;

  bad = check_payload(4, 41, std::span<const uint8_t>(p.data(), 99), 100);
  ASSERT_TRUE(bad.has_value());
  EXPECT_NE(bad->find("expected 100 bytes, got 99"), std::string::npos) << *bad;
}

TEST(Payload, TinyAndHugeRecordsAreThePrefixOrWrapThePool) {
  std::vector<uint8_t> tiny(5), full(12);
  fill_payload(9, 10, tiny);
  fill_payload(9, 10, full);
  EXPECT_TRUE(std::equal(tiny.begin(), tiny.end(), full.begin()));
  EXPECT_EQ(check_payload(9, 10, tiny, 5), std::nullopt);

  std::vector<uint8_t> big(3u << 20);  // larger than the 1 MiB pool
  fill_payload(2, 99, big);
  EXPECT_EQ(check_payload(2, 99, big, big.size()), std::nullopt);
  big[big.size() - 1] ^= 0xFF;
  EXPECT_TRUE(check_payload(2, 99, big, big.size()).has_value());
}

}  // namespace
}  // namespace sidewal::bench
