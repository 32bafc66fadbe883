// SimDisk: the deterministic simulated disk the crash tests stand on. These
// tests pin down its model (what is durable when) and every fault it injects.
#include "testing/sim_disk.h"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "wal/io/aligned_buffer.h"
#include "wal/io/io_posix.h"

namespace sidewal::wal {
namespace {

using Model = SimDisk::CrashModel;

constexpr size_t kPage = 4096;

// A page-aligned buffer filled with one byte value.
struct Page {
  explicit Page(uint8_t v, size_t pages = 1) : buf(kPage, pages * kPage) {
    std::memset(buf.data(), v, buf.size());
  }
  const uint8_t* data() const { return buf.data(); }
  size_t size() const { return buf.size(); }
  AlignedBuffer buf;
};

OpenOptions create_opts(bool direct = true) {
  OpenOptions o;
  o.create = true;
  o.direct = direct;
  return o;
}

// Opens (creating) `path` on `disk`, failing the test on error.
FileHandle must_open(SimDisk& disk, const std::string& path, bool direct = true) {
  auto f = disk.open(path, create_opts(direct));
  EXPECT_TRUE(f.ok()) << f.status().ToString();
  return f.ok() ? *f : -1;
}

// Creates /d, then /d/<name> with `pages` pages of `v`, synced, and the
// directory synced: a fully durable file.
FileHandle durable_file(SimDisk& disk, const std::string& name, uint8_t v, size_t pages = 1) {
  EXPECT_TRUE(disk.create_dir("/d").ok());
  FileHandle f = must_open(disk, "/d/" + name);
  Page p(v, pages);
  EXPECT_TRUE(disk.write(f, 0, p.data(), p.size()).ok());
  EXPECT_TRUE(disk.sync(f).ok());
  EXPECT_TRUE(disk.sync_dir("/d").ok());
  return f;
}

std::vector<uint8_t> read_all(SimDisk& disk, const std::string& path) {
  OpenOptions o;
  o.direct = false;
  o.writable = false;
  auto f = disk.open(path, o);
  EXPECT_TRUE(f.ok()) << path << ": " << f.status().ToString();
  if (!f.ok()) return {};
  auto size = disk.file_size(*f);
  EXPECT_TRUE(size.ok());
  std::vector<uint8_t> out(*size);
  size_t got = 0;
  EXPECT_TRUE(disk.read(*f, 0, out.data(), out.size(), &got).ok());
  EXPECT_EQ(got, out.size());
  EXPECT_TRUE(disk.close(*f).ok());
  return out;
}

bool all_equal(const std::vector<uint8_t>& v, size_t from, size_t to, uint8_t x) {
  for (size_t i = from; i < to; ++i) {
    if (v[i] != x) return false;
  }
  return true;
}

TEST(SimDisk, UnsyncedWritesAreReadableButLostOnPowerLoss) {
  SimDisk disk(1, Model::kDropUnsynced);
  FileHandle f = durable_file(disk, "seg", 0xAA);
  Page b(0xBB);
  ASSERT_TRUE(disk.write(f, 0, b.data(), kPage).ok());
  EXPECT_EQ(disk.unsynced_writes(), 1u);
  auto now = read_all(disk, "/d/seg");
  EXPECT_TRUE(all_equal(now, 0, kPage, 0xBB));
  auto rep = disk.restart();
  EXPECT_EQ(rep.unsynced_writes, 1u);
  EXPECT_EQ(rep.lost, 1u);
  auto after = read_all(disk, "/d/seg");
  ASSERT_EQ(after.size(), kPage);
  EXPECT_TRUE(all_equal(after, 0, kPage, 0xAA));
}

TEST(SimDisk, SyncedWritesSurviveEveryCrashModel) {
  for (Model m : {Model::kRandom, Model::kDropUnsynced, Model::kTearLast, Model::kProcessCrash}) {
    SimDisk disk(3, m);
    FileHandle f = durable_file(disk, "seg", 0xAA, 2);
    Page b(0xBB);
    ASSERT_TRUE(disk.write_and_sync(f, kPage, b.data(), kPage).ok());
    disk.restart();
    auto after = read_all(disk, "/d/seg");
    ASSERT_EQ(after.size(), 2 * kPage);
    EXPECT_TRUE(all_equal(after, 0, kPage, 0xAA));
    EXPECT_TRUE(all_equal(after, kPage, 2 * kPage, 0xBB)) << static_cast<int>(m);
  }
}

TEST(SimDisk, NewFileIsNotDurableUntilItsDirectoryIsSynced) {
  SimDisk disk(1);
  ASSERT_TRUE(disk.create_dir("/d").ok());
  ASSERT_TRUE(disk.sync_dir("/d").ok());
  FileHandle f = must_open(disk, "/d/new");
  Page b(0x11);
  ASSERT_TRUE(disk.write_and_sync(f, 0, b.data(), kPage).ok());
  EXPECT_FALSE(disk.durable_exists("/d/new"));
  disk.restart();
  auto names = disk.list_dir("/d");
  ASSERT_TRUE(names.ok());
  EXPECT_TRUE(names->empty()) << "a file whose directory was never fsynced vanished";

  f = must_open(disk, "/d/new");
  ASSERT_TRUE(disk.write_and_sync(f, 0, b.data(), kPage).ok());
  ASSERT_TRUE(disk.sync_dir("/d").ok());
  EXPECT_TRUE(disk.durable_exists("/d/new"));
  disk.restart();
  auto data = read_all(disk, "/d/new");
  ASSERT_EQ(data.size(), kPage);
  EXPECT_TRUE(all_equal(data, 0, kPage, 0x11));
}

TEST(SimDisk, DirectoryCreationIsDurableWhenItOrItsParentIsSynced) {
  SimDisk disk(1);
  ASSERT_TRUE(disk.create_dir("/a/b").ok());
  disk.restart();
  EXPECT_EQ(disk.list_dir("/a").status().code(), Code::kNotFound);
  ASSERT_TRUE(disk.create_dir("/a/b").ok());
  ASSERT_TRUE(disk.sync_dir("/a/b").ok());
  disk.restart();
  EXPECT_TRUE(disk.list_dir("/a/b").ok());
}

TEST(SimDisk, RenameAndRemoveAreDurableOnlyAfterSyncDir) {
  SimDisk disk(1);
  FileHandle f = durable_file(disk, "old", 0x22);
  ASSERT_TRUE(disk.close(f).ok());
  ASSERT_TRUE(disk.rename("/d/old", "/d/new").ok());
  auto names = disk.list_dir("/d");
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, std::vector<std::string>{"new"});
  disk.restart();
  names = disk.list_dir("/d");
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, std::vector<std::string>{"old"}) << "rename without sync_dir reverted";

