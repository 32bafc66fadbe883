// ReplayState / TombstoneSet: what one pass over a range of records says.
#include "wal/control/tombstones.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sidewal::wal {
namespace {

Record control(uint64_t lsn, uint16_t type, std::vector<uint8_t> payload) {
  Record r;
  r.lsn = lsn;
  r.type = type;
  r.tenant = 0;  // control records' header tenant is not interpreted
  r.payload = std::move(payload);
  return r;
}

Record tombstone(uint64_t lsn, uint32_t tenant, const std::string& coll, uint64_t purge_lsn) {
  std::vector<uint8_t> p;
  EXPECT_TRUE(encode_collection_tombstone({tenant, coll, purge_lsn}, &p).ok());
  return control(lsn, kTypeCollectionTombstone, std::move(p));
}

Record calvin(uint64_t lsn, uint64_t epoch, uint32_t position, uint32_t shard) {
  std::vector<uint8_t> p;
  EXPECT_TRUE(encode_calvin_applied({epoch, position, shard}, &p).ok());
  return control(lsn, kTypeCalvinApplied, std::move(p));
}

Record purge(uint64_t lsn, const TemporalPurge& tp) {
  std::vector<uint8_t> p;
  EXPECT_TRUE(encode_temporal_purge(tp, &p).ok());
  return control(lsn, kTypeTemporalPurge, std::move(p));
}

// An application record following the collection-name convention.
Record app(uint64_t lsn, uint32_t tenant, const std::string& coll, const std::string& body) {
  Record r;
  r.lsn = lsn;
  r.type = 0x0010;
  r.tenant = tenant;
  EXPECT_TRUE(
      encode_leading_collection_name(
          coll,
          std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(body.data()), body.size()),
          &r.payload)
          .ok());
  return r;
}

