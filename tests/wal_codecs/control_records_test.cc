// Control-record payloads: round trips, the exact bytes of the documented
// layout (docs/control-records.md), and every malformed case the decoders
// must refuse.
#include "wal/control/control_records.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/endian.h"
#include "wal/wal.h"

namespace sidewal::wal {
namespace {

std::vector<uint8_t> bytes_of(std::string_view s) { return {s.begin(), s.end()}; }

std::vector<uint8_t> encoded(const CollectionTombstone& t) {
  std::vector<uint8_t> out;
  Status st = encode_collection_tombstone(t, &out);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out;
}
std::vector<uint8_t> encoded(const TemporalPurge& p) {
  std::vector<uint8_t> out;
  Status st = encode_temporal_purge(p, &out);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out;
}
std::vector<uint8_t> encoded(const CalvinApplied& c) {
  std::vector<uint8_t> out;
  Status st = encode_calvin_applied(c, &out);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out;
}

void expect_invalid(const Status& st, const std::string& needle) {
  EXPECT_EQ(st.code(), Code::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find(needle), std::string::npos)
      << "message \"" << st.message() << "\" lacks \"" << needle << "\"";
}

TEST(ControlRecords, TypesAreInTheReservedRangeOfWalH) {
  EXPECT_EQ(kFirstControlType, 0x8000);  // the wire value docs/format.md names
  EXPECT_TRUE(is_control_type(kFirstControlType));
  EXPECT_TRUE(is_control_type(0xFFFF));
  EXPECT_FALSE(is_control_type(0x7FFF));
  EXPECT_FALSE(is_control_type(0));
  EXPECT_TRUE(is_known_control_type(kTypeCollectionTombstone));
  EXPECT_TRUE(is_known_control_type(kTypeTemporalPurge));
  EXPECT_TRUE(is_known_control_type(kTypeCalvinApplied));
  EXPECT_FALSE(is_known_control_type(kFirstControlType));
  EXPECT_FALSE(is_known_control_type(0x8004));
  EXPECT_FALSE(is_known_control_type(0x0001));
}

TEST(ControlRecords, CollectionTombstoneHasTheDocumentedBytes) {
  auto out = encoded(CollectionTombstone{0x01020304, "ab", 0x1122334455667788});
  const std::vector<uint8_t> want = {0x04, 0x03, 0x02, 0x01,  // tenant
                                     0x02, 0x00,              // name_len
                                     'a',  'b',               // name
                                     0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11};
  EXPECT_EQ(out, want);
}

TEST(ControlRecords, TemporalPurgeHasTheDocumentedBytes) {
  auto out = encoded(TemporalPurge{7, EngineTag::kColumnStore, "x", -2, 5});
  const std::vector<uint8_t> want = {7,    0,    0,    0,                             // tenant
                                     2,                                               // engine
                                     1,    0,    'x',                                 // name
                                     0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,  // -2
                                     5,    0,    0,    0,    0,    0,    0,    0};
  EXPECT_EQ(out, want);
}

TEST(ControlRecords, CalvinAppliedHasTheDocumentedBytes) {
  auto out = encoded(CalvinApplied{0x0102030405060708, 0x0A0B0C0D, 0x11121314});
  const std::vector<uint8_t> want = {8,    7,    6,    5,    4,    3,    2,    1,
                                     0x0D, 0x0C, 0x0B, 0x0A, 0x14, 0x13, 0x12, 0x11};
  EXPECT_EQ(out, want);
}

TEST(ControlRecords, CollectionTombstoneRoundTrips) {
  for (const auto& t : {CollectionTombstone{0, "a", 1},
                        CollectionTombstone{0xFFFFFFFF, std::string(255, 'z'), UINT64_MAX},
                        CollectionTombstone{42, "Bestellungen_Ä_日本_😀", 1234567}}) {
    auto out = encoded(t);
    auto back = decode_collection_tombstone(out);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, t);
    EXPECT_TRUE(validate_control_record(kTypeCollectionTombstone, out).ok());
  }
}

TEST(ControlRecords, TemporalPurgeRoundTripsEveryEngineAndExtremeCutoffs) {
  for (EngineTag e : {EngineTag::kRowStore, EngineTag::kColumnStore, EngineTag::kDocumentStore}) {
    for (int64_t cutoff : {INT64_MIN, int64_t{-1}, int64_t{0}, int64_t{1700000000000}, INT64_MAX}) {
      TemporalPurge p{9, e, "orders", cutoff, 77};
      auto out = encoded(p);
      auto back = decode_temporal_purge(out);
      ASSERT_TRUE(back.ok()) << back.status().ToString();
      EXPECT_EQ(*back, p);
      EXPECT_TRUE(validate_control_record(kTypeTemporalPurge, out).ok());
    }
  }
}

TEST(ControlRecords, CalvinAppliedRoundTrips) {
  for (const auto& c : {CalvinApplied{0, 0, 0}, CalvinApplied{UINT64_MAX, UINT32_MAX, UINT32_MAX},
                        CalvinApplied{5, 17, 3}}) {
    auto out = encoded(c);
    auto back = decode_calvin_applied(out);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, c);
    EXPECT_TRUE(validate_control_record(kTypeCalvinApplied, out).ok());
  }
}