  ASSERT_TRUE(disk.rename("/d/old", "/d/new").ok());
  ASSERT_TRUE(disk.sync_dir("/d").ok());
  disk.restart();
  EXPECT_EQ(disk.list_dir("/d").value(), std::vector<std::string>{"new"});
  EXPECT_TRUE(all_equal(read_all(disk, "/d/new"), 0, kPage, 0x22));

  ASSERT_TRUE(disk.remove("/d/new").ok());
  EXPECT_TRUE(disk.list_dir("/d")->empty());
  disk.restart();
  EXPECT_EQ(disk.list_dir("/d").value(), std::vector<std::string>{"new"}) << "unlink reverted";
  ASSERT_TRUE(disk.remove("/d/new").ok());
  ASSERT_TRUE(disk.sync_dir("/d").ok());
  disk.restart();
  EXPECT_TRUE(disk.list_dir("/d")->empty());
}

TEST(SimDisk, CrashAfterIoFailsThatStepAndEveryLaterOne) {
  SimDisk disk(1);
  ASSERT_TRUE(disk.create_dir("/d").ok());   // step 0
  FileHandle f = must_open(disk, "/d/seg");  // step 1
  disk.crash_after_io(3);
  Page b(0x33);
  ASSERT_TRUE(disk.write(f, 0, b.data(), kPage).ok());  // step 2
  EXPECT_FALSE(disk.crashed());
  Status st = disk.sync(f);  // step 3: crash
  EXPECT_EQ(st.code(), Code::kIoError);
  EXPECT_NE(st.message().find("simulated crash"), std::string::npos) << st.ToString();
  EXPECT_TRUE(disk.crashed());
  EXPECT_EQ(disk.io_count(), 4u);
  // Everything fails now, reads and namespace calls included, except close.
  EXPECT_FALSE(disk.write(f, 0, b.data(), kPage).ok());
  size_t got = 0;
  AlignedBuffer in(kPage, kPage);
  EXPECT_FALSE(disk.read(f, 0, in.data(), kPage, &got).ok());
  EXPECT_FALSE(disk.list_dir("/d").ok());
  EXPECT_FALSE(disk.sync_dir("/d").ok());
  EXPECT_TRUE(disk.close(f).ok());
  disk.restart();
  EXPECT_FALSE(disk.crashed());
  EXPECT_EQ(disk.io_count(), 0u);
  EXPECT_TRUE(disk.create_dir("/d").ok()) << "the plan is cleared by restart()";
}

