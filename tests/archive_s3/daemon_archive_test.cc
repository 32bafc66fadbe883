// End to end: the real sidewald with `archive:` on, against s3rver on
// loopback, loaded through the C++ client library; `sidewal restore`
// rebuilds the log and every record is compared byte for byte
// (docs/archive.md, docs/operations.md "Archive to object storage").
// Label s3. Every wait polls an observable condition with a deadline.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <optional>
#include <random>

#include "archive/archive_names.h"
#include "archive/restore.h"
#include "archive/s3_object_store.h"
#include "archive_e2e.h"

namespace sidewal::e2e {
namespace {

using it::Daemon;
using it::TempDir;

std::unique_ptr<archive::ObjectStore> open_store(const testing::S3rver& server) {
  auto s = archive::S3ObjectStore::open(server.config(kBucket));
  if (!s.ok()) throw std::runtime_error(s.status().ToString());
  return std::unique_ptr<archive::ObjectStore>(std::move(s.value()));
}

bool contains(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

std::string lines_with(const std::string& text, const std::string& what) {
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(pos, end - pos);
    if (line.find(what) != std::string::npos) out += line + "\n";
    pos = end + 1;
  }
  return out;
}

void expect_ready(const Daemon& d) {
  EXPECT_EQ(it::http_get(d.admin_port(), "/readyz").status, 200);
}

// Every piece of every generation, parsed (key order).
struct ListedPiece {
  std::string key;
  std::string generation;
  archive::PieceName name;
};
std::vector<ListedPiece> list_pieces(archive::ObjectStore* store) {
  std::vector<archive::ObjectInfo> objs;
  Status s = store->list(archive::generations_prefix(kPrefix), &objs);
  if (!s.ok()) throw std::runtime_error(s.ToString());
  std::vector<ListedPiece> out;
  for (const archive::ObjectInfo& o : objs) {
    if (!o.key.ends_with(".piece")) continue;
    const std::string rest = o.key.substr(archive::generations_prefix(kPrefix).size());
    ListedPiece p;
    p.key = o.key;
    p.generation = rest.substr(0, rest.find('/'));
    const std::string seg = archive::segments_prefix(kPrefix, p.generation);
    if (!archive::parse_piece_suffix(o.key.substr(seg.size()), &p.name)) {
      throw std::runtime_error("unparsable piece " + o.key);
    }
    out.push_back(std::move(p));
  }
  return out;
}

// What most of these tests start from: s3rver with the bucket, a scratch
// directory, the store's credentials in it (creds_), and a daemon with
// `archive:` on over tmp_/a (daemon()), not started yet.
class ArchivedDaemon : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = testing::S3rver::start({kBucket});
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
    daemon_.emplace(mkdirs(tmp_.path() + "/a"), archive_config(*server_, creds_));
  }

  // Starts the daemon and appends `records` records from `threads` clients
  // (streams from 1) into acked_; returns once all are acknowledged.
  void start_and_load(int threads, uint64_t records, milliseconds timeout) {
    daemon().start_ready();
    Load load(daemon().socket_path(), threads, 1, &acked_, records);
    ASSERT_TRUE(load.wait_acked(records, timeout)) << daemon().output();
  }

  testing::S3rver& server() { return *server_; }
  Daemon& daemon() { return *daemon_; }

  std::unique_ptr<testing::S3rver> server_;
  TempDir tmp_;
  const std::string creds_ = tmp_.path() + "/creds";
  AckedLog acked_;
  std::optional<Daemon> daemon_;  // destroyed (killed) first
};

