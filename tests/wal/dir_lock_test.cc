// One writer per log directory: DirLock on its own (exclusive vs exclusive,
// shared vs shared, shared vs exclusive, release, stale LOCK files, kill -9
// of the holder) and through Wal::open (a second open of an open directory
// is refused before it reads anything; close() lets the next writer in; a
// caller-held lock; injected backends take none).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include "testing/sim_disk.h"
#include "tests/support/child_process.h"
#include "wal/dir_lock.h"
#include "wal_test_util.h"

namespace sidewal::wal {
namespace {

using testing::append_one;
using testing::make_payload;
using testing::must_open;
using testing::read_all;
using testing::ScratchDir;

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

void put(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
}

std::string hostname() {
  char h[256] = {};
  EXPECT_EQ(::gethostname(h, sizeof h - 1), 0);
  return h;
}

std::string my_pid() { return std::to_string(::getpid()); }

std::unique_ptr<DirLock> must_lock(const std::string& dir, DirLock::Mode mode) {
  auto r = DirLock::acquire(dir, mode);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return nullptr;
  return std::move(r).value();
}

// Every file of `dir` with its bytes.
std::map<std::string, std::string> dir_bytes(const std::string& dir) {
  std::map<std::string, std::string> m;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    m[e.path().filename()] = slurp(e.path());
  }
  return m;
}

WalOptions small_log(const std::string& dir) {
  WalOptions o;
  o.dir = dir;
  o.segment_bytes = 64 * 1024;
  o.max_record_bytes = 4096;
  o.backend = BackendKind::kPwrite;
  return o;
}

TEST(DirLock, ASecondExclusiveLockIsRefusedNamingTheDirectoryAndTheHolder) {
  ScratchDir d;
  auto first = must_lock(d.log(), DirLock::Mode::kExclusive);
  ASSERT_TRUE(first);
  EXPECT_EQ(slurp(d.log() + "/LOCK"), my_pid() + "\n" + hostname() + "\n");

  LockHolder holder;
  auto second = DirLock::acquire(d.log(), DirLock::Mode::kExclusive, &holder);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Code::kBusy);
  const std::string& msg = second.status().message();
  EXPECT_NE(msg.find("data directory " + d.log()), std::string::npos) << msg;
  EXPECT_NE(msg.find("pid " + my_pid()), std::string::npos) << msg;
  EXPECT_NE(msg.find("only one writer per log"), std::string::npos) << msg;
  EXPECT_TRUE(holder.exclusive);
  EXPECT_EQ(holder.pid, ::getpid());
  EXPECT_EQ(holder.host, hostname());
  // The refused writer did not touch the holder's bytes.
  EXPECT_EQ(slurp(d.log() + "/LOCK"), my_pid() + "\n" + hostname() + "\n");
}

TEST(DirLock, SharedLocksCoexist) {
  ScratchDir d;
  must_lock(d.log(), DirLock::Mode::kExclusive).reset();  // a writer has been here
  auto a = must_lock(d.log(), DirLock::Mode::kShared);
  auto b = must_lock(d.log(), DirLock::Mode::kShared);
  EXPECT_TRUE(a && b);
}

TEST(DirLock, SharedAndExclusiveRefuseEachOther) {
  ScratchDir d;
  {
    auto writer = must_lock(d.log(), DirLock::Mode::kExclusive);
    ASSERT_TRUE(writer);
    LockHolder holder;
    auto reader = DirLock::acquire(d.log(), DirLock::Mode::kShared, &holder);
    ASSERT_FALSE(reader.ok());
    EXPECT_EQ(reader.status().code(), Code::kBusy);
    EXPECT_TRUE(holder.exclusive);
    EXPECT_EQ(holder.pid, ::getpid());
    EXPECT_NE(reader.status().message().find("live sidewald (pid " + my_pid()), std::string::npos)
        << reader.status().message();
  }
  auto reader = must_lock(d.log(), DirLock::Mode::kShared);
  ASSERT_TRUE(reader);
  LockHolder holder;
  auto writer = DirLock::acquire(d.log(), DirLock::Mode::kExclusive, &holder);
  ASSERT_FALSE(writer.ok());
  EXPECT_EQ(writer.status().code(), Code::kBusy);
  EXPECT_FALSE(holder.exclusive) << "a reader holds it, not a writer";
  EXPECT_EQ(holder.pid, 0) << "readers write no pid; the file's stale one is not theirs";
  EXPECT_NE(writer.status().message().find("locked shared by a reader"), std::string::npos)
      << writer.status().message();
}