// The pattern crash tests use: count the steps of a fault-free run, then
// rerun crashing at each step; exactly k steps succeed each time.
TEST(SimDisk, CountedRunCanBeReplayedCrashingAtEachStep) {
  auto workload = [](SimDisk& disk, int* ok_steps) {
    *ok_steps = 0;
    Page b(0x44, 2);
    auto step = [&](const Status& st) {
      if (st.ok()) ++*ok_steps;
      return st.ok();
    };
    if (!step(disk.create_dir("/w"))) return;
    auto f = disk.open("/w/a", create_opts());
    if (!f.ok()) return;
    ++*ok_steps;
    if (!step(disk.preallocate_zeroed(*f, 4 * kPage, ZeroFill::kWrite))) return;
    if (!step(disk.sync_dir("/w"))) return;
    // write_and_sync is two steps; a crash in its sync half fails the call.
    Status ws = disk.write_and_sync(*f, 0, b.data(), b.size());
    if (!ws.ok()) return;
    *ok_steps += 2;
    if (!step(disk.write(*f, 2 * kPage, b.data(), kPage))) return;
    if (!step(disk.sync(*f))) return;
    if (!step(disk.rename("/w/a", "/w/b"))) return;
    step(disk.sync_dir("/w"));
  };
  SimDisk counting(9);
  int ok = 0;
  workload(counting, &ok);
  const uint64_t steps = counting.io_count();
  EXPECT_EQ(steps, 10u);
  EXPECT_EQ(ok, 10);
  for (uint64_t k = 0; k < steps; ++k) {
    SimDisk disk(k);
    disk.crash_after_io(k);
    workload(disk, &ok);
    EXPECT_TRUE(disk.crashed()) << k;
    // The sync half of write_and_sync (steps 4, 5) reports the pair failed.
    const int expected = k == 5 ? 4 : static_cast<int>(k);
    EXPECT_EQ(ok, expected) << "crash at step " << k;
    disk.restart();
  }
}

TEST(SimDisk, TearWriteAtLandsExactlyTheFirstSectors) {
  SimDisk disk(1, Model::kDropUnsynced);
  FileHandle f = durable_file(disk, "seg", 0xAA, 2);
  const uint64_t k = disk.io_count();
  disk.tear_write_at(k, 3);
  Page b(0xBB, 2);
  Status st = disk.write_and_sync(f, 0, b.data(), b.size());
  EXPECT_NE(st.message().find("simulated crash"), std::string::npos) << st.ToString();
  EXPECT_TRUE(disk.crashed());
  auto rep = disk.restart();
  EXPECT_EQ(rep.torn, 1u);
  auto after = read_all(disk, "/d/seg");
  ASSERT_EQ(after.size(), 2 * kPage);
  EXPECT_TRUE(all_equal(after, 0, 3 * 512, 0xBB));
  EXPECT_TRUE(all_equal(after, 3 * 512, 2 * kPage, 0xAA));
}

