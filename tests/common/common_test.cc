#include <gtest/gtest.h>

#include "common/crc32c.h"
#include "common/endian.h"
#include "common/status.h"

namespace sidewal {
namespace {

TEST(Crc32c, MatchesTheStandardCheckValue) {
  // The CRC-32C check value from RFC 3720 / the Castagnoli catalogue.
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
}

TEST(Crc32c, ExtendEqualsOneShot) {
  const char* s = "hello, write-ahead log";
  size_t n = std::strlen(s);
  EXPECT_EQ(crc32c_extend(crc32c(s, 5), s + 5, n - 5), crc32c(s, n));
}

TEST(Endian, RoundTripsLittleEndian) {
  uint8_t b[8];
  put_u64(b, 0x0102030405060708ull);
  EXPECT_EQ(b[0], 0x08);
  EXPECT_EQ(get_u64(b), 0x0102030405060708ull);
  put_u16(b, 0xBEEF);
  EXPECT_EQ(b[0], 0xEF);
  EXPECT_EQ(get_u16(b), 0xBEEF);
}

TEST(ByteReader, RefusesToReadPastTheEnd) {
  uint8_t b[3] = {1, 2, 3};
  ByteReader r(b, 3);
  uint16_t v;
  EXPECT_TRUE(r.u16(&v));
  uint32_t w;
  EXPECT_FALSE(r.u32(&w));
  EXPECT_EQ(r.remaining(), 1u);
}

TEST(Status, FromErrnoMapsNoSpace) {
  Status s = Status::FromErrno(ENOSPC, "write x");
  EXPECT_EQ(s.code(), Code::kNoSpace);
  EXPECT_NE(s.message().find("write x"), std::string::npos);
}

TEST(Status, CarriesAPeersErrorCodeBesideItsOwnCode) {
  // A local error carries none, whatever its message says.
  EXPECT_EQ(Status::Ok().remote_code(), 0);
  EXPECT_EQ(Status::IoError("daemon error MALFORMED (1): bad").remote_code(), 0);
  EXPECT_EQ(Status::FromErrno(ENOSPC, "write x").remote_code(), 0);

  Status s(Code::kNoSpace, "daemon error NO_SPACE (7): disk full", 7);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kNoSpace);
  EXPECT_EQ(s.remote_code(), 7);
  // The message and ToString are what they would be without it.
  EXPECT_EQ(s.message(), "daemon error NO_SPACE (7): disk full");
  EXPECT_EQ(s.ToString(), "NoSpace: daemon error NO_SPACE (7): disk full");
  // Copies, moves, assignments and Results keep it.
  Status copy = s;
  EXPECT_EQ(copy.remote_code(), 7);
  Status moved = std::move(copy);
  EXPECT_EQ(moved.remote_code(), 7);
  Status assigned;
  assigned = moved;
  EXPECT_EQ(assigned.remote_code(), 7);
  Result<int> r(s);
  EXPECT_EQ(r.status().remote_code(), 7);
  // A Status rebuilt from code and message alone is a local error.
  EXPECT_EQ(Status(s.code(), s.message()).remote_code(), 0);
  // Assigning a local error over it drops it.
  assigned = Status::IoError("local");
  EXPECT_EQ(assigned.remote_code(), 0);
}

}  // namespace
}  // namespace sidewal