// Round trip: concurrent appends with the archive on, SIGTERM, restore into
// a new directory: the same records byte for byte; the restored log opens
// in a second daemon, which reads them back and continues the generation;
// --to-lsn gives exactly that prefix.
TEST_F(ArchivedDaemon, RoundTripUnderConcurrentLoad) {
  ASSERT_NO_FATAL_FAILURE(start_and_load(4, 6000, seconds(120)));
  Daemon& d = daemon();
  const uint64_t durable = wait_archive_caught_up(d);
  EXPECT_GT(metric(d.admin_port(), "sidewal_archive_uploaded_bytes_total"), 1e6);
  EXPECT_EQ(metric(d.admin_port(), "sidewal_archive_generations_total"), 1);
  d.signal(SIGTERM);
  ASSERT_EQ(d.wait_exit(), 0) << d.output();

  const std::vector<wal::Record> original = records_of_dir(d.data_dir());
  ASSERT_EQ(original.back().lsn, durable);
  const std::string restored_dir = tmp_.path() + "/b/data";
  it::RunResult r = run_restore(server(), creds_, restored_dir);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "restored generation")) << r.out;
  const std::vector<wal::Record> restored = records_of_dir(restored_dir);
  EXPECT_TRUE(original == restored) << original.size() << " records vs " << restored.size();
  EXPECT_EQ(check_acked(restored, acked_.snapshot()), "");

  // The restored log in a daemon of its own: the same records over the
  // protocol, and the archive continues its generation (no new one).
  Daemon d2(mkdirs(tmp_.path() + "/b"), archive_config(server(), creds_));
  d2.start_ready();
  {
    it::RawClient c(d2.socket_path());
    std::vector<it::TestRecord> read = c.read_all(1);
    ASSERT_EQ(read.size(), original.size());
    for (size_t i = 0; i < read.size(); ++i) {
      ASSERT_EQ(read[i].lsn, original[i].lsn);
      ASSERT_EQ(read[i].payload, original[i].payload) << "lsn " << read[i].lsn;
    }
  }
  ASSERT_TRUE(d2.wait_until(
      [&] {
        return metric(d2.admin_port(), "sidewal_archive_up") == 1 &&
               metric(d2.admin_port(), "sidewal_archive_durable_lsn") ==
                   static_cast<double>(durable);
      },
      seconds(30)))
      << d2.output();
  EXPECT_EQ(metric(d2.admin_port(), "sidewal_archive_generations_total"), 0) << d2.output();
  d2.signal(SIGTERM);
  ASSERT_EQ(d2.wait_exit(), 0);

  // --to-lsn: exactly the prefix up to a batch end in the middle.
  size_t cut = original.size() / 2;
  while (cut < original.size() && (original[cut].flags & 0x1) == 0) ++cut;
  ASSERT_LT(cut, original.size());
  const uint64_t to_lsn = original[cut].lsn;
  const std::string prefix_dir = tmp_.path() + "/c/data";
  r = run_restore(server(), creds_, prefix_dir, {"--to-lsn", std::to_string(to_lsn)});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::vector<wal::Record> prefix = records_of_dir(prefix_dir);
  ASSERT_EQ(prefix.size(), cut + 1);
  EXPECT_TRUE(std::equal(prefix.begin(), prefix.end(), original.begin()));
}