TEST(ControlRecords, EncodersAppendToExistingBytes) {
  std::vector<uint8_t> out = {0xAA};
  ASSERT_TRUE(encode_calvin_applied(CalvinApplied{1, 2, 3}, &out).ok());
  ASSERT_EQ(out.size(), 17u);
  EXPECT_EQ(out[0], 0xAA);
  auto back = decode_calvin_applied(std::span<const uint8_t>(out).subspan(1));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->position, 2u);
}

TEST(ControlRecords, EncodersRefuseBadNamesAndLeaveOutputUntouched) {
  std::vector<uint8_t> out = {1, 2, 3};
  const std::vector<uint8_t> before = out;
  expect_invalid(encode_collection_tombstone({1, "", 5}, &out), "empty");
  expect_invalid(encode_collection_tombstone({1, std::string(256, 'a'), 5}, &out),
                 "256 bytes, at most 255");
  expect_invalid(encode_collection_tombstone({1, "bad\xFF", 5}, &out), "not valid UTF-8");
  expect_invalid(encode_collection_tombstone({1, "ok", 0}, &out), "purge_lsn is 0");
  expect_invalid(encode_temporal_purge({1, EngineTag::kRowStore, "", 0, 0}, &out), "empty");
  expect_invalid(encode_temporal_purge({1, static_cast<EngineTag>(9), "c", 0, 0}, &out),
                 "unknown engine tag 9");
  expect_invalid(encode_temporal_purge({1, static_cast<EngineTag>(0), "c", 0, 0}, &out),
                 "unknown engine tag 0");
  EXPECT_EQ(out, before);
}

TEST(ControlRecords, TombstoneDecoderRefusesEveryTruncation) {
  auto good = encoded(CollectionTombstone{3, "orders", 99});
  for (size_t n = 0; n < good.size(); ++n) {
    auto r = decode_collection_tombstone(std::span<const uint8_t>(good.data(), n));
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << "prefix of " << n << " bytes";
    EXPECT_NE(r.status().message().find("collection tombstone (0x8001)"), std::string::npos);
  }
}

TEST(ControlRecords, PurgeAndCalvinDecodersRefuseEveryTruncation) {
  auto purge = encoded(TemporalPurge{3, EngineTag::kDocumentStore, "docs", 100, 2});
  for (size_t n = 0; n < purge.size(); ++n) {
    EXPECT_EQ(decode_temporal_purge(std::span<const uint8_t>(purge.data(), n)).status().code(),
              Code::kInvalidArgument)
        << "prefix of " << n << " bytes";
  }
  auto calvin = encoded(CalvinApplied{1, 2, 3});
  for (size_t n = 0; n < calvin.size(); ++n) {
    expect_invalid(decode_calvin_applied(std::span<const uint8_t>(calvin.data(), n)).status(),
                   "exactly 16 expected");
  }
}

