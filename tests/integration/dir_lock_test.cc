// One writer per data directory, through the real binaries: a second
// sidewald on a live daemon's data directory exits at once (exit 3, naming
// the directory and the holder's pid) without ever answering /readyz or
// creating its socket, while the first keeps ACKing and loses nothing; kill
// -9 of the holder leaves no lock behind; `sidewal verify`/`dump` on a live
// daemon's directory say so and still read; a reader's shared lock keeps a
// daemon out.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "tests/support/daemon_harness.h"
#include "wal/dir_lock.h"

namespace sidewal::it {
namespace {

constexpr int kExitDataDirLocked = 3;  // src/server/server.h

using Acked = std::map<uint64_t, TestRecord>;  // lsn -> what was sent

// Appends `n` single-record batches of stream `stream` and keeps what each
// ACK named.
void append_acked(RawClient& c, uint32_t stream, int n, Acked* acked) {
  for (int i = 0; i < n; ++i) {
    TestRecord r{.type = 3, .tenant = stream, .payload = make_payload(stream, i, 40 + i % 200)};
    const proto::Ack ack = expect_ack(c.append({r}));
    ASSERT_EQ(ack.count, 1u);
    r.lsn = ack.first_lsn;
    ASSERT_TRUE(acked->emplace(r.lsn, r).second) << "LSN " << r.lsn << " ACKed twice";
  }
}

void expect_all_acked_present(const std::vector<TestRecord>& got, const Acked& acked) {
  std::map<uint64_t, const TestRecord*> by_lsn;
  for (const TestRecord& r : got) by_lsn[r.lsn] = &r;
  for (const auto& [lsn, want] : acked) {
    auto it = by_lsn.find(lsn);
    ASSERT_NE(it, by_lsn.end()) << "ACKed LSN " << lsn << " is missing";
    EXPECT_EQ(it->second->payload, want.payload) << "lsn " << lsn;
    EXPECT_EQ(it->second->tenant, want.tenant) << "lsn " << lsn;
  }
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// A loopback port nobody listens on right now (the kernel's pick).
uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  ::close(fd);
  return ntohs(a.sin_port);
}

RunResult run_cli(const std::vector<std::string>& args) {
  return run_program(SIDEWAL_CLI_PATH, args);
}

// `sidewal dump --hex` output back into records ("lsn type tenant 0x..").
std::vector<TestRecord> parse_dump(const std::string& out) {
  std::vector<TestRecord> v;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || !std::isdigit(static_cast<unsigned char>(line[0]))) continue;
    std::istringstream l(line);
    TestRecord r;
    std::string payload;
    l >> r.lsn >> r.type >> r.tenant >> payload;
    if (payload.rfind("0x", 0) != 0) continue;
    for (size_t i = 2; i + 1 < payload.size(); i += 2) {
      r.payload.push_back(static_cast<uint8_t>(std::stoi(payload.substr(i, 2), nullptr, 16)));
    }
    v.push_back(std::move(r));
  }
  return v;
}

// A second sidewald on `data_dir` with its own socket and admin port, run to
// completion while /readyz on its port is polled; says whether it ever
// answered 200.
struct SecondStart {
  RunResult run;
  bool ever_ready = false;
  bool ever_answered = false;
  double seconds = 0;
  std::string socket;
};

SecondStart start_second(const std::string& data_dir, const std::string& own_dir) {
  SecondStart s;
  s.socket = own_dir + "/b.sock";
  const uint16_t port = free_port();
  std::atomic<bool> done{false};
  const auto t0 = Clock::now();
  std::thread runner([&] {
    s.run = run_program(SIDEWALD_PATH, {"--data-dir", data_dir, "--socket", s.socket, "--admin",
                                        "127.0.0.1:" + std::to_string(port)});
    done.store(true);
  });
  while (!done.load()) {
    const HttpResponse r = http_get(port, "/readyz", milliseconds(200));
    if (r.status != 0) s.ever_answered = true;
    if (r.status == 200) s.ever_ready = true;
    std::this_thread::yield();
  }
  runner.join();
  s.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return s;
}

TEST(DataDirLock, ASecondDaemonOnTheSameDataDirExitsAtOnceAndTheFirstLosesNothing) {
  TempDir dir;
  Daemon a(dir.path());
  a.start_ready();
  RawClient c(a.socket_path());
  Acked acked;
  append_acked(c, 1, 200, &acked);
  EXPECT_EQ(slurp(a.data_dir() + "/LOCK").rfind(std::to_string(a.pid()) + "\n", 0), 0u)
      << "the holder names itself in LOCK";

  TempDir other;
  const SecondStart b = start_second(a.data_dir(), other.path());
  EXPECT_EQ(b.run.exit_code, kExitDataDirLocked) << b.run.out << b.run.err;
  EXPECT_LT(b.seconds, 10.0) << "refused at once, not after a recovery";
  EXPECT_NE(b.run.err.find("sidewald: data directory " + a.data_dir() +
                           " is locked by another sidewald (pid " + std::to_string(a.pid())),
            std::string::npos)
      << b.run.err;
  EXPECT_NE(b.run.err.find("only one writer per log"), std::string::npos) << b.run.err;
  EXPECT_FALSE(b.ever_ready);
  EXPECT_FALSE(b.ever_answered) << "the refused daemon never bound its admin port";
  EXPECT_FALSE(std::filesystem::exists(b.socket)) << "nor its socket";
  EXPECT_EQ(b.run.out.find("\"msg\":\"listening\""), std::string::npos) << b.run.out;
  EXPECT_EQ(b.run.out.find("\"msg\":\"ready\""), std::string::npos) << b.run.out;
  EXPECT_EQ(slurp(a.data_dir() + "/LOCK").rfind(std::to_string(a.pid()) + "\n", 0), 0u)
      << "the refused daemon did not touch the holder's LOCK";

  // The first daemon still ACKs, on the old connection and a new one.
  append_acked(c, 2, 50, &acked);
  {
    RawClient c2(a.socket_path());
    append_acked(c2, 3, 50, &acked);
  }
  a.signal(SIGTERM);
  ASSERT_EQ(a.wait_exit(), 0) << a.output();
  EXPECT_EQ(std::filesystem::file_size(a.data_dir() + "/LOCK"), 0u) << "a clean exit empties LOCK";

  // Everything A ACKed is in the log: offline, and after a restart.
  const RunResult dump = run_cli({"dump", "--data-dir", a.data_dir(), "--hex"});
  ASSERT_EQ(dump.exit_code, 0) << dump.err;
  const std::vector<TestRecord> dumped = parse_dump(dump.out);
  EXPECT_EQ(dumped.size(), acked.size());
  expect_all_acked_present(dumped, acked);

  a.start_ready();
  RawClient c3(a.socket_path());
  expect_all_acked_present(c3.read_all(1), acked);
}