TEST(SimDisk, TearPlannedAtANonWriteStepIsAPlainCrash) {
  SimDisk disk(1);
  disk.tear_write_at(0, 1);
  EXPECT_FALSE(disk.create_dir("/d").ok());
  EXPECT_TRUE(disk.crashed());
}

TEST(SimDisk, CrashingWriteIsInFlightAndMayLand) {
  SimDisk disk(1, Model::kProcessCrash);
  FileHandle f = durable_file(disk, "seg", 0xAA);
  disk.crash_after_io(disk.io_count());
  Page b(0xBB);
  EXPECT_FALSE(disk.write(f, 0, b.data(), kPage).ok());
  auto rep = disk.restart();
  EXPECT_EQ(rep.applied, 1u);
  EXPECT_TRUE(all_equal(read_all(disk, "/d/seg"), 0, kPage, 0xBB));
}

// kRandom: each unsynced write is lost, applied or torn at a 512-byte
// boundary, chosen by the seed; the same seed gives the same image.
TEST(SimDisk, RandomCrashOutcomesAreSectorGranularAndReproducible) {
  constexpr int kWrites = 64;
  auto run = [](uint64_t seed, SimDisk::RestartReport* rep) {
    SimDisk disk(seed, Model::kRandom);
    FileHandle f = durable_file(disk, "seg", 0x00, kWrites);
    for (int i = 0; i < kWrites; ++i) {
      Page b(static_cast<uint8_t>(i + 1));
      EXPECT_TRUE(disk.write(f, i * kPage, b.data(), kPage).ok());
    }
    *rep = disk.restart();
    return read_all(disk, "/d/seg");
  };
  SimDisk::RestartReport r1, r2, r3;
  auto a = run(42, &r1);
  auto b = run(42, &r2);
  EXPECT_EQ(a, b);
  EXPECT_EQ(r1.unsynced_writes, static_cast<uint64_t>(kWrites));
  EXPECT_GT(r1.lost, 0u);
  EXPECT_GT(r1.applied, 0u);
  EXPECT_GT(r1.torn, 0u);
  EXPECT_EQ(r1.lost + r1.applied + r1.torn, r1.unsynced_writes);
  auto c = run(43, &r3);
  EXPECT_NE(a, c) << "a different seed gives a different image";
  // Every page is a prefix of new bytes then old zeros, cut at a sector boundary.
  ASSERT_EQ(a.size(), kWrites * kPage);
  uint64_t lost = 0, applied = 0, torn = 0;
  for (int i = 0; i < kWrites; ++i) {
    size_t base = i * kPage;
    size_t cut = 0;
    while (cut < kPage && a[base + cut] == static_cast<uint8_t>(i + 1)) ++cut;
    EXPECT_EQ(cut % 512, 0u) << "page " << i;
    EXPECT_TRUE(all_equal(a, base + cut, base + kPage, 0)) << "page " << i;
    (cut == 0 ? lost : cut == kPage ? applied : torn)++;
  }
  EXPECT_EQ(lost, r1.lost);
  EXPECT_EQ(applied, r1.applied);
  EXPECT_EQ(torn, r1.torn);
}

TEST(SimDisk, TearLastAppliesEveryUnsyncedWriteButTearsTheNewest) {
  SimDisk disk(5, Model::kTearLast);
  FileHandle f = durable_file(disk, "seg", 0x00, 3);
  for (int i = 0; i < 3; ++i) {
    Page b(static_cast<uint8_t>(0xB0 + i));
    ASSERT_TRUE(disk.write(f, i * kPage, b.data(), kPage).ok());
  }
  auto rep = disk.restart();
  EXPECT_EQ(rep.applied, 2u);
  EXPECT_EQ(rep.torn, 1u);
  auto after = read_all(disk, "/d/seg");
  EXPECT_TRUE(all_equal(after, 0, kPage, 0xB0));
  EXPECT_TRUE(all_equal(after, kPage, 2 * kPage, 0xB1));
  size_t cut = 0;
  while (after[2 * kPage + cut] == 0xB2) ++cut;
  EXPECT_GT(cut, 0u);
  EXPECT_LT(cut, kPage);
  EXPECT_EQ(cut % 512, 0u);
}