TEST(DirLock, ReleaseOnDestructionEmptiesTheFileAndLetsTheNextWriterIn) {
  ScratchDir d;
  auto first = must_lock(d.log(), DirLock::Mode::kExclusive);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->path(), d.log() + "/LOCK");
  EXPECT_TRUE(first->covers(d.log() + "/"));
  EXPECT_FALSE(first->covers(d.path()));
  first.reset();
  EXPECT_TRUE(std::filesystem::exists(d.log() + "/LOCK"));
  EXPECT_EQ(std::filesystem::file_size(d.log() + "/LOCK"), 0u) << "a clean release names no one";
  auto second = must_lock(d.log(), DirLock::Mode::kExclusive);
  EXPECT_TRUE(second);
}

TEST(DirLock, AStaleLockFileNamingADeadProcessDoesNotBlock) {
  ScratchDir d;
  std::filesystem::create_directory(d.log());
  // Above any pid_max (2^22): no process has this pid.
  put(d.log() + "/LOCK", "99999999\nghost-host\nand a longer tail than ours will be\n");
  auto lock = must_lock(d.log(), DirLock::Mode::kExclusive);
  ASSERT_TRUE(lock);
  EXPECT_EQ(slurp(d.log() + "/LOCK"), my_pid() + "\n" + hostname() + "\n");
  EXPECT_EQ(DirLock::acquire(d.log(), DirLock::Mode::kShared).status().code(), Code::kBusy)
      << "and the lock is really held";
}

TEST(DirLock, KillNineOfTheHolderReleasesItsLock) {
  ScratchDir d;
  std::filesystem::create_directory(d.log());
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  auto holder_process = test::ChildProcess::fork_and_run([&] {
    ::close(ready[0]);
    auto r = DirLock::acquire(d.log(), DirLock::Mode::kExclusive);
    const char c = r.ok() ? '1' : '0';
    if (::write(ready[1], &c, 1) != 1) return 2;
    for (;;) ::pause();
  });
  const pid_t child = holder_process.pid();
  ::close(ready[1]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);
  ASSERT_EQ(c, '1');

  LockHolder holder;
  auto refused = DirLock::acquire(d.log(), DirLock::Mode::kExclusive, &holder);
  EXPECT_EQ(refused.status().code(), Code::kBusy);
  EXPECT_EQ(holder.pid, child);
  EXPECT_NE(refused.status().message().find("pid " + std::to_string(child)), std::string::npos)
      << refused.status().message();

  holder_process.signal(SIGKILL);
  ASSERT_EQ(holder_process.wait(), 128 + SIGKILL);
  // The dead holder's pid is still in the file; the kernel's lock is gone.
  EXPECT_EQ(slurp(d.log() + "/LOCK").rfind(std::to_string(child) + "\n", 0), 0u);
  auto lock = must_lock(d.log(), DirLock::Mode::kExclusive);
  EXPECT_TRUE(lock);
}

TEST(DirLock, ReadersCreateNothing) {
  ScratchDir d;
  std::filesystem::create_directory(d.log());
  auto no_file = DirLock::acquire(d.log(), DirLock::Mode::kShared);
  EXPECT_EQ(no_file.status().code(), Code::kNotFound) << no_file.status().ToString();
  EXPECT_FALSE(std::filesystem::exists(d.log() + "/LOCK"));
  auto no_dir = DirLock::acquire(d.path() + "/missing", DirLock::Mode::kShared);
  EXPECT_EQ(no_dir.status().code(), Code::kNotFound) << no_dir.status().ToString();
  EXPECT_FALSE(std::filesystem::exists(d.path() + "/missing"));
}

TEST(DirLock, TheWriterCreatesAMissingDirectory) {
  ScratchDir d;
  auto lock = must_lock(d.path() + "/a/b", DirLock::Mode::kExclusive);
  ASSERT_TRUE(lock);
  EXPECT_TRUE(std::filesystem::is_regular_file(d.path() + "/a/b/LOCK"));
}

// ---- Through the engine.

