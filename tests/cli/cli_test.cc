// The `sidewal` binary as a subprocess: offline verify/dump on logs written
// with the engine (clean, corrupted, missing), online commands against the
// in-process fake daemon, and the exit codes (0 ok, 1 failed, 2 usage).
#include <gtest/gtest.h>

#include <fcntl.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "client/client.h"
#include "tests/client/fake_daemon.h"
#include "tests/support/child_process.h"
#include "tests/support/temp_dir.h"
#include "wal/control/control_records.h"
#include "wal/wal.h"

namespace sidewal::cli {
namespace {

namespace fs = std::filesystem;

using Output = test::ChildProcess::Output;

// Runs `sidewal` to completion, feeding it `stdin_text`.
Output run(const std::vector<std::string>& args, const std::string& stdin_text = "") {
  test::ChildProcess p(SIDEWAL_CLI_PATH, args, {.pipe_stdin = true});
  Output o = p.communicate(std::chrono::seconds(120), stdin_text);
  SW_ASSERT_MSG(!o.timed_out, "sidewal subprocess still running after 120 s");
  return o;
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) v.push_back(l);
  return v;
}

std::vector<std::string> lines_starting(const std::string& s, const std::string& prefix) {
  std::vector<std::string> v;
  for (auto& l : lines(s)) {
    if (l.rfind(prefix, 0) == 0) v.push_back(l);
  }
  return v;
}

// A scratch directory in the build tree (O_DIRECT needs a real filesystem;
// /tmp may be tmpfs).
class Scratch : public test::BuildTreeTempDir {
 public:
  Scratch() : BuildTreeTempDir("cli_test_tmp.") {}
};

std::span<const uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Writes `n` records "record-<lsn>" (tenant = lsn % 5, type 2) with small
// segments so the log spans several of them, then closes it.
void write_log(const std::string& dir, int n) {
  wal::WalOptions o;
  o.dir = dir;
  o.segment_bytes = 32 * 1024;
  o.max_record_bytes = 4096;
  o.backend = wal::BackendKind::kPwrite;
  auto w = wal::Wal::open(o, nullptr);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  for (int i = 1; i <= n; ++i) {
    std::string p = "record-" + std::to_string(i) + std::string(200, '.');
    wal::RecordIn r{2, 0, static_cast<uint32_t>(i % 5), bytes_of(p)};
    auto lsn = (*w)->append_sync(std::span(&r, 1));
    ASSERT_TRUE(lsn.ok()) << lsn.status().ToString();
    ASSERT_EQ(*lsn, static_cast<uint64_t>(i));
  }
  ASSERT_TRUE((*w)->close().ok());
}

std::vector<std::string> wal_files(const std::string& dir) {
  std::vector<std::string> v;
  for (auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".wal") v.push_back(e.path().filename().string());
  }
  std::sort(v.begin(), v.end());
  return v;
}