TEST(SimDisk, ProcessCrashKeepsUnsyncedWritesAndNamespaceChanges) {
  SimDisk disk(1, Model::kProcessCrash);
  ASSERT_TRUE(disk.create_dir("/p").ok());
  FileHandle f = must_open(disk, "/p/x");
  Page b(0x77);
  ASSERT_TRUE(disk.write(f, 0, b.data(), kPage).ok());
  disk.restart();
  EXPECT_TRUE(all_equal(read_all(disk, "/p/x"), 0, kPage, 0x77));
}

// Linux drops the dirty pages of a failed fdatasync: a retried sync succeeds
// without writing them. The simulation must show that lie.
TEST(SimDisk, FailedSyncDropsTheUnsyncedDataForGood) {
  SimDisk disk(1, Model::kDropUnsynced);
  FileHandle f = durable_file(disk, "seg", 0xAA);
  Page b(0xBB);
  ASSERT_TRUE(disk.write(f, 0, b.data(), kPage).ok());
  disk.fail_io(disk.io_count(), EIO);
  Status st = disk.sync(f);
  EXPECT_EQ(st.code(), Code::kIoError);
  EXPECT_NE(st.message().find("/d/seg"), std::string::npos) << st.ToString();
  EXPECT_FALSE(disk.crashed());
  EXPECT_EQ(disk.unsynced_writes(), 0u);
  // The cache still shows the new bytes, and a retried sync "succeeds"...
  EXPECT_TRUE(all_equal(read_all(disk, "/d/seg"), 0, kPage, 0xBB));
  EXPECT_TRUE(disk.sync(f).ok());
  // ...but the media never got them.
  auto durable = disk.durable_content("/d/seg");
  ASSERT_TRUE(durable.ok());
  EXPECT_TRUE(all_equal(*durable, 0, kPage, 0xAA));
  disk.restart();
  EXPECT_TRUE(all_equal(read_all(disk, "/d/seg"), 0, kPage, 0xAA));
}

TEST(SimDisk, FailedWriteReturnsTheErrnoAndChangesNothing) {
  SimDisk disk(1, Model::kProcessCrash);
  FileHandle f = durable_file(disk, "seg", 0xAA);
  const uint64_t k = disk.io_count();
  disk.fail_io(k, ENOSPC);
  disk.fail_io(k + 2, EIO);
  Page b(0xBB);
  Status st = disk.write(f, 0, b.data(), kPage);
  EXPECT_EQ(st.code(), Code::kNoSpace) << st.ToString();
  EXPECT_TRUE(all_equal(read_all(disk, "/d/seg"), 0, kPage, 0xAA));
  EXPECT_TRUE(disk.write(f, 0, b.data(), kPage).ok()) << "step k+1 proceeds";
  EXPECT_EQ(disk.create_dir("/e").code(), Code::kIoError);
  EXPECT_FALSE(disk.crashed());
  EXPECT_EQ(disk.list_dir("/e").status().code(), Code::kNotFound);
}

TEST(SimDisk, RefuseDirectFailsLikeAFilesystemWithoutODirect) {
  SimDisk disk(1);
  ASSERT_TRUE(disk.create_dir("/t").ok());
  disk.refuse_direct(true);
  auto a = disk.direct_alignment("/t");
  EXPECT_EQ(a.status().code(), Code::kUnsupported);
  EXPECT_NE(a.status().message().find("does not support O_DIRECT"), std::string::npos);
  auto f = disk.open("/t/seg", create_opts(/*direct=*/true));
  EXPECT_EQ(f.status().code(), Code::kUnsupported);
  EXPECT_NE(f.status().message().find("/t/seg"), std::string::npos);
  EXPECT_TRUE(disk.list_dir("/t")->empty()) << "nothing created";
  EXPECT_TRUE(disk.open("/t/meta", create_opts(/*direct=*/false)).ok());
  disk.refuse_direct(false);
  EXPECT_EQ(disk.direct_alignment("/t").value(), 4096u);
}