void feed(ReplayState& state, const std::vector<Record>& records) {
  for (const Record& r : records) {
    Status st = state.add(r);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
}

TEST(TombstoneSet, KeepsTheHighestPurgeLsnPerTenantAndCollection) {
  TombstoneSet set;
  set.add(1, "orders", 50);
  set.add(1, "orders", 30);  // a lower, later tombstone does not resurrect anything
  set.add(1, "orders", 80);
  set.add(2, "orders", 10);
  set.add(1, "users", 5);
  EXPECT_EQ(set.size(), 3u);
  EXPECT_EQ(set.purge_lsn(1, "orders"), 80u);
  EXPECT_EQ(set.purge_lsn(2, "orders"), 10u);
  EXPECT_EQ(set.purge_lsn(3, "orders"), 0u);
  EXPECT_EQ(set.purge_lsn(1, "order"), 0u);

  EXPECT_TRUE(set.is_dead(1, "orders", 79));
  EXPECT_FALSE(set.is_dead(1, "orders", 80));  // "below purge_lsn" is strict
  EXPECT_FALSE(set.is_dead(1, "orders", 81));
  EXPECT_TRUE(set.is_dead(2, "orders", 9));
  EXPECT_FALSE(set.is_dead(2, "orders", 10));
  EXPECT_FALSE(set.is_dead(3, "orders", 1));  // other tenant, same name
  EXPECT_FALSE(set.is_dead(1, "Orders", 1));  // names compare byte for byte

  size_t n = 0;
  set.for_each([&](uint32_t tenant, const std::string& coll, uint64_t lsn) {
    ++n;
    EXPECT_EQ(lsn, set.purge_lsn(tenant, coll));
  });
  EXPECT_EQ(n, 3u);
}

TEST(ReplayState, OnePassCollectsTombstonesMarkersAndPurgesInOrder) {
  ReplayState state;
  const TemporalPurge p1{1, EngineTag::kRowStore, "orders", 1000, 12};
  const TemporalPurge p2{2, EngineTag::kColumnStore, "metrics", 2000, 3};
  feed(state, {app(1, 1, "orders", "a"), calvin(2, 1, 10, 0), tombstone(3, 1, "orders", 3),
               purge(4, p1), calvin(5, 1, 4, 1), app(6, 1, "orders", "b"), calvin(7, 2, 0, 0),
               purge(8, p2), tombstone(9, 1, "orders", 2)});

  EXPECT_EQ(state.records(), 9u);
  EXPECT_EQ(state.control_records(), 7u);
  EXPECT_EQ(state.last_lsn(), 9u);
  EXPECT_EQ(state.tombstones().purge_lsn(1, "orders"), 3u);

  ASSERT_EQ(state.calvin_markers().size(), 2u);
  EXPECT_EQ(*state.calvin_marker(0), (CalvinMarker{7, {2, 0, 0}}));
  EXPECT_EQ(*state.calvin_marker(1), (CalvinMarker{5, {1, 4, 1}}));
  EXPECT_EQ(state.calvin_marker(2), nullptr);
  EXPECT_EQ(state.calvin_regressions(), 0u);

  EXPECT_EQ(state.temporal_purges(), (std::vector<TemporalPurgeEntry>{{4, p1}, {8, p2}}));
}

TEST(ReplayState, CalvinMarkerIsTheHighestEpochAndPositionAndCountsRegressions) {
  ReplayState state;
  feed(state, {calvin(1, 3, 5, 7), calvin(2, 3, 9, 7), calvin(3, 2, 100, 7),  // epoch went back
               calvin(4, 3, 8, 7),                                            // position went back
               calvin(5, 3, 9, 7)});                                          // equal: keep first
  EXPECT_EQ(*state.calvin_marker(7), (CalvinMarker{2, {3, 9, 7}}));
  EXPECT_EQ(state.calvin_regressions(), 2u);
}

TEST(ReplayState, ConventionFindsDeadRecordsByTheirLeadingCollectionName) {
  ReplayState state;
  const std::vector<Record> log = {app(1, 1, "orders", "o1"),    app(2, 1, "users", "u1"),
                                   app(3, 2, "orders", "o2"),    app(4, 1, "orders", "o3"),
                                   tombstone(5, 1, "orders", 4), app(6, 1, "orders", "o4")};
  feed(state, log);
  std::vector<uint64_t> dead;
  for (const Record& r : log) {
    auto d = state.is_dead_by_convention(r);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    if (*d) dead.push_back(r.lsn);
  }
  // Tenant 1's orders below LSN 4; not tenant 2's, not users, not the tombstone itself.
  EXPECT_EQ(dead, (std::vector<uint64_t>{1}));

  ReplayState later;
  feed(later, log);
  ASSERT_TRUE(later.add(tombstone(7, 1, "orders", 7)).ok());
  dead.clear();
  for (const Record& r : log) {
    if (later.is_dead_by_convention(r).value()) dead.push_back(r.lsn);
  }
  EXPECT_EQ(dead, (std::vector<uint64_t>{1, 4, 6}));
}

TEST(ReplayState, ConventionRefusesPayloadsWithoutAValidName) {
  ReplayState state;
  Record r;
  r.lsn = 12;
  r.type = 1;
  r.payload = {5};  // one byte: not even a length
  auto d = state.is_dead_by_convention(r);
  EXPECT_EQ(d.status().code(), Code::kInvalidArgument);
  EXPECT_NE(d.status().message().find("record lsn 12"), std::string::npos) << d.status().ToString();
  r.payload = {9, 0, 'a'};  // length 9, 1 byte of name
  EXPECT_NE(state.is_dead_by_convention(r).status().message().find("name length 9 exceeds the 1"),
            std::string::npos);
  r.payload = {0, 0};  // empty name
  EXPECT_FALSE(state.is_dead_by_convention(r).ok());
  r.payload = {1, 0, 0xFF};
  EXPECT_NE(state.is_dead_by_convention(r).status().message().find("UTF-8"), std::string::npos);
}

TEST(ReplayState, LeadingCollectionNameIsAViewAndTheRestIsTheDatabases) {
  std::vector<uint8_t> p;
  const std::vector<uint8_t> rest = {1, 2, 3};
  ASSERT_TRUE(encode_leading_collection_name("kv", rest, &p).ok());
  EXPECT_EQ(p, (std::vector<uint8_t>{2, 0, 'k', 'v', 1, 2, 3}));
  auto name = leading_collection_name(p);
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(*name, "kv");
  EXPECT_EQ(reinterpret_cast<const uint8_t*>(name->data()), p.data() + 2);
  EXPECT_FALSE(encode_leading_collection_name(std::string(256, 'a'), rest, &p).ok());
}

TEST(ReplayState, RefusesRecordsOutOfLsnOrder) {
  ReplayState state;
  ASSERT_TRUE(state.add(tombstone(5, 1, "a", 2)).ok());
  for (uint64_t lsn : {uint64_t{5}, uint64_t{4}}) {
    Status st = state.add(tombstone(lsn, 1, "a", 9));
    EXPECT_EQ(st.code(), Code::kInvalidArgument);
    EXPECT_NE(st.message().find("lsn " + std::to_string(lsn) + " is not above the previous lsn 5"),
              std::string::npos)
        << st.ToString();
  }
  EXPECT_EQ(state.add(tombstone(0, 1, "a", 9)).code(), Code::kInvalidArgument);
  // Refused records changed nothing.
  EXPECT_EQ(state.tombstones().purge_lsn(1, "a"), 2u);
  EXPECT_EQ(state.records(), 1u);
}

TEST(ReplayState, MalformedControlRecordIsCorruptionNamingTheLsnAndChangesNothing) {
  ReplayState state;
  Status st = state.add(control(41, kTypeCalvinApplied, {1, 2, 3}));
  EXPECT_EQ(st.code(), Code::kCorruption);
  EXPECT_NE(st.message().find("lsn 41"), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find("exactly 16"), std::string::npos) << st.ToString();
  std::vector<uint8_t> bad;
  ASSERT_TRUE(encode_temporal_purge({1, EngineTag::kRowStore, "c", 0, 0}, &bad).ok());
  bad[4] = 200;  // engine tag
  EXPECT_EQ(state.add(control(42, kTypeTemporalPurge, bad)).code(), Code::kCorruption);
  EXPECT_EQ(state.add(control(43, kTypeCollectionTombstone, {})).code(), Code::kCorruption);
  EXPECT_EQ(state.records(), 0u);
  EXPECT_EQ(state.last_lsn(), 0u);
  EXPECT_TRUE(state.temporal_purges().empty());
  // The pass can go on after the caller decided what to do.
  EXPECT_TRUE(state.add(tombstone(44, 1, "a", 2)).ok());
}

TEST(ReplayState, UnknownReservedTypesAreCountedAndSkipped) {
  ReplayState state;
  feed(state, {control(1, 0x8000, {1}), control(2, 0x9000, {}), tombstone(3, 1, "x", 2)});
  EXPECT_EQ(state.unknown_control_records(), 2u);
  EXPECT_EQ(state.control_records(), 3u);
  EXPECT_EQ(state.tombstones().size(), 1u);
}

TEST(ReplayState, ApplicationPayloadsAreNotLookedAt) {
  // A header-only reader passes empty payloads for application records.
  ReplayState state;
  EXPECT_TRUE(state.add(1, 0x0001, 3, {}).ok());
  EXPECT_TRUE(state.add(2, 0x7FFF, 3, {}).ok());
  EXPECT_EQ(state.records(), 2u);
  EXPECT_EQ(state.control_records(), 0u);
}

}  // namespace
}  // namespace sidewal::wal
