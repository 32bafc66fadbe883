// The archive (docs/archive.md) against MemoryObjectStore and real log
// directories.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

#include "archive/archive_names.h"
#include "archive/chain.h"
#include "archive/local_generation.h"
#include "archive/restore.h"
#include "archive/uploader.h"
#include "archive_rig.h"

namespace sidewal::archive {
namespace {

using testing::MemoryObjectStore;
using wal::testing::make_payload;
using wal::testing::ScratchDir;

std::vector<wal::Record> records_of_dir(const std::string& dir,
                                        wal::RecoveryReport* rep = nullptr) {
  std::vector<wal::Record> out;
  auto io = wal::make_backend(wal::BackendKind::kPwrite, nullptr);
  wal::RecoveryReport local;
  Status s = wal::inspect_dir(
      dir, io.get(), {}, [&](const wal::Record& r) { out.push_back(r); }, rep ? rep : &local);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

// Every piece is in the chain's cover (nothing superseded left, no gap), and
// no LSN is claimed by two listed pieces.
void expect_clean_archive(MemoryObjectStore& store, const std::string& gen) {
  std::vector<ObjectInfo> listing;
  const std::string sp = segments_prefix(kPrefix, gen);
  ASSERT_TRUE(store.list(sp, &listing).ok());
  Chain chain;
  ASSERT_TRUE(build_chain(listing, sp, UINT64_MAX, &chain).ok());
  EXPECT_TRUE(chain.gap.ok()) << chain.gap.ToString();
  EXPECT_TRUE(chain.superseded.empty()) << chain.superseded.front().key;
  std::map<uint64_t, std::string> claimed;  // first lsn -> key
  for (const ObjectInfo& o : listing) {
    PieceName n;
    ASSERT_TRUE(parse_piece_suffix(o.key.substr(sp.size()), &n)) << o.key;
    for (auto it = claimed.begin(); it != claimed.end(); ++it) {
      PieceName m;
      ASSERT_TRUE(parse_piece_suffix(it->second.substr(sp.size()), &m));
      EXPECT_TRUE(n.last_lsn < m.first_lsn || m.last_lsn < n.first_lsn)
          << o.key << " and " << it->second << " claim the same LSNs";
    }
    claimed[n.first_lsn] = o.key;
  }
}

TEST(ArchiveNames, PieceKeyRoundTripsAndSortsByOffset) {
  PieceName n{5, 16, 4096, 5, 40, 3, 131072, 1765000000123456};
  const std::string key = piece_key("p/q", "0123456789abcdef", n);
  EXPECT_EQ(key.rfind("p/q/generations/0123456789abcdef/segments/00000000000000000005/", 0), 0u);
  PieceName back;
  ASSERT_TRUE(
      parse_piece_suffix(key.substr(segments_prefix("p/q", "0123456789abcdef").size()), &back));
  EXPECT_EQ(back, n);
  EXPECT_FALSE(parse_piece_suffix("00000000000000000005/junk", &back));
  n.begin = n.end;
  EXPECT_FALSE(parse_piece_suffix(
      piece_key("", "0123456789abcdef", n).substr(segments_prefix("", "0123456789abcdef").size()),
      &back));
}

TEST(ArchiveNames, Rfc3339AndUrls) {
  uint64_t us = 0;
  ASSERT_TRUE(parse_rfc3339("2026-12-06T02:59:00Z", &us));
  EXPECT_EQ(format_stamp(us), "2026-12-06T02:59:00.000000Z");
  ASSERT_TRUE(parse_rfc3339("2026-12-06T03:59:00.5+01:00", &us));
  EXPECT_EQ(format_stamp(us), "2026-12-06T02:59:00.500000Z");
  EXPECT_FALSE(parse_rfc3339("2026-12-06 02:59:00", &us));
  std::string bucket, prefix;
  ASSERT_TRUE(parse_archive_url("s3://b/x/y/", &bucket, &prefix).ok());
  EXPECT_EQ(bucket, "b");
  EXPECT_EQ(prefix, "x/y");
  EXPECT_FALSE(parse_archive_url("http://b/x", &bucket, &prefix).ok());
}

ObjectInfo info(const std::string& gen, const PieceName& n) {
  return ObjectInfo{piece_key(kPrefix, gen, n), n.end - n.begin, ""};
}

TEST(ArchiveChain, CoverPrefersTheWholePieceAndFindsGaps) {
  const std::string g = "00000000000000aa";
  const std::string sp = segments_prefix(kPrefix, g);
  // Segment 1: tail pieces [0,100) [100,200) and the whole piece [0,300);
  // segment 11 (lsns 11..): one tail piece.
  std::vector<ObjectInfo> l = {info(g, {1, 0, 104, 1, 4, 1, 8192, 10}),
                               info(g, {1, 104, 200, 5, 7, 1, 8192, 11}),
                               info(g, {1, 0, 304, 1, 10, 1, 8192, 12}),
                               info(g, {11, 0, 96, 11, 12, 2, 8192, 13})};
  std::sort(l.begin(), l.end(), [](auto& a, auto& b) { return a.key < b.key; });
  Chain c;
  ASSERT_TRUE(build_chain(l, sp, UINT64_MAX, &c).ok());
  EXPECT_TRUE(c.gap.ok()) << c.gap.ToString();
  EXPECT_EQ(c.first_lsn, 1u);
  EXPECT_EQ(c.durable_lsn, 12u);
  ASSERT_EQ(c.segments.size(), 2u);
  EXPECT_EQ(c.segments[0].cover.size(), 1u);
  EXPECT_EQ(c.superseded.size(), 2u);
  // Up to a time: the whole piece (stamp 12) is left out, the tail pieces cover.
  ASSERT_TRUE(build_chain(l, sp, 11, &c).ok());
  EXPECT_EQ(c.durable_lsn, 7u);
  EXPECT_EQ(c.segments[0].cover.size(), 2u);

  // A missing segment between two others is a gap naming both sides.
  std::vector<ObjectInfo> gap = {info(g, {1, 0, 304, 1, 10, 1, 8192, 10}),
                                 info(g, {21, 0, 96, 21, 22, 3, 8192, 13})};
  ASSERT_TRUE(build_chain(gap, sp, UINT64_MAX, &c).ok());
  EXPECT_FALSE(c.gap.ok());
  EXPECT_NE(c.gap.message().find(gap[1].key), std::string::npos) << c.gap.message();
  EXPECT_EQ(c.durable_lsn, 10u);
  // A missing tail piece inside a segment too.
  std::vector<ObjectInfo> hole = {info(g, {1, 0, 104, 1, 4, 1, 8192, 10}),
                                  info(g, {1, 200, 304, 8, 10, 1, 8192, 12})};
  ASSERT_TRUE(build_chain(hole, sp, UINT64_MAX, &c).ok());
  EXPECT_FALSE(c.gap.ok());
  EXPECT_EQ(c.durable_lsn, 4u);
  // A size that is not E - O, or a key that is not a piece, is damage.
  std::vector<ObjectInfo> bad = {info(g, {1, 0, 104, 1, 4, 1, 8192, 10})};
  bad[0].size = 100;
  EXPECT_EQ(build_chain(bad, sp, UINT64_MAX, &c).code(), Code::kCorruption);
  bad = {ObjectInfo{sp + "00000000000000000001/nonsense", 3, ""}};
  EXPECT_EQ(build_chain(bad, sp, UINT64_MAX, &c).code(), Code::kCorruption);
}

TEST(Uploader, RoundTripRestoresIdenticalRecordsAndExactLsns) {
  Rig rig;
  auto up = rig.uploader();
  for (int round = 0; round < 12; ++round) {
    rig.append(40);
    ASSERT_TRUE(up->step().ok()) << up->stats().last_error;
    EXPECT_EQ(up->stats().archived_lsn, rig.log->durable_lsn());
  }
  rig.catch_up(*up);
  const UploaderStats st = up->stats();
  EXPECT_GT(rig.log->status().segments, 3u);
  EXPECT_GT(st.compactions, 0u);
  EXPECT_EQ(st.generations_started, 1u);
  std::string gen;
  ASSERT_TRUE(read_generation_file(rig.scratch.log(), &gen).ok());
  EXPECT_EQ(st.generation, gen);
  expect_clean_archive(rig.store, gen);
  EXPECT_EQ(rig.store.pending_multipart_uploads(), 0u);

  const std::vector<wal::Record> original = wal::testing::read_all(*rig.log);
  RestoreOptions ro;
  ro.prefix = kPrefix;
  ro.dir = rig.scratch.path() + "/restored";
  RestoreReport rep;
  ASSERT_TRUE(restore(&rig.store, ro, &rep).ok());
  EXPECT_EQ(rep.generation, gen);
  EXPECT_EQ(rep.first_lsn, 1u);
  EXPECT_EQ(rep.last_lsn, rig.log->durable_lsn());
  EXPECT_EQ(records_of_dir(ro.dir), original);
  std::string restored_gen;
  ASSERT_TRUE(read_generation_file(ro.dir, &restored_gen).ok());
  EXPECT_EQ(restored_gen, gen);

  // To an exact LSN: a batch end restores exactly that prefix; an LSN inside
  // a batch is refused, naming the nearest batch ends.
  uint64_t inside = 0, batch_end = 0;
  for (const wal::Record& r : original) {
    if (r.lsn < original.size() / 2) continue;
    if ((r.flags & 1) && batch_end == 0) batch_end = r.lsn;
    if (!(r.flags & 1) && inside == 0) inside = r.lsn;
  }
  ASSERT_NE(batch_end, 0u);
  ro.dir = rig.scratch.path() + "/to-lsn";
  ro.to_lsn = batch_end;
  ASSERT_TRUE(restore(&rig.store, ro, &rep).ok());
  std::vector<wal::Record> prefix(original.begin(), original.begin() + batch_end);
  EXPECT_EQ(records_of_dir(ro.dir), prefix);
  if (inside != 0) {
    ro.dir = rig.scratch.path() + "/inside";
    ro.to_lsn = inside;
    Status s = restore(&rig.store, ro, &rep);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
    EXPECT_NE(s.message().find("batch"), std::string::npos) << s.ToString();
  }
  // A restore never writes into a directory that holds anything.
  ro.to_lsn = 0;
  ro.dir = rig.scratch.path() + "/restored";
  EXPECT_EQ(restore(&rig.store, ro, &rep).code(), Code::kInvalidArgument);

  // The restored log opens, continues the generation, and its uploader ships
  // the next records into it.
  wal::WalOptions o;
  o.dir = rig.scratch.path() + "/restored";
  o.segment_bytes = kSegmentBytes;
  o.max_record_bytes = 16 << 10;
  auto again = wal::testing::must_open(o);
  ASSERT_NE(again, nullptr);
  ASSERT_TRUE(wal::testing::append_one(*again, make_payload(1, 100)).ok());
  UploaderOptions uo = rig.options();
  uo.dir = o.dir;
  uo.floor = nullptr;
  Uploader up2(&rig.store, again.get(), rig.io.get(), uo);
  ASSERT_TRUE(up2.step().ok()) << up2.stats().last_error;
  EXPECT_EQ(up2.stats().generation, gen);
  EXPECT_EQ(up2.stats().archived_lsn, again->durable_lsn());
  EXPECT_EQ(up2.stats().generations_started, 0u);
}

TEST(Uploader, RestoreToAnEarlierLsnStartsANewGeneration) {
  Rig rig;
  auto up = rig.uploader();
  rig.append(100);
  rig.catch_up(*up);
  const std::string gen = up->stats().generation;
  RestoreOptions ro;
  ro.prefix = kPrefix;
  ro.dir = rig.scratch.path() + "/early";
  uint64_t end = 0;
  for (const wal::Record& r : wal::testing::read_all(*rig.log)) {
    if ((r.flags & 1) && r.lsn <= rig.log->durable_lsn() / 2) end = r.lsn;
  }
  ro.to_lsn = end;
  RestoreReport rep;
  ASSERT_TRUE(restore(&rig.store, ro, &rep).ok());
  wal::WalOptions o;
  o.dir = ro.dir;
  o.segment_bytes = kSegmentBytes;
  o.max_record_bytes = 16 << 10;
  auto early = wal::testing::must_open(o);
  ASSERT_NE(early, nullptr);
  ASSERT_TRUE(wal::testing::append_one(*early, make_payload(99, 50)).ok());
  UploaderOptions uo = rig.options();
  uo.dir = ro.dir;
  uo.floor = nullptr;
  Uploader up2(&rig.store, early.get(), rig.io.get(), uo);
  ASSERT_TRUE(up2.step().ok()) << up2.stats().last_error;
  EXPECT_NE(up2.stats().generation, gen);
  EXPECT_EQ(up2.stats().generations_started, 1u);
  EXPECT_NE(up2.stats().generation_reason.find("past the log's durable lsn"), std::string::npos)
      << up2.stats().generation_reason;
  // The old generation is untouched and still restores in full.
  ro.dir = rig.scratch.path() + "/old";
  ro.to_lsn = 0;
  ro.generation = gen;
  ASSERT_TRUE(restore(&rig.store, ro, &rep).ok());
  EXPECT_EQ(rep.last_lsn, rig.log->durable_lsn());
  // The latest generation is the new one.
  ro.dir = rig.scratch.path() + "/latest";
  ro.generation.clear();
  ASSERT_TRUE(restore(&rig.store, ro, &rep).ok());
  EXPECT_EQ(rep.generation, up2.stats().generation);
  EXPECT_EQ(records_of_dir(ro.dir), wal::testing::read_all(*early));
}

TEST(Uploader, StoreDownLeavesAppendsAloneLagGrowsThenCatchesUp) {
  Rig rig;
  auto up = rig.uploader();
  rig.append(20);
  ASSERT_TRUE(up->step().ok());
  const uint64_t archived = up->stats().archived_lsn;
  rig.store.set_down(true);
  for (int i = 0; i < 5; ++i) {
    rig.append(30);  // append_sync: every batch acknowledged while the store is down
    EXPECT_FALSE(up->step().ok());
  }
  UploaderStats st = up->stats();
  EXPECT_EQ(st.archived_lsn, archived);
  EXPECT_EQ(st.failures, 5u);
  EXPECT_GT(st.lag_records, 100u);
  EXPECT_FALSE(st.last_error.empty());
  rig.store.set_down(false);
  rig.catch_up(*up);
  st = up->stats();
  EXPECT_EQ(st.lag_records, 0u);
  EXPECT_TRUE(st.last_error.empty());
  EXPECT_EQ(st.generations_started, 1u);
  expect_clean_archive(rig.store, st.generation);
  RestoreOptions ro;
  ro.prefix = kPrefix;
  ro.dir = rig.scratch.path() + "/r";
  RestoreReport rep;
  ASSERT_TRUE(restore(&rig.store, ro, &rep).ok());
  EXPECT_EQ(records_of_dir(ro.dir), wal::testing::read_all(*rig.log));
}

// The uploader's process dies after k store calls, for every k of a run
// that ships tail pieces, whole (multipart) segments and compactions; a new
// uploader then resumes: no gap, no LSN claimed twice, the restore identical.
TEST(Uploader, CrashAtEveryStoreCallResumesWithoutGapOrConflict) {
  uint64_t total_calls = 0;
  {
    Rig rig;
    auto up = rig.uploader();
    for (int i = 0; i < 6; ++i) {
      rig.append(25);
      ASSERT_TRUE(up->step().ok());
    }
    total_calls = rig.store.calls();
    // The run covers every kind of upload.
    EXPECT_GT(up->stats().compactions, 0u);
    EXPECT_GT(rig.store.calls_of(MemoryObjectStore::Op::kUploadPart), 2u);
    EXPECT_GT(rig.store.calls_of(MemoryObjectStore::Op::kPut), 5u);
  }
  ASSERT_GT(total_calls, 20u);
  for (uint64_t k = 0; k <= total_calls; ++k) {
    SCOPED_TRACE("crash after " + std::to_string(k) + " store calls");
    Rig rig;
    {
      auto up = rig.uploader();
      rig.store.crash_after(static_cast<int64_t>(k));
      for (int i = 0; i < 6; ++i) {
        rig.append(25);
        (void)up->step();
      }
    }  // the process is gone: whatever it had under way is abandoned
    rig.store.clear_faults();
    rig.append(10);
    auto up = rig.uploader();
    rig.catch_up(*up);
    ASSERT_LE(up->stats().generations_started, 1u);
    expect_clean_archive(rig.store, up->stats().generation);
    RestoreOptions ro;
    ro.prefix = kPrefix;
    ro.dir = rig.scratch.path() + "/r";
    RestoreReport rep;
    ASSERT_TRUE(restore(&rig.store, ro, &rep).ok());
    ASSERT_EQ(records_of_dir(ro.dir), wal::testing::read_all(*rig.log));
    if (HasFailure()) break;
  }
}

TEST(Uploader, TruncationNeverDeletesWhatTheArchiveLacks) {
  Rig rig;
  auto up = rig.uploader();
  rig.append(150);
  const uint64_t segments = rig.log->status().segments;
  ASSERT_GT(segments, 3u);
  // Nothing archived yet: truncation deletes nothing.
  auto t = rig.log->truncate_before(rig.log->durable_lsn() + 1);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t.value(), 1u);
  EXPECT_EQ(rig.log->status().segments, segments);
  // The store is down while the uploader knows the archive: still nothing.
  rig.store.set_down(true);
  EXPECT_FALSE(up->step().ok());
  EXPECT_EQ(rig.log->truncate_before(rig.log->durable_lsn() + 1).value(), 1u);
  rig.store.set_down(false);
  rig.catch_up(*up);
  // Archived: every segment but the last may go.
  t = rig.log->truncate_before(rig.log->durable_lsn() + 1);
  ASSERT_TRUE(t.ok());
  EXPECT_GT(t.value(), 1u);
  EXPECT_EQ(rig.log->status().segments, 1u);
  // The archive still restores the whole log from lsn 1.
  RestoreOptions ro;
  ro.prefix = kPrefix;
  ro.dir = rig.scratch.path() + "/r";
  RestoreReport rep;
  ASSERT_TRUE(restore(&rig.store, ro, &rep).ok());
  EXPECT_EQ(rep.first_lsn, 1u);
  EXPECT_EQ(rep.last_lsn, rig.log->durable_lsn());
}

TEST(Restore, ToATimeRestoresWhatWasArchivedAsDurableByThen) {
  Rig rig;
  auto up = rig.uploader();
  rig.append(10);
  ASSERT_TRUE(up->step().ok());
  const uint64_t first = up->stats().archived_lsn;
  const uint64_t between = now_stamp_us();
  while (now_stamp_us() == between) {
  }
  rig.append(10);
  ASSERT_TRUE(up->step().ok());
  ASSERT_GT(up->stats().archived_lsn, first);
  RestoreOptions ro;
  ro.prefix = kPrefix;
  ro.dir = rig.scratch.path() + "/t";
  ro.to_time_us = between;
  RestoreReport rep;
  ASSERT_TRUE(restore(&rig.store, ro, &rep).ok());
  EXPECT_EQ(rep.last_lsn, first);
  const auto all = wal::testing::read_all(*rig.log);
  EXPECT_EQ(records_of_dir(ro.dir), std::vector<wal::Record>(all.begin(), all.begin() + first));
  // Before the first piece: nothing to restore, an error.
  ro.dir = rig.scratch.path() + "/t0";
  ro.to_time_us = 1;
  EXPECT_EQ(restore(&rig.store, ro, &rep).code(), Code::kNotFound);
}

TEST(Restore, DamagedOrMissingObjectIsAnErrorNamingIt) {
  Rig rig;
  auto up = rig.uploader();
  rig.append(120);
  rig.catch_up(*up);
  const auto objects = rig.store.objects();
  std::vector<std::string> pieces;
  for (const auto& [k, v] : objects) {
    if (k.size() > 6 && k.substr(k.size() - 6) == ".piece") pieces.push_back(k);
  }
  ASSERT_GT(pieces.size(), 2u);
  const std::string victim = pieces[1];
  RestoreOptions ro;
  ro.prefix = kPrefix;
  RestoreReport rep;
  // A flipped byte in a record.
  rig.store.corrupt(victim, objects.at(victim).size() / 2);
  ro.dir = rig.scratch.path() + "/corrupt";
  Status s = restore(&rig.store, ro, &rep);
  EXPECT_EQ(s.code(), Code::kCorruption) << s.ToString();
  EXPECT_NE(s.message().find(victim), std::string::npos) << s.ToString();
  // Missing: a gap, never a shorter log.
  rig.store.erase(victim);
  ro.dir = rig.scratch.path() + "/missing";
  s = restore(&rig.store, ro, &rep);
  EXPECT_EQ(s.code(), Code::kNotFound) << s.ToString();
  EXPECT_NE(s.message().find("gap"), std::string::npos) << s.ToString();
}

}  // namespace
}  // namespace sidewal::archive