TEST(SimDisk, DirectFilesEnforceAlignmentLikeTheKernel) {
  SimDisk disk(1);
  ASSERT_TRUE(disk.create_dir("/d").ok());
  FileHandle f = must_open(disk, "/d/seg");
  AlignedBuffer b(8192, 4 * kPage);
  EXPECT_EQ(disk.write(f, 512, b.data(), kPage).code(), Code::kInvalidArgument);
  EXPECT_EQ(disk.write(f, 0, b.data(), 100).code(), Code::kInvalidArgument);
  Status addr = disk.write(f, 0, b.data() + 512, kPage);
  EXPECT_EQ(addr.code(), Code::kInvalidArgument);
  EXPECT_NE(addr.message().find("/d/seg"), std::string::npos);
  size_t got = 0;
  EXPECT_EQ(disk.read(f, 10, b.data(), kPage, &got).code(), Code::kInvalidArgument);
  EXPECT_EQ(disk.preallocate_zeroed(f, 1000, ZeroFill::kWrite).code(), Code::kInvalidArgument);
  const uint64_t before = disk.io_count();
  disk.set_alignment(8192);
  EXPECT_EQ(disk.direct_alignment("/d").value(), 8192u);
  EXPECT_EQ(disk.write(f, kPage, b.data(), kPage).code(), Code::kInvalidArgument);
  EXPECT_TRUE(disk.write(f, 8192, b.data(), 8192).ok());
  EXPECT_EQ(disk.io_count(), before + 1) << "refused calls are not steps";
  // Buffered files take any offset.
  FileHandle g = must_open(disk, "/d/meta", /*direct=*/false);
  EXPECT_TRUE(disk.write(g, 3, "abc", 3).ok());
}

TEST(SimDisk, DsyncWritesAreDurableOnReturn) {
  SimDisk disk(1, Model::kDropUnsynced);
  ASSERT_TRUE(disk.create_dir("/d").ok());
  OpenOptions o = create_opts();
  o.dsync = true;
  auto f = disk.open("/d/seg", o);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(disk.sync_dir("/d").ok());
  Page b(0x5D);
  ASSERT_TRUE(disk.write(*f, 0, b.data(), kPage).ok());
  EXPECT_EQ(disk.unsynced_writes(), 0u);
  disk.restart();
  EXPECT_TRUE(all_equal(read_all(disk, "/d/seg"), 0, kPage, 0x5D));
}

TEST(SimDisk, PreallocateZeroedIsDurableAndOverwritesOldBytes) {
  SimDisk disk(1, Model::kDropUnsynced);
  FileHandle f = durable_file(disk, "seg", 0xEE, 2);
  ASSERT_TRUE(disk.preallocate_zeroed(f, 4 * kPage, ZeroFill::kWrite).ok());
  auto size = disk.file_size(f);
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 4 * kPage);
  disk.restart();
  auto after = read_all(disk, "/d/seg");
  ASSERT_EQ(after.size(), 4 * kPage);
  EXPECT_TRUE(all_equal(after, 0, 4 * kPage, 0));
}

TEST(SimDisk, HandlesAreStaleAfterRestart) {
  SimDisk disk(1);
  FileHandle f = durable_file(disk, "seg", 0x01);
  disk.restart();
  Page b(0x02);
  Status st = disk.write(f, 0, b.data(), kPage);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("stale"), std::string::npos);
  FileHandle g = must_open(disk, "/d/seg");
  EXPECT_NE(g, f) << "handles are never reused";
}