// kill -9 at seeded random moments while uploads run: after each restart
// the archive resumes; in the end one generation with no gap, pieces that
// overlap hold the same bytes (no two objects claim an LSN with different
// bytes), and the restore holds every acknowledged record.
TEST_F(ArchivedDaemon, KillNineDuringUploadsResumesWithoutGapsOrConflicts) {
  const char* env = std::getenv("SIDEWAL_SEED");
  const uint64_t seed = env != nullptr ? std::strtoull(env, nullptr, 10) : 20261206;
  SCOPED_TRACE("SIDEWAL_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  Daemon& d = daemon();
  for (uint32_t round = 0; round < 4; ++round) {
    d.start_ready();
    Load load(d.socket_path(), 3, 1 + round * 16, &acked_);
    // A random moment: after 200..2500 more acknowledged records (the
    // uploader ships every 0.1 s meanwhile, whole segments and tail pieces).
    const uint64_t at = 200 + rng() % 2300;
    ASSERT_TRUE(load.wait_acked(at, seconds(60))) << d.output();
    d.kill9();
    load.stop();
  }
  d.start_ready();
  {
    Load load(d.socket_path(), 2, 1000, &acked_, 500);
    ASSERT_TRUE(load.wait_acked(500, seconds(60)));
  }
  const uint64_t durable = wait_archive_caught_up(d);
  d.signal(SIGTERM);
  ASSERT_EQ(d.wait_exit(), 0) << d.output();

  auto store = open_store(server());
  std::vector<archive::GenerationInfo> all, gens;
  ASSERT_TRUE(archive::list_generations(store.get(), kPrefix, &all).ok());
  // A kill between the generation's marker and the local GENERATION file
  // leaves a generation with no piece, never used (docs/archive.md
  // "Generations"); any other generation is a kill that broke the chain.
  for (archive::GenerationInfo& g : all) {
    if (g.chain.pieces > 0 || !g.problem.ok()) gens.push_back(std::move(g));
  }
  ASSERT_EQ(gens.size(), 1u) << "a kill -9 must not start a generation: "
                             << lines_with(d.output(), "generation");
  EXPECT_TRUE(gens[0].problem.ok()) << gens[0].problem.ToString();
  EXPECT_EQ(gens[0].chain.first_lsn, 1u);
  EXPECT_EQ(gens[0].chain.durable_lsn, durable);

  // Overlapping pieces (a whole piece over tail pieces not yet deleted, a
  // piece shipped again after a kill) agree byte for byte where they overlap.
  const std::vector<ListedPiece> pieces = list_pieces(store.get());
  std::map<std::string, std::string> bodies;
  auto body = [&](const std::string& key) -> const std::string& {
    auto it = bodies.find(key);
    if (it == bodies.end()) {
      std::string b;
      Status s = store->get(key, &b);
      if (!s.ok()) throw std::runtime_error(s.ToString());
      it = bodies.emplace(key, std::move(b)).first;
    }
    return it->second;
  };
  int overlaps = 0;
  for (size_t i = 0; i < pieces.size(); ++i) {
    for (size_t j = i + 1; j < pieces.size(); ++j) {
      const archive::PieceName& a = pieces[i].name;
      const archive::PieceName& b = pieces[j].name;
      if (a.last_lsn < b.first_lsn || b.last_lsn < a.first_lsn) continue;
      ++overlaps;
      ASSERT_EQ(a.segment_first_lsn, b.segment_first_lsn) << pieces[i].key << " " << pieces[j].key;
      ASSERT_EQ(a.segment_id, b.segment_id) << pieces[i].key << " " << pieces[j].key;
      const uint64_t lo = std::max(a.begin, b.begin);
      const uint64_t hi = std::min(a.end, b.end);
      ASSERT_LT(lo, hi);
      ASSERT_EQ(body(pieces[i].key).substr(lo - a.begin, hi - lo),
                body(pieces[j].key).substr(lo - b.begin, hi - lo))
          << "pieces " << pieces[i].key << " and " << pieces[j].key << " differ";
    }
  }
  RecordProperty("overlapping_pieces", overlaps);

  const std::vector<wal::Record> original = records_of_dir(d.data_dir());
  const std::string restored_dir = tmp_.path() + "/b";
  it::RunResult r = run_restore(server(), creds_, restored_dir);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::vector<wal::Record> restored = records_of_dir(restored_dir);
  EXPECT_TRUE(original == restored) << original.size() << " records vs " << restored.size();
  EXPECT_EQ(restored.front().lsn, 1u);
  EXPECT_EQ(check_acked(restored, acked_.snapshot()), "");
}

// The store goes away (s3rver killed) and comes back on the same port with
// the same data: appends are acknowledged throughout, /readyz stays 200, the
// lag grows; afterwards the archive catches up in the same generation.
TEST_F(ArchivedDaemon, StoreOutageKeepsTheLogAndTheArchiveCatchesUp) {
  ASSERT_NO_FATAL_FAILURE(start_and_load(3, 1500, seconds(60)));
  Daemon& d = daemon();
  // Caught up and nothing new: the uploader makes no request now, so the
  // store is not killed in the middle of writing an object (s3rver, unlike
  // S3, would keep a torn one).
  const uint64_t before = wait_archive_caught_up(d);

  server().stop();
  {
    Load load(d.socket_path(), 3, 100, &acked_, 1500);
    ASSERT_TRUE(load.wait_acked(1500, seconds(60))) << "appends must go on without the store";
  }
  expect_ready(d);
  double lag_seconds = 0;
  ASSERT_TRUE(d.wait_until(
      [&] {
        lag_seconds = metric(d.admin_port(), "sidewal_archive_lag_seconds");
        return metric(d.admin_port(), "sidewal_archive_up") == 0 &&
               metric(d.admin_port(), "sidewal_archive_lag_records") > 0 &&
               metric(d.admin_port(), "sidewal_archive_failures_total") >= 1 && lag_seconds > 0;
      },
      seconds(30)))
      << d.output();
  ASSERT_TRUE(d.wait_until(
      [&] { return metric(d.admin_port(), "sidewal_archive_lag_seconds") > lag_seconds + 0.2; },
      seconds(30)));
  EXPECT_EQ(metric(d.admin_port(), "sidewal_archive_durable_lsn"), static_cast<double>(before));
  // The lag in bytes covers at least the payloads acknowledged since (each
  // record also has its 24-byte header).
  double payload_bytes = 0;
  for (const auto& [lsn, a] : acked_.snapshot()) {
    if (lsn > before) payload_bytes += a.len + 24;
  }
  EXPECT_GE(metric(d.admin_port(), "sidewal_archive_lag_bytes"), payload_bytes);
  EXPECT_TRUE(d.wait_until([&] { return contains(d.output(), "archive: uploads failing"); },
                           seconds(30)))
      << d.output();
  expect_ready(d);

  ASSERT_TRUE(server().restart().ok());
  const uint64_t durable = wait_archive_caught_up(d);
  EXPECT_GT(durable, before);
  // The line is logged by the step that caught up, which may finish after
  // the metrics above already show it: wait for the line, do not race it.
  EXPECT_TRUE(d.wait_until([&] { return contains(d.output(), "archive: uploads succeed again"); },
                           seconds(30)))
      << d.output();
  EXPECT_EQ(metric(d.admin_port(), "sidewal_archive_generations_total"), 1);
  d.signal(SIGTERM);
  ASSERT_EQ(d.wait_exit(), 0) << d.output();

  const std::string restored_dir = tmp_.path() + "/b";
  it::RunResult r = run_restore(server(), creds_, restored_dir);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::vector<wal::Record> restored = records_of_dir(restored_dir);
  EXPECT_TRUE(records_of_dir(d.data_dir()) == restored);
  EXPECT_EQ(check_acked(restored, acked_.snapshot()), "");
}

// Bad credentials, a missing bucket, a wrong endpoint: the daemon starts,
// acknowledges and serves appends, stays ready, and says what is wrong in
// its log and in the failure metrics.
TEST(DaemonArchive, BadStoreSettingsAreReportedAndTheLogIsUnaffected) {
  auto server = testing::S3rver::start({kBucket});
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  TempDir tmp;
  struct Case {
    const char* name;
    std::string access_key, bucket, endpoint, expect;
  };
  const std::vector<Case> cases = {
      {"bad-credentials", "NOTAKEY", kBucket, "", "InvalidAccessKeyId"},
      {"missing-bucket", testing::S3rver::kAccessKeyId, "no-such-bucket", "", "NoSuchBucket"},
      {"wrong-endpoint", testing::S3rver::kAccessKeyId, kBucket,
       "http://127.0.0.1:" + std::to_string(testing::unused_loopback_port()), "Failed to connect"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    it::DaemonConfig cfg =
        archive_config(**server, tmp.path() + "/" + c.name + "-creds", c.access_key, c.bucket);
    if (!c.endpoint.empty()) cfg.set("archive", "endpoint", "\"" + c.endpoint + "\"");
    Daemon d(mkdirs(tmp.path() + "/" + c.name), cfg);
    d.start_ready();
    AckedLog acked;
    {
      Load load(d.socket_path(), 2, 1, &acked, 400);
      ASSERT_TRUE(load.wait_acked(400, seconds(60))) << d.output();
    }
    ASSERT_TRUE(d.wait_until(
        [&] {
          return contains(d.output(), "archive: uploads failing") &&
                 contains(d.output(), c.expect) &&
                 metric(d.admin_port(), "sidewal_archive_failures_total") >= 1 &&
                 metric(d.admin_port(), "sidewal_archive_up") == 0;
        },
        seconds(30)))
        << d.output();
    EXPECT_TRUE(contains(it::http_get(d.admin_port(), "/metrics").body,
                         "sidewal_archive_requests_total{op=\"list\",result=\"error\"}"));
    expect_ready(d);
    it::RawClient rc(d.socket_path());
    std::vector<wal::Record> read;
    for (const it::TestRecord& t : rc.read_all(1)) {
      wal::Record w;
      w.lsn = t.lsn;
      w.type = t.type;
      w.payload = t.payload;
      read.push_back(std::move(w));
    }
    EXPECT_EQ(check_acked(read, acked.snapshot()), "");
    d.signal(SIGTERM);
    ASSERT_EQ(d.wait_exit(), 0) << d.output();
  }
}

// A damaged object (bytes flipped, or cut short) and a missing one:
// `sidewal restore` refuses and names the object; repaired, it restores.
TEST_F(ArchivedDaemon, RestoreRefusesADamagedOrMissingObjectByName) {
  ASSERT_NO_FATAL_FAILURE(start_and_load(2, 4000, seconds(60)));
  Daemon& d = daemon();
  wait_archive_caught_up(d);
  d.signal(SIGTERM);
  ASSERT_EQ(d.wait_exit(), 0) << d.output();

  auto store = open_store(server());
  std::vector<archive::GenerationInfo> gens;
  ASSERT_TRUE(archive::list_generations(store.get(), kPrefix, &gens).ok());
  ASSERT_EQ(gens.size(), 1u);
  const archive::Chain& chain = gens[0].chain;
  ASSERT_GE(chain.segments.size(), 3u);
  const std::string victim = chain.segments[1].cover.front().key;
  std::string good;
  ASSERT_TRUE(store->get(victim, &good).ok());
  int attempt = 0;
  auto refused = [&](const std::string& why, const std::string& named) {
    SCOPED_TRACE(why);
    const std::string dir = tmp_.path() + "/r" + std::to_string(++attempt);
    it::RunResult r = run_restore(server(), creds_, dir);
    EXPECT_NE(r.exit_code, 0) << r.out;
    EXPECT_TRUE(contains(r.err, named)) << r.err;
    EXPECT_FALSE(contains(r.out, "restored generation")) << r.out;
  };
  auto put = [&](const std::string& bytes) {
    ASSERT_TRUE(
        store
            ->put(victim, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()),
                                                   bytes.size()))
            .ok());
  };

  std::string flipped = good;
  // Three bytes, so that one at least is in a record (padding is not
  // covered by a CRC).
  for (size_t at : {flipped.size() / 3, flipped.size() / 2, flipped.size() * 2 / 3}) {
    flipped[at] = static_cast<char>(flipped[at] ^ 0x40);
  }
  put(flipped);
  refused("bytes flipped", victim);
  put(good.substr(0, good.size() - 8));
  refused("cut short", victim);
  ASSERT_TRUE(store->remove(victim).ok());
  // Missing: a gap, named by the objects on its sides (the segment's next
  // piece when it was not compacted into one, else the segments around).
  refused("missing", "archive gap");
  put(good);
  it::RunResult r = run_restore(server(), creds_, tmp_.path() + "/ok");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(check_acked(records_of_dir(tmp_.path() + "/ok"), acked_.snapshot()), "");
}

}  // namespace
}  // namespace sidewal::e2e
