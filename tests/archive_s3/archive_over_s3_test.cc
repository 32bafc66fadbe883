// The archive over the real S3 client and s3rver: the uploader ships a live
// log, the store goes away and comes back, and a restore gives the same
// records byte for byte (docs/archive.md).
#include <gtest/gtest.h>

#include "archive/restore.h"
#include "archive/s3_object_store.h"
#include "archive/uploader.h"
#include "support/s3rver_fixture.h"
#include "wal/truncation_floor.h"
#include "wal/wal_test_util.h"

namespace sidewal::archive {
namespace {

using wal::testing::make_payload;

void append(wal::Wal& log, uint64_t* tag, int batches) {
  for (int b = 0; b < batches; ++b) {
    const uint64_t t = *tag;
    *tag += 2;
    std::vector<uint8_t> p1 = make_payload(t + 1, 1000 + t % 2000);
    std::vector<uint8_t> p2 = make_payload(t + 2, 10 + t % 500);
    wal::RecordIn in[2];
    in[0].type = in[1].type = 2;
    in[0].payload = p1;
    in[1].payload = p2;
    ASSERT_TRUE(log.append_sync(in).ok());
  }
}

std::vector<wal::Record> records_of_dir(const std::string& dir) {
  std::vector<wal::Record> out;
  auto io = wal::make_backend(wal::BackendKind::kPwrite, nullptr);
  wal::RecoveryReport rep;
  Status s = wal::inspect_dir(
      dir, io.get(), {}, [&](const wal::Record& r) { out.push_back(r); }, &rep);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

TEST(ArchiveOverS3, ShipsThroughAnOutageAndRestoresIdentically) {
  auto server = testing::S3rver::start({"archive"});
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  auto store = S3ObjectStore::open((*server)->config("archive"));
  ASSERT_TRUE(store.ok()) << store.status().ToString();

  wal::testing::ScratchDir scratch;
  wal::WalOptions o;
  o.dir = scratch.log();
  o.segment_bytes = 256 << 10;
  o.max_record_bytes = 16 << 10;
  auto floor = std::make_shared<wal::TruncationFloor>();
  o.truncation_floor = floor;
  auto log = wal::testing::must_open(o);
  ASSERT_NE(log, nullptr);
  auto io = wal::make_backend(wal::BackendKind::kPwrite, nullptr);
  UploaderOptions uo;
  uo.prefix = "it/log";
  uo.dir = scratch.log();
  uo.floor = floor;
  Uploader up(store->get(), log.get(), io.get(), uo);
  uint64_t tag = 0;
  for (int i = 0; i < 4; ++i) {
    append(*log, &tag, 60);
    ASSERT_TRUE(up.step().ok()) << up.stats().last_error;
  }
  EXPECT_EQ(up.stats().archived_lsn, log->durable_lsn());

  // The store goes away: appends go on, the uploader fails and lags.
  (*server)->stop();
  append(*log, &tag, 60);
  EXPECT_FALSE(up.step().ok());
  EXPECT_GT(up.stats().lag_records, 0u);

  // A new server on the same data would need the same port; start a fresh
  // one and a fresh uploader: a new bucket is an empty archive, so the
  // uploader ships the whole log again from the first segment.
  auto server2 = testing::S3rver::start({"archive"});
  ASSERT_TRUE(server2.ok()) << server2.status().ToString();
  auto store2 = S3ObjectStore::open((*server2)->config("archive"));
  ASSERT_TRUE(store2.ok());
  Uploader up2(store2->get(), log.get(), io.get(), uo);
  for (int i = 0; i < 5 && up2.stats().archived_lsn != log->durable_lsn(); ++i) {
    ASSERT_TRUE(up2.step().ok()) << up2.stats().last_error;
  }
  ASSERT_EQ(up2.stats().archived_lsn, log->durable_lsn());
  EXPECT_EQ(up2.stats().generation, up.stats().generation);

  RestoreOptions ro;
  ro.prefix = "it/log";
  ro.dir = scratch.path() + "/restored";
  RestoreReport rep;
  Status s = restore(store2->get(), ro, &rep);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(rep.first_lsn, 1u);
  EXPECT_EQ(rep.last_lsn, log->durable_lsn());
  EXPECT_GE(rep.segments, 2u);
  EXPECT_EQ(records_of_dir(ro.dir), wal::testing::read_all(*log));
}

}  // namespace
}  // namespace sidewal::archive