TEST(SimDisk, LatentReadErrorFailsReadsUntilTheSectorIsRewritten) {
  SimDisk disk(1);
  FileHandle f = durable_file(disk, "seg", 0x0F, 2);
  ASSERT_TRUE(disk.inject_read_error("/d/seg", kPage + 700).ok());
  AlignedBuffer in(kPage, kPage);
  size_t got = 0;
  EXPECT_TRUE(disk.read(f, 0, in.data(), kPage, &got).ok()) << "other pages read fine";
  Status st = disk.read(f, kPage, in.data(), kPage, &got);
  EXPECT_EQ(st.code(), Code::kIoError);
  EXPECT_NE(st.message().find("offset 4608"), std::string::npos) << st.ToString();
  disk.restart();  // media faults persist
  OpenOptions ro;
  ro.writable = false;
  auto g = disk.open("/d/seg", ro);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(disk.read(*g, kPage, in.data(), kPage, &got).code(), Code::kIoError);
  FileHandle w = must_open(disk, "/d/seg");
  Page b(0x10);
  ASSERT_TRUE(disk.write(w, kPage, b.data(), kPage).ok());
  EXPECT_TRUE(disk.read(*g, kPage, in.data(), kPage, &got).ok());
  EXPECT_EQ(in.data()[700], 0x10);
}

TEST(SimDisk, BitFlipAtRestChangesTheDurableBytes) {
  SimDisk disk(1);
  FileHandle f = durable_file(disk, "seg", 0x00);
  ASSERT_TRUE(disk.flip_bit_at_rest("/d/seg", 100, 3).ok());
  AlignedBuffer in(kPage, kPage);
  size_t got = 0;
  ASSERT_TRUE(disk.read(f, 0, in.data(), kPage, &got).ok());
  EXPECT_EQ(in.data()[100], 0x08);
  disk.restart();
  auto after = read_all(disk, "/d/seg");
  EXPECT_EQ(after[100], 0x08);
  EXPECT_EQ(disk.flip_bit_at_rest("/d/seg", 1u << 20, 0).code(), Code::kInvalidArgument);
  EXPECT_EQ(disk.flip_bit_at_rest("/d/none", 0, 0).code(), Code::kNotFound);
}

TEST(SimDisk, NamespaceErrorsMatchPosix) {
  SimDisk disk(1);
  ASSERT_TRUE(disk.create_dir("/d").ok());
  ASSERT_TRUE(disk.create_dir("/d").ok()) << "exists is fine";
  FileHandle f = must_open(disk, "/d/f");
  EXPECT_EQ(disk.create_dir("/d/f").code(), Code::kInvalidArgument);
  OpenOptions excl = create_opts();
  excl.exclusive = true;
  EXPECT_EQ(disk.open("/d/f", excl).status().code(), Code::kBusy);
  EXPECT_EQ(disk.open("/nodir/f", create_opts()).status().code(), Code::kNotFound);
  OpenOptions plain;
  EXPECT_EQ(disk.open("/d/missing", plain).status().code(), Code::kNotFound);
  EXPECT_EQ(disk.remove("/d/missing").code(), Code::kNotFound);
  EXPECT_EQ(disk.rename("/d/missing", "/d/x").code(), Code::kNotFound);
  EXPECT_EQ(disk.sync_dir("/nodir").code(), Code::kNotFound);
  EXPECT_EQ(disk.list_dir("/nodir").status().code(), Code::kNotFound);
  EXPECT_EQ(disk.close(f + 1000).code(), Code::kInvalidArgument);
  // Paths are normalised: "//d/./f" is "/d/f".
  EXPECT_TRUE(disk.open("//d/./f", plain).ok());
  ASSERT_TRUE(disk.create_dir("/d/sub").ok());
  EXPECT_EQ(disk.list_dir("/d/").value(), (std::vector<std::string>{"f", "sub"}));
  OpenOptions ro;
  ro.writable = false;
  auto r = disk.open("/d/f", ro);
  ASSERT_TRUE(r.ok());
  Page b(1);
  EXPECT_FALSE(disk.write(*r, 0, b.data(), kPage).ok());
}