TEST(ControlRecords, DecodersRefuseTrailingBytes) {
  auto t = encoded(CollectionTombstone{3, "orders", 99});
  t.push_back(0);
  expect_invalid(decode_collection_tombstone(t).status(), "1 trailing bytes after purge_lsn");
  auto p = encoded(TemporalPurge{3, EngineTag::kRowStore, "o", 1, 2});
  p.insert(p.end(), {0, 0, 0});
  expect_invalid(decode_temporal_purge(p).status(), "3 trailing bytes after versions_purged");
  auto c = encoded(CalvinApplied{1, 2, 3});
  c.push_back(9);
  expect_invalid(decode_calvin_applied(c).status(), "17 bytes, exactly 16");
}

// Builds a tombstone payload by hand so that name_len and name can disagree.
std::vector<uint8_t> raw_tombstone(uint16_t name_len, const std::vector<uint8_t>& name,
                                   uint64_t purge_lsn) {
  std::vector<uint8_t> out;
  ByteWriter w(&out);
  w.u32(1);
  w.u16(name_len);
  w.bytes(name.data(), name.size());
  w.u64(purge_lsn);
  return out;
}

TEST(ControlRecords, DecoderRefusesEmptyAndOversizedNames) {
  expect_invalid(decode_collection_tombstone(raw_tombstone(0, {}, 5)).status(), "empty");
  std::vector<uint8_t> long_name(256, 'n');
  expect_invalid(decode_collection_tombstone(raw_tombstone(256, long_name, 5)).status(),
                 "256 bytes, at most 255");
  std::vector<uint8_t> max_name(255, 'n');
  EXPECT_TRUE(decode_collection_tombstone(raw_tombstone(255, max_name, 5)).ok());
}

TEST(ControlRecords, DecoderRefusesANameLengthBeyondThePayload) {
  // name_len 200 but only "ab" + 8 bytes of purge_lsn follow.
  expect_invalid(decode_collection_tombstone(raw_tombstone(200, bytes_of("ab"), 5)).status(),
                 "name_len says 200 bytes but only 10 remain");
}

TEST(ControlRecords, DecoderRefusesPurgeLsnZero) {
  expect_invalid(decode_collection_tombstone(raw_tombstone(2, bytes_of("ab"), 0)).status(),
                 "purge_lsn is 0");
}

TEST(ControlRecords, DecoderRefusesUnknownEngineTags) {
  auto p = encoded(TemporalPurge{3, EngineTag::kRowStore, "o", 1, 2});
  for (int tag : {0, 4, 0x7F, 0xFF}) {
    p[4] = static_cast<uint8_t>(tag);
    expect_invalid(decode_temporal_purge(p).status(), "unknown engine tag " + std::to_string(tag));
    expect_invalid(validate_control_record(kTypeTemporalPurge, p), "unknown engine tag");
  }
}

TEST(ControlRecords, Utf8ValidationIsStrict) {
  size_t at = 99;
  EXPECT_TRUE(is_valid_utf8("plain", &at));
  EXPECT_TRUE(is_valid_utf8("\xC3\xA4\xE6\x97\xA5\xF0\x9F\x98\x80", &at));  // ä 日 😀
  EXPECT_TRUE(is_valid_utf8("\xF4\x8F\xBF\xBF", &at));                      // U+10FFFF
  struct Bad {
    std::string s;
    size_t at;
  };
  const Bad bad[] = {
      {"a\x80", 1},             // lone continuation byte
      {"\xC0\xAF", 0},          // overlong '/'
      {"\xC1\xBF", 0},          // overlong
      {"\xE0\x80\xAF", 0},      // overlong 3-byte
      {"\xF0\x80\x80\xAF", 0},  // overlong 4-byte
      {"ab\xED\xA0\x80", 2},    // UTF-16 surrogate U+D800
      {"\xF4\x90\x80\x80", 0},  // above U+10FFFF
      {"\xF5\x80\x80\x80", 0},  // invalid lead
      {"\xFF", 0},              // invalid byte
      {"x\xC3", 1},             // truncated 2-byte
      {"\xE6\x97", 0},          // truncated 3-byte
      {"\xE6\x97\x41", 0},      // bad continuation
  };
  for (const auto& b : bad) {
    at = 99;
    EXPECT_FALSE(is_valid_utf8(b.s, &at)) << testing::PrintToString(b.s);
    EXPECT_EQ(at, b.at) << testing::PrintToString(b.s);
  }
}