TEST(DataDirLock, KillNineLeavesNoLockAndTheNextStartRecoversEveryAckedRecord) {
  TempDir dir;
  Daemon a(dir.path());
  a.start_ready();
  Acked acked;
  {
    RawClient c(a.socket_path());
    append_acked(c, 1, 300, &acked);
  }
  const pid_t dead = a.pid();
  a.kill9();
  // The dead holder's pid stays in the file; the kernel dropped its lock.
  EXPECT_EQ(slurp(a.data_dir() + "/LOCK").rfind(std::to_string(dead) + "\n", 0), 0u);

  a.start_ready();
  EXPECT_EQ(slurp(a.data_dir() + "/LOCK").rfind(std::to_string(a.pid()) + "\n", 0), 0u);
  RawClient c(a.socket_path());
  expect_all_acked_present(c.read_all(1), acked);
  append_acked(c, 2, 10, &acked);
}

TEST(DataDirLock, VerifyAndDumpOnALiveDaemonsDirectorySayItIsLiveAndStillRead) {
  TempDir dir;
  Daemon a(dir.path());
  a.start_ready();
  Acked acked;
  {
    RawClient c(a.socket_path());
    append_acked(c, 1, 100, &acked);
  }
  const std::string notice = "a live sidewald (pid " + std::to_string(a.pid());
  const RunResult verify = run_cli({"verify", "--data-dir", a.data_dir()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_NE(verify.err.find("sidewal verify: " + notice), std::string::npos) << verify.err;
  EXPECT_NE(verify.err.find(a.data_dir()), std::string::npos) << verify.err;
  EXPECT_NE(verify.err.find("reading a live log"), std::string::npos) << verify.err;
  EXPECT_NE(verify.out.find("verify ok"), std::string::npos) << verify.out;

  const RunResult dump = run_cli({"dump", "--data-dir", a.data_dir(), "--hex"});
  EXPECT_EQ(dump.exit_code, 0) << dump.err;
  EXPECT_NE(dump.err.find("sidewal dump: " + notice), std::string::npos) << dump.err;
  expect_all_acked_present(parse_dump(dump.out), acked);

  // The daemon did not notice the readers.
  {
    RawClient c(a.socket_path());
    append_acked(c, 2, 10, &acked);
  }
  a.signal(SIGTERM);
  ASSERT_EQ(a.wait_exit(), 0) << a.output();

  // Stopped: no notice.
  const RunResult quiet = run_cli({"verify", "--strict", "--data-dir", a.data_dir()});
  EXPECT_EQ(quiet.exit_code, 0) << quiet.out << quiet.err;
  EXPECT_EQ(quiet.err, "");
  const RunResult quiet_dump = run_cli({"dump", "--data-dir", a.data_dir(), "--hex"});
  EXPECT_EQ(quiet_dump.exit_code, 0) << quiet_dump.err;
  EXPECT_EQ(quiet_dump.err, "");
  expect_all_acked_present(parse_dump(quiet_dump.out), acked);
}

TEST(DataDirLock, ADaemonDoesNotStartUnderAReadersSharedLock) {
  TempDir dir;
  {
    Daemon a(dir.path());
    a.start_ready();
    a.signal(SIGTERM);
    ASSERT_EQ(a.wait_exit(), 0) << a.output();
  }
  const std::string data = dir.path() + "/data";
  // What `sidewal verify` holds while it scans.
  auto shared = wal::DirLock::acquire(data, wal::DirLock::Mode::kShared);
  ASSERT_TRUE(shared.ok()) << shared.status().ToString();
  std::unique_ptr<wal::DirLock> reader = std::move(shared).value();
  TempDir other;
  const SecondStart b = start_second(data, other.path());
  EXPECT_EQ(b.run.exit_code, kExitDataDirLocked) << b.run.out << b.run.err;
  EXPECT_NE(b.run.err.find("data directory " + data + " is locked shared by a reader"),
            std::string::npos)
      << b.run.err;
  EXPECT_FALSE(b.ever_answered);

  reader.reset();  // the reader exits
  Daemon a(dir.path());
  a.start_ready();
}

}  // namespace
}  // namespace sidewal::it