// The hook picks fault sites by what a step does, not by its number.
TEST(SimDisk, FaultHookTargetsStepsByOperationAndPath) {
  SimDisk disk(1, Model::kDropUnsynced);
  FileHandle a = durable_file(disk, "a", 0xAA);
  FileHandle b = must_open(disk, "/d/b");
  std::vector<SimDisk::StepInfo> seen;
  disk.set_fault_hook([&](const SimDisk::StepInfo& s) {
    seen.push_back(s);
    if (s.op == "preallocate") return SimDisk::Fault::fail(ENOSPC);
    if (s.op == "write" && s.path == "/d/a" && s.offset == kPage) return SimDisk::Fault::tear(2);
    return SimDisk::Fault::none();
  });
  EXPECT_EQ(disk.preallocate_zeroed(b, 2 * kPage, ZeroFill::kWrite).code(), Code::kNoSpace);
  Page p(0xBB);
  EXPECT_TRUE(disk.write(b, 0, p.data(), kPage).ok());
  EXPECT_TRUE(disk.rename("/d/b", "/d/c").ok());
  EXPECT_TRUE(disk.write_and_sync(a, 0, p.data(), kPage).ok());
  EXPECT_FALSE(disk.crashed());
  EXPECT_FALSE(disk.write(a, kPage, p.data(), kPage).ok());
  EXPECT_TRUE(disk.crashed());
  ASSERT_EQ(seen.size(), 6u);
  EXPECT_EQ(seen[0].op, "preallocate");
  EXPECT_EQ(seen[0].len, 2 * kPage);
  EXPECT_EQ(seen[2].op, "rename");
  EXPECT_EQ(seen[2].path, "/d/b");
  EXPECT_EQ(seen[2].to, "/d/c");
  EXPECT_EQ(seen[4].op, "fdatasync");
  EXPECT_EQ(seen[5].index, seen[0].index + 5);
  auto rep = disk.restart();
  EXPECT_EQ(rep.torn, 1u);
  auto after = read_all(disk, "/d/a");
  ASSERT_EQ(after.size(), kPage + 2 * 512);
  EXPECT_TRUE(all_equal(after, 0, after.size(), 0xBB));
  // restart() removed the hook.
  EXPECT_TRUE(disk.create_dir("/e").ok());
  EXPECT_EQ(seen.size(), 6u);
}

TEST(SimDisk, TraceRecordsEveryStep) {
  SimDisk disk(1);
  disk.set_trace(true);
  ASSERT_TRUE(disk.create_dir("/d").ok());
  disk.fail_io(1, EIO);
  EXPECT_FALSE(disk.sync_dir("/d").ok());
  auto t = disk.trace();
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0], "#0 mkdir /d -> OK");
  EXPECT_NE(t[1].find("#1 fsync directory /d -> IoError"), std::string::npos) << t[1];
}

// The flusher writes while readers read: every call is serialised.
TEST(SimDisk, ConcurrentWritersAndReadersAreSafe) {
  SimDisk disk(1);
  ASSERT_TRUE(disk.create_dir("/c").ok());
  constexpr int kThreads = 4;
  constexpr int kPages = 64;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      FileHandle f = must_open(disk, "/c/f" + std::to_string(t));
      Page b(static_cast<uint8_t>(t + 1));
      AlignedBuffer in(kPage, kPage);
      for (int i = 0; i < kPages; ++i) {
        if (!disk.write_and_sync(f, i * kPage, b.data(), kPage).ok()) ++failures;
        size_t got = 0;
        if (!disk.read(f, i * kPage, in.data(), kPage, &got).ok() || got != kPage ||
            in.data()[0] != t + 1) {
          ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(disk.io_count(), static_cast<uint64_t>(1 + kThreads * (1 + 2 * kPages)));
}

}  // namespace
}  // namespace sidewal::wal
