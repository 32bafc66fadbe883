// archive.restore_on_empty end to end: a daemon started on an empty data
// directory restores its log from the archive before recovery, then
// continues the generation; an archive with nothing in it starts an empty
// log; a store it cannot reach fails the start with a clear error (label s3).
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>

#include "archive/restore.h"
#include "archive/s3_object_store.h"
#include "archive_e2e.h"

namespace sidewal::e2e {
namespace {

using it::Daemon;
using it::TempDir;

bool contains(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

size_t position(const std::string& text, const std::string& what) {
  const size_t p = text.find(what);
  return p == std::string::npos ? text.size() : p;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::string s;
  std::getline(in, s);
  return s;
}

TEST(RestoreOnEmpty, ANewNodeComesBackWithItsLogAndContinuesTheGeneration) {
  auto server = testing::S3rver::start({kBucket});
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  TempDir tmp;
  const std::string creds = tmp.path() + "/creds";
  it::DaemonConfig cfg = archive_config(**server, creds);
  cfg.set("archive", "restore_on_empty", "true");

  // The first node: an empty archive is a first start, not an error.
  Daemon a(mkdirs(tmp.path() + "/a"), cfg);
  a.start_ready();
  EXPECT_TRUE(contains(a.output(), "the archive holds no records; starting an empty log"))
      << a.output();
  AckedLog acked;
  {
    Load load(a.socket_path(), 3, 1, &acked, 3000);
    ASSERT_TRUE(load.wait_acked(3000, seconds(60)));
  }
  const uint64_t durable = wait_archive_caught_up(a);
  a.kill9();  // the node and its volume are gone
  const std::vector<wal::Record> original = records_of_dir(a.data_dir());
  const std::string generation = read_text(a.data_dir() + "/GENERATION");

  // A new node on an empty volume, where an earlier daemon was killed in
  // the middle of its restore: .restore/ and one segment moved into place,
  // no GENERATION yet. That is undone, and the restore made again.
  Daemon b(mkdirs(tmp.path() + "/b"), cfg);
  mkdirs(b.data_dir() + "/.restore");
  std::ofstream(b.data_dir() + "/.restore/00000000000000000001.wal") << "partial";
  std::filesystem::copy_file(a.data_dir() + "/00000000000000000001.wal",
                             b.data_dir() + "/00000000000000000001.wal");
  b.start();
  b.wait_ready();
  const std::string out = b.output();
  EXPECT_TRUE(contains(out, "removed the files of a restore that did not finish")) << out;
  EXPECT_FALSE(std::filesystem::exists(b.data_dir() + "/.restore"));
  // Restored after the daemon was listening (so /readyz answered 503,
  // recovering) and before it was ready.
  EXPECT_LT(position(out, "\"listening\""), position(out, "restoring from the archive")) << out;
  EXPECT_LT(position(out, "archive.restore_on_empty: restored"), position(out, "\"ready\"")) << out;
  EXPECT_EQ(read_text(b.data_dir() + "/GENERATION"), generation);
  EXPECT_TRUE(records_of_dir(b.data_dir()) == original);
  {
    it::RawClient c(b.socket_path());
    EXPECT_EQ(c.status().durable_lsn, durable);
    const std::vector<it::TestRecord> read = c.read_all(1);
    ASSERT_EQ(read.size(), original.size());
    for (size_t i = 0; i < read.size(); ++i) ASSERT_EQ(read[i].payload, original[i].payload);
  }
  // It continues the generation: more records, shipped into the same one.
  {
    Load load(b.socket_path(), 2, 100, &acked, 500);
    ASSERT_TRUE(load.wait_acked(500, seconds(60)));
  }
  wait_archive_caught_up(b);
  EXPECT_EQ(metric(b.admin_port(), "sidewal_archive_generations_total"), 0);
  // A restart finds a log and leaves it alone.
  b.signal(SIGTERM);
  ASSERT_EQ(b.wait_exit(), 0);
  b.start_ready();
  EXPECT_TRUE(contains(b.output(), "the data directory holds a log; not restoring")) << b.output();
  b.signal(SIGTERM);
  ASSERT_EQ(b.wait_exit(), 0);

  auto store = archive::S3ObjectStore::open((*server)->config(kBucket));
  ASSERT_TRUE(store.ok());
  std::vector<archive::GenerationInfo> gens;
  ASSERT_TRUE(archive::list_generations(store->get(), kPrefix, &gens).ok());
  ASSERT_EQ(gens.size(), 1u);
  EXPECT_EQ(gens[0].id, generation);
  EXPECT_TRUE(gens[0].problem.ok()) << gens[0].problem.ToString();
  EXPECT_EQ(check_acked(records_of_dir(b.data_dir()), acked.snapshot()), "");
}

TEST(RestoreOnEmpty, AStoreItCannotReachFailsTheStartClearly) {
  auto server = testing::S3rver::start({kBucket});
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  TempDir tmp;
  it::DaemonConfig cfg = archive_config(**server, tmp.path() + "/creds");
  cfg.set("archive", "restore_on_empty", "true");
  (*server)->stop();
  Daemon d(mkdirs(tmp.path() + "/a"), cfg);
  d.start();
  EXPECT_EQ(d.wait_exit(), 1) << d.output();
  EXPECT_TRUE(contains(d.output(), "archive.restore_on_empty: cannot list s3://arch/e2e/log"))
      << d.output();
  EXPECT_TRUE(contains(d.output(), "Failed to connect")) << d.output();
  EXPECT_FALSE(contains(d.output(), "\"ready\"")) << d.output();
}

}  // namespace
}  // namespace sidewal::e2e