TEST(CliOffline, VerifyReportsEverySegmentWithContiguousRangesAndExitsZero) {
  Scratch s;
  std::string dir = s.path() + "/log";
  write_log(dir, 400);
  auto files = wal_files(dir);
  ASSERT_GE(files.size(), 3u) << "the log should span several segments";

  Output o = run({"verify", "--data-dir", dir});
  EXPECT_EQ(o.exit_code, 0) << o.out << o.err;
  auto segs = lines_starting(o.out, "segment ");
  ASSERT_EQ(segs.size(), files.size()) << o.out;
  uint64_t next = 1, total = 0;
  for (size_t i = 0; i < segs.size(); ++i) {
    // "segment <path> id <id> lsn <first>..<last> records <n> valid_bytes <b> cipher none ok"
    char path[512];
    unsigned long long id = 0, first = 0, last = 0, recs = 0, valid = 0;
    char cipher[32], verdict[32];
    ASSERT_EQ(std::sscanf(segs[i].c_str(),
                          "segment %511s id %llu lsn %llu..%llu records %llu valid_bytes %llu "
                          "cipher %31s %31s",
                          path, &id, &first, &last, &recs, &valid, cipher, verdict),
              8)
        << segs[i];
    EXPECT_NE(std::string(path).find(files[i]), std::string::npos) << segs[i];
    EXPECT_STREQ(cipher, "none");
    EXPECT_STREQ(verdict, "ok");
    EXPECT_EQ(first, next) << segs[i];
    EXPECT_EQ(last - first + 1, recs) << segs[i];
    next = last + 1;
    total += recs;
  }
  EXPECT_EQ(total, 400u);
  EXPECT_NE(o.out.find("log first_lsn 1 durable_lsn 400 records 400"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("verify ok"), std::string::npos);
  // Read-only: verify changed nothing.
  EXPECT_EQ(wal_files(dir), files);
  Output strict = run({"verify", "--strict", "--data-dir", dir});
  EXPECT_EQ(strict.exit_code, 0) << strict.out << strict.err;
}

TEST(CliOffline, DumpPrintsRecordsFromAnLsnAndEverySegment) {
  Scratch s;
  std::string dir = s.path() + "/log";
  write_log(dir, 120);
  Output o = run({"dump", "--data-dir", dir, "--from", "100"});
  ASSERT_EQ(o.exit_code, 0) << o.err;
  std::vector<std::string> recs;
  for (auto& l : lines(o.out)) {
    if (!l.empty() && std::isdigit(static_cast<unsigned char>(l[0]))) recs.push_back(l);
  }
  ASSERT_EQ(recs.size(), 21u) << o.out;
  for (int i = 100; i <= 120; ++i) {
    EXPECT_EQ(recs[i - 100], std::to_string(i) + " 2 " + std::to_string(i % 5) + " record-" +
                                 std::to_string(i) + std::string(200, '.'));
  }
  EXPECT_EQ(lines_starting(o.out, "segment ").size(), wal_files(dir).size());

  Output raw = run({"dump", "--data-dir", dir, "--from", "120", "--raw"});
  ASSERT_EQ(raw.exit_code, 0);
  EXPECT_EQ(raw.out, "record-120" + std::string(200, '.') + "\n");
  EXPECT_NE(raw.err.find("segment "), std::string::npos);  // info goes to stderr with --raw
}

TEST(CliOffline, VerifyFailsOnACorruptedByteNamingSegmentAndOffset) {
  Scratch s;
  std::string dir = s.path() + "/log";
  write_log(dir, 200);
  auto files = wal_files(dir);
  // Flip a payload byte of the first record of the first segment (records
  // start after the 16-byte preamble); valid records follow, so this is
  // corruption, not a torn tail.
  std::string seg = dir + "/" + files[0];
  int fd = ::open(seg.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  uint8_t b = 0;
  ASSERT_EQ(::pread(fd, &b, 1, 60), 1);
  b ^= 0xFF;
  ASSERT_EQ(::pwrite(fd, &b, 1, 60), 1);
  ::close(fd);

  Output o = run({"verify", "--data-dir", dir});
  EXPECT_EQ(o.exit_code, 1) << o.out << o.err;
  EXPECT_NE(o.err.find("Corruption"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find(files[0]), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("offset 16"), std::string::npos) << o.err;
  // The segment line names the problem too.
  auto segs = lines_starting(o.out, "segment ");
  ASSERT_FALSE(segs.empty());
  EXPECT_NE(segs[0].find("problem: offset 16"), std::string::npos) << segs[0];
  EXPECT_EQ(run({"dump", "--data-dir", dir}).exit_code, 1);
}

TEST(CliOffline, VerifyOfAMissingDirectoryFails) {
  Scratch s;
  Output o = run({"verify", "--data-dir", s.path() + "/nope"});
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_NE(o.err.find("NotFound"), std::string::npos) << o.err;
  EXPECT_FALSE(fs::exists(s.path() + "/nope"));  // read-only: nothing created
}

// A log with application records of two types and tenants plus control
// records: dump decodes them, verify counts and lists what is in force.
TEST(CliOffline, DumpDecodesControlRecordsAndVerifyReportsCountsAndTombstones) {
  Scratch s;
  std::string dir = s.path() + "/log";
  {
    wal::WalOptions o;
    o.dir = dir;
    o.backend = wal::BackendKind::kPwrite;
    auto w = wal::Wal::open(o, nullptr);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    std::vector<uint8_t> t1, t2, purge, calvin;
    ASSERT_TRUE(wal::encode_collection_tombstone({7, "orders", 3}, &t1).ok());
    ASSERT_TRUE(wal::encode_collection_tombstone({7, "orders", 2}, &t2).ok());  // lower: no effect
    ASSERT_TRUE(
        wal::encode_temporal_purge({2, wal::EngineTag::kDocumentStore, "d", -5, 9}, &purge).ok());
    ASSERT_TRUE(wal::encode_calvin_applied({4, 5, 6}, &calvin).ok());
    std::string a = "app";
    std::vector<wal::RecordIn> recs = {
        {1, 0, 7, bytes_of(a)}, {1, 0, 7, bytes_of(a)}, {3, 0, 9, bytes_of(a)}, {0x8001, 0, 0, t1},
        {0x8001, 0, 0, t2},     {0x8002, 0, 0, purge},  {0x8003, 0, 0, calvin},
    };
    ASSERT_TRUE((*w)->append_sync(recs).ok());
    ASSERT_TRUE((*w)->close().ok());
  }
  Output d = run({"dump", "--data-dir", dir});
  ASSERT_EQ(d.exit_code, 0) << d.err;
  EXPECT_NE(d.out.find(
                "4 32769 0 collection-tombstone tenant=7 collection=\"orders\" purge_lsn=3\n"),
            std::string::npos)
      << d.out;
  EXPECT_NE(d.out.find("6 32770 0 temporal-purge tenant=2 engine=document-store collection=\"d\" "
                       "cutoff_ms=-5 versions_purged=9\n"),
            std::string::npos)
      << d.out;
  EXPECT_NE(d.out.find("7 32771 0 calvin-applied epoch=4 position=5 shard=6\n"), std::string::npos)
      << d.out;
  EXPECT_NE(d.out.find("1 1 7 app\n"), std::string::npos) << d.out;

  Output v = run({"verify", "--data-dir", dir});
  ASSERT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_NE(v.out.find("log first_lsn 1 durable_lsn 7 records 7"), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("records by type: 0x0001=2 0x0003=1 0x8001=2 0x8002=1 0x8003=1\n"),
            std::string::npos)
      << v.out;
  EXPECT_NE(v.out.find("records by tenant: 0=4 7=2 9=1\n"), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("tombstones in force 1\n  collection-tombstone tenant=7 "
                       "collection=\"orders\" purge_lsn=3\n"),
            std::string::npos)
      << v.out;
  EXPECT_NE(v.out.find("calvin shard 6 applied epoch 4 position 5 (lsn 7)"), std::string::npos)
      << v.out;
  EXPECT_NE(v.out.find("temporal purges 1"), std::string::npos) << v.out;
}

TEST(CliUsage, BadUsageExitsTwo) {
  EXPECT_EQ(run({}).exit_code, 2);
  EXPECT_EQ(run({"verify"}).exit_code, 2);  // --data-dir is required
  EXPECT_EQ(run({"read", "--bogus"}).exit_code, 2);
  EXPECT_EQ(run({"truncate"}).exit_code, 2);
  EXPECT_EQ(run({"read", "--raw", "--hex"}).exit_code, 2);
  Output help = run({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("verify"), std::string::npos);
}

class CliOnline : public ::testing::Test {
 protected:
  // Socket paths must be short (108 bytes): TempDir's /tmp, not the build tree.
  std::vector<std::string> with_socket(std::vector<std::string> args) const {
    args.insert(args.begin(), {"--socket", socket_});
    return args;
  }
  test::TempDir tmp_{"sidewal-cli-"};
  std::string socket_ = tmp_.file("s.sock");
};

TEST_F(CliOnline, AppendFromArgsAndStdinThenReadThemBack) {
  client::testing::FakeDaemon daemon(socket_);
  Output a = run(with_socket({"append", "--tenant", "7", "hello", "world"}));
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, "1\n2\n");
  Output b = run(with_socket({"append", "--type", "3"}),
                 "line one\nbin\x01"
                 "ary\n0xlooks-hex\n");
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(b.out, "3\n4\n5\n");
  // Arguments are one atomic APPEND; stdin lines were batched.
  auto log = daemon.log();
  ASSERT_EQ(log.size(), 5u);
  EXPECT_EQ(log[1].tenant, 7u);
  EXPECT_EQ(log[2].type, 3);

  Output r = run(with_socket({"read"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "1 0 7 hello\n"
            "2 0 7 world\n"
            "3 3 0 line one\n"
            "4 3 0 0x62696e01617279\n"
            "5 3 0 0x30786c6f6f6b732d686578\n");
  Output part = run(with_socket({"read", "--from", "2", "--max", "2"}));
  EXPECT_EQ(part.out, "2 0 7 world\n3 3 0 line one\n");
  Output hex = run(with_socket({"read", "--from", "1", "--max", "1", "--hex"}));
  EXPECT_EQ(hex.out, "1 0 7 0x68656c6c6f\n");
  Output raw = run(with_socket({"read", "--from", "3", "--max", "2", "--raw"}));
  EXPECT_EQ(raw.out,
            "line one\nbin\x01"
            "ary\n");
}

TEST_F(CliOnline, StatusAndTruncatePrintTheirResults) {
  client::testing::FakeDaemon daemon(socket_);
  ASSERT_EQ(run(with_socket({"append", "a", "b", "c"})).exit_code, 0);
  Output st = run(with_socket({"status"}));
  ASSERT_EQ(st.exit_code, 0) << st.err;
  EXPECT_NE(st.out.find("state: ready\n"), std::string::npos) << st.out;
  EXPECT_NE(st.out.find("first_lsn: 1\n"), std::string::npos);
  EXPECT_NE(st.out.find("durable_lsn: 3\n"), std::string::npos);
  Output tr = run(with_socket({"truncate", "--before", "3"}));
  ASSERT_EQ(tr.exit_code, 0) << tr.err;
  EXPECT_EQ(tr.out, "first_lsn: 3\n");
}

TEST_F(CliOnline, DaemonErrorExitsOneWithTheCodeName) {
  client::testing::FakeDaemon daemon(socket_, [](client::testing::FakeDaemon::Conn& c,
                                                 const proto::FrameHeader& h,
                                                 std::span<const uint8_t>) {
    if (h.opcode != static_cast<uint8_t>(proto::Opcode::kAppend)) return false;
    std::vector<uint8_t> out;
    proto::encode_error(h.request_id, proto::ErrorCode::kNoSpace, "disk full", &out);
    return c.send(out);
  });
  Output o = run(with_socket({"append", "x"}));
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_NE(o.err.find("NoSpace: daemon error NO_SPACE (7): disk full"), std::string::npos)
      << o.err;
  EXPECT_EQ(o.out, "");
}

TEST_F(CliOnline, NoDaemonExitsOne) {
  Output o = run(with_socket({"--connect-timeout-ms", "50", "status"}));
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_NE(o.err.find("NotFound: connect " + socket_), std::string::npos) << o.err;
}

TEST_F(CliOnline, TailFollowPrintsRecordsAsTheyArrive) {
  client::testing::FakeDaemon daemon(socket_);
  ASSERT_EQ(run(with_socket({"append", "first"})).exit_code, 0);
  // --from makes the outcome independent of when the tail starts following.
  test::ChildProcess tail(SIDEWAL_CLI_PATH,
                          with_socket({"tail", "-f", "--from", "1", "--max", "3"}),
                          {.pipe_stdin = true});
  auto c = client::Client::connect(socket_);
  ASSERT_TRUE(c.ok());
  for (std::string p : {"second", "third", "fourth"}) {
    client::RecordIn r{1, 0, 2, bytes_of(p)};
    ASSERT_TRUE((*c)->append(std::span(&r, 1)).ok());
  }
  Output o = tail.communicate(std::chrono::seconds(120));
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out, "1 0 0 first\n2 1 2 second\n3 1 2 third\n");
}

}  // namespace
}  // namespace sidewal::cli
