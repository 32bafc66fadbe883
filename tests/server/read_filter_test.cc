// TombstoneTracker / strip_dead (src/server/read_filter.h): the daemon's
// SKIP_DEAD decision over a real engine log in a temp directory.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "server/read_filter.h"
#include "tests/support/temp_dir.h"
#include "wal/control/control_records.h"
#include "wal/control/tombstones.h"
#include "wal/wal.h"

namespace sidewal::server {
namespace {

using TempLog = test::TempDir;

std::vector<uint8_t> convention(const std::string& collection, const std::string& rest) {
  std::vector<uint8_t> out;
  std::vector<uint8_t> tail(rest.begin(), rest.end());
  SW_ASSERT(wal::encode_leading_collection_name(collection, tail, &out).ok());
  return out;
}

std::vector<uint8_t> tombstone(uint32_t tenant, const std::string& collection, uint64_t purge) {
  std::vector<uint8_t> out;
  SW_ASSERT(wal::encode_collection_tombstone({tenant, collection, purge}, &out).ok());
  return out;
}

uint64_t append(wal::Wal& w, uint16_t type, uint32_t tenant, const std::vector<uint8_t>& p) {
  wal::RecordIn r{.type = type, .flags = 0, .tenant = tenant, .payload = p};
  auto lsn = w.append_sync(std::span<const wal::RecordIn>(&r, 1));
  SW_ASSERT(lsn.ok());
  return *lsn;
}

std::vector<wal::Record> read_from(wal::Wal& w, uint64_t from) {
  std::vector<wal::Record> out;
  uint64_t next = 0;
  SW_ASSERT(w.read(from, wal::ReadLimits{}, &out, &next).ok());
  return out;
}

std::vector<uint64_t> lsns(const std::vector<wal::Record>& rs) {
  std::vector<uint64_t> v;
  for (const auto& r : rs) v.push_back(r.lsn);
  return v;
}

TEST(ReadFilter, IsDeadRecordFollowsTheConventionAndNeverKillsControlRecords) {
  wal::ReplayState state;
  ASSERT_TRUE(state.add(10, wal::kTypeCollectionTombstone, 0, tombstone(1, "orders", 10)).ok());
  auto rec = [](uint64_t lsn, uint16_t type, uint32_t tenant, std::vector<uint8_t> p) {
    return wal::Record{.lsn = lsn, .type = type, .flags = 0, .tenant = tenant, .payload = p};
  };
  EXPECT_TRUE(is_dead_record(state, rec(9, 1, 1, convention("orders", "x"))));
  EXPECT_FALSE(is_dead_record(state, rec(10, 1, 1, convention("orders", "x"))));  // not below
  EXPECT_FALSE(is_dead_record(state, rec(9, 1, 2, convention("orders", "x"))));   // other tenant
  EXPECT_FALSE(is_dead_record(state, rec(9, 1, 1, convention("users", "x"))));    // other name
  EXPECT_FALSE(is_dead_record(state, rec(9, 1, 1, {0xff})));  // names no collection
  EXPECT_FALSE(
      is_dead_record(state, rec(5, wal::kTypeCollectionTombstone, 1, tombstone(1, "orders", 10))));
  std::vector<wal::Record> rs = {rec(8, 1, 1, convention("orders", "a")),
                                 rec(9, 1, 1, convention("users", "b")),
                                 rec(11, 1, 1, convention("orders", "c"))};
  strip_dead(state, &rs);
  EXPECT_EQ(lsns(rs), (std::vector<uint64_t>{9, 11}));
}

TEST(ReadFilter, TrackerSeesTombstonesAboveTheChunkAndLaterOnes) {
  TempLog dir;
  wal::WalOptions o;
  o.dir = dir.path();
  auto opened = wal::Wal::open(o, nullptr);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  wal::Wal& w = **opened;
  append(w, 1, 1, convention("orders", "a"));                              // 1
  append(w, 1, 1, convention("users", "b"));                               // 2
  append(w, wal::kTypeCollectionTombstone, 0, tombstone(1, "orders", 2));  // 3
  append(w, 1, 1, convention("orders", "c"));                              // 4

  TombstoneTracker t;
  EXPECT_EQ(t.covered_lsn(), 0u);
  // A chunk holding only LSN 1: the tombstone at 3 (above it) still kills it.
  std::vector<wal::Record> chunk = read_from(w, 1);
  chunk.resize(1);
  ASSERT_TRUE(t.filter(&w, &chunk).ok());
  EXPECT_TRUE(chunk.empty());
  EXPECT_EQ(t.covered_lsn(), 4u);  // caught up to the durable end
  EXPECT_EQ(t.tombstones(), 1u);

  // A later tombstone widens what is dead, for records read before or after.
  append(w, wal::kTypeCollectionTombstone, 0, tombstone(1, "orders", 100));  // 5
  append(w, 1, 1, convention("orders", "d"));                                // 6
  append(w, 1, 1, convention("users", "e"));                                 // 7
  chunk = read_from(w, 4);
  ASSERT_TRUE(t.filter(&w, &chunk).ok());
  EXPECT_EQ(lsns(chunk), (std::vector<uint64_t>{5, 7}));
  EXPECT_EQ(t.covered_lsn(), 7u);
  chunk = read_from(w, 1);
  ASSERT_TRUE(t.filter(&w, &chunk).ok());
  EXPECT_EQ(lsns(chunk), (std::vector<uint64_t>{2, 3, 5, 7}));
  ASSERT_TRUE(w.close().ok());
}

TEST(ReadFilter, TrackerBuiltFromAReopenedLogKnowsItsTombstones) {
  TempLog dir;
  wal::WalOptions o;
  o.dir = dir.path();
  {
    auto opened = wal::Wal::open(o, nullptr);
    ASSERT_TRUE(opened.ok());
    append(**opened, 1, 3, convention("c", "a"));
    append(**opened, wal::kTypeCollectionTombstone, 0, tombstone(3, "c", 2));
    ASSERT_TRUE((*opened)->close().ok());
  }
  auto opened = wal::Wal::open(o, nullptr);
  ASSERT_TRUE(opened.ok());
  append(**opened, 1, 3, convention("c", "b"));  // 3: above the purge LSN, live
  TombstoneTracker t;
  std::vector<wal::Record> chunk = read_from(**opened, 1);
  ASSERT_TRUE(t.filter(opened->get(), &chunk).ok());
  EXPECT_EQ(lsns(chunk), (std::vector<uint64_t>{2, 3}));
  ASSERT_TRUE((*opened)->close().ok());
}

}  // namespace
}  // namespace sidewal::server