TEST(WalDirLock, ASecondOpenOfAnOpenLogIsRefusedAndCloseLetsTheNextOneIn) {
  ScratchDir d;
  const WalOptions o = small_log(d.log());
  auto first = must_open(o);
  ASSERT_TRUE(first);
  for (int i = 1; i <= 5; ++i) ASSERT_TRUE(append_one(*first, make_payload(i, 100)).ok());
  const auto before = dir_bytes(d.log());

  auto second = Wal::open(o, nullptr);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Code::kBusy);
  EXPECT_NE(second.status().message().find(d.log()), std::string::npos)
      << second.status().message();
  EXPECT_NE(second.status().message().find("pid " + my_pid()), std::string::npos)
      << second.status().message();
  // The first writer's preparer may still be writing its next `.spare` on
  // its own thread (it starts after the first rollover), so a spare's bytes
  // are not compared; that the refused open removed none is.
  auto after = dir_bytes(d.log());
  for (const auto& [name, bytes] : before) {
    ASSERT_TRUE(after.count(name)) << name << ": a refused open removed it";
    if (name.ends_with(".spare")) after[name] = bytes;
  }
  std::erase_if(after, [&](const auto& e) {
    return e.first.ends_with(".spare") && !before.count(e.first);
  });
  EXPECT_EQ(after, before) << "a refused open changes nothing on disk";

  // The first writer is undisturbed.
  ASSERT_TRUE(append_one(*first, make_payload(6, 100)).ok());
  // close() lets go while the object still exists.
  ASSERT_TRUE(first->close().ok());
  auto third = must_open(o);
  ASSERT_TRUE(third);
  const auto all = read_all(*third);
  ASSERT_EQ(all.size(), 6u);
  for (int i = 1; i <= 6; ++i) EXPECT_EQ(all[i - 1].payload, make_payload(i, 100));
}

TEST(WalDirLock, ACallerHeldLockIsUsedAndMustBeExclusiveOnThatDirectory) {
  ScratchDir d;
  std::shared_ptr<const DirLock> held = must_lock(d.log(), DirLock::Mode::kExclusive);
  ASSERT_TRUE(held);
  WalOptions o = small_log(d.log());
  {
    auto refused = Wal::open(o, nullptr);  // no lock given: the engine's own is refused
    EXPECT_EQ(refused.status().code(), Code::kBusy) << refused.status().ToString();
  }
  o.dir_lock = held;
  auto wal = must_open(o);
  ASSERT_TRUE(wal);
  ASSERT_TRUE(append_one(*wal, make_payload(1, 10)).ok());
  ASSERT_TRUE(wal->close().ok());
  wal.reset();
  // The caller still holds it.
  o.dir_lock.reset();
  EXPECT_EQ(Wal::open(o, nullptr).status().code(), Code::kBusy);
  held.reset();
  EXPECT_TRUE(must_open(o));

  ScratchDir other;
  o.dir_lock = must_lock(other.log(), DirLock::Mode::kExclusive);
  auto wrong_dir = Wal::open(o, nullptr);
  EXPECT_EQ(wrong_dir.status().code(), Code::kInvalidArgument) << wrong_dir.status().ToString();
  o.dir_lock.reset();
  o.dir_lock = must_lock(d.log(), DirLock::Mode::kShared);
  auto shared = Wal::open(o, nullptr);
  EXPECT_EQ(shared.status().code(), Code::kInvalidArgument) << shared.status().ToString();
}

TEST(WalDirLock, AnInjectedBackendTakesNoLockOnTheRealFileSystem) {
  // SimDisk's paths are not real directories: the engine must not create
  // them (or a LOCK in them) on the host.
  const std::string dir = "/sidewal-dir-lock-test-" + my_pid() + "/wal";
  auto disk = std::make_shared<SimDisk>(/*seed=*/1);
  ASSERT_TRUE(disk->create_dir(dir).ok());
  WalOptions o;
  o.dir = dir;
  o.segment_bytes = 32 * 1024;
  o.max_record_bytes = 2048;
  o.io = disk;
  auto wal = must_open(o);
  ASSERT_TRUE(wal);
  ASSERT_TRUE(append_one(*wal, make_payload(1, 10)).ok());
  EXPECT_FALSE(std::filesystem::exists(dir.substr(0, dir.rfind('/'))));
  Result<std::vector<std::string>> names = disk->list_dir(dir);
  ASSERT_TRUE(names.ok());
  for (const std::string& n : *names) EXPECT_NE(n, "LOCK");
}

}  // namespace
}  // namespace sidewal::wal