TEST(ControlRecords, DecoderRefusesInvalidUtf8Names) {
  const std::vector<uint8_t> name = {'o', 'k', 0xED, 0xA0, 0x80};
  expect_invalid(decode_collection_tombstone(raw_tombstone(5, name, 5)).status(),
                 "not valid UTF-8 (at byte 2)");
}

TEST(ControlRecords, ValidateRefusesApplicationAndUnknownReservedTypes) {
  auto payload = encoded(CalvinApplied{1, 2, 3});
  expect_invalid(validate_control_record(0x0001, payload), "application type");
  expect_invalid(validate_control_record(0x8000, payload), "0x8000 is reserved");
  expect_invalid(validate_control_record(0x8004, payload), "0x8004 is reserved");
  expect_invalid(validate_control_record(0xFFFF, payload), "0xFFFF is reserved");
  // A valid payload of one type is not valid for another.
  EXPECT_FALSE(validate_control_record(kTypeCollectionTombstone, payload).ok());
  EXPECT_TRUE(validate_control_record(kTypeCalvinApplied, payload).ok());
}

TEST(ControlRecords, DescribeShowsDecodedFields) {
  EXPECT_EQ(describe(kTypeCollectionTombstone, encoded(CollectionTombstone{7, "orders", 1234})),
            "collection-tombstone tenant=7 collection=\"orders\" purge_lsn=1234");
  EXPECT_EQ(describe(kTypeTemporalPurge,
                     encoded(TemporalPurge{2, EngineTag::kDocumentStore, "d", -5, 9})),
            "temporal-purge tenant=2 engine=document-store collection=\"d\" cutoff_ms=-5 "
            "versions_purged=9");
  EXPECT_EQ(describe(kTypeCalvinApplied, encoded(CalvinApplied{4, 5, 6})),
            "calvin-applied epoch=4 position=5 shard=6");
}

TEST(ControlRecords, DescribeEscapesNamesAndReportsInvalidPayloads) {
  EXPECT_EQ(describe(kTypeCollectionTombstone,
                     encoded(CollectionTombstone{1, "a\"b\\c\n\x01\x7F\xC3\xA4", 2})),
            "collection-tombstone tenant=1 collection=\"a\\\"b\\\\c\\x0A\\x01\\x7F\xC3\xA4\" "
            "purge_lsn=2");
  const std::vector<uint8_t> bad_name = {'o', 0xFF};
  const std::string line = describe(kTypeCollectionTombstone, raw_tombstone(2, bad_name, 5));
  EXPECT_EQ(line.rfind("collection-tombstone INVALID: ", 0), 0u) << line;
  EXPECT_NE(line.find("\"o\\xFF\""), std::string::npos) << line;
  EXPECT_EQ(describe(kTypeCalvinApplied, std::vector<uint8_t>(3)),
            "calvin-applied INVALID: calvin applied (0x8003): payload is 3 bytes, exactly 16 "
            "expected");
  EXPECT_EQ(describe(0x8009, std::vector<uint8_t>(4)), "reserved type=0x8009 bytes=4");
  EXPECT_EQ(describe(0x0012, std::vector<uint8_t>(10)), "application type=0x0012 bytes=10");
}

TEST(ControlRecords, EngineTagsHaveNames) {
  EXPECT_STREQ(engine_tag_name(EngineTag::kRowStore), "row-store");
  EXPECT_STREQ(engine_tag_name(EngineTag::kColumnStore), "column-store");
  EXPECT_STREQ(engine_tag_name(EngineTag::kDocumentStore), "document-store");
  EXPECT_STREQ(engine_tag_name(static_cast<EngineTag>(42)), "unknown");
  EXPECT_FALSE(is_known_engine_tag(0));
  EXPECT_TRUE(is_known_engine_tag(3));
  EXPECT_FALSE(is_known_engine_tag(4));
}

}  // namespace
}  // namespace sidewal::wal
