// The real backends (pwrite and io_uring) on real O_DIRECT files. Every test
// runs against each backend, once unrestricted and once with each syscall or
// submission capped at a few pages, which forces the short-write path.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/temp_dir.h"
#include "wal/io/aligned_buffer.h"
#include "wal/io/io_backend.h"
#include "wal/io/io_posix.h"
#include "wal/io/io_pwrite.h"
#include "wal/io/io_uring_backend.h"

namespace sidewal::wal {
namespace {

// On the build tree's filesystem (ext4 here, so O_DIRECT really goes to the
// device; /tmp may be tmpfs).
struct TempDir : test::BuildTreeTempDir {
  TempDir() : BuildTreeTempDir("wal_io_tmp.") {}
};

struct BackendCase {
  std::string label;
  std::function<std::unique_ptr<IoBackend>()> make;
};

std::unique_ptr<IoBackend> uring_or_null(size_t cap) {
  auto b = UringBackend::create(cap);
  if (!b.ok()) return nullptr;
  return std::move(b).value();
}

std::vector<BackendCase> backend_cases() {
  return {
      {"pwrite", [] { return std::make_unique<PwriteBackend>(); }},
      {"pwrite_capped_3_pages", [] { return std::make_unique<PwriteBackend>(3 * 4096); }},
      {"io_uring", [] { return uring_or_null(std::numeric_limits<size_t>::max()); }},
      {"io_uring_capped_3_pages", [] { return uring_or_null(3 * 4096); }},
  };
}

// gtest prints the case's label instead of its bytes.
void PrintTo(const BackendCase& c, std::ostream* os) { *os << c.label; }

class RealBackendTest : public ::testing::TestWithParam<BackendCase> {
 protected:
  void SetUp() override {
    if (GetParam().label.rfind("io_uring", 0) == 0) {
      Status probe = probe_io_uring();
      // A kernel or seccomp profile without io_uring: MakeBackend tests check
      // the fallback; here there is nothing to exercise.
      if (!probe.ok()) GTEST_SKIP() << "io_uring unavailable: " << probe.ToString();
    }
    io_ = GetParam().make();
    ASSERT_NE(io_, nullptr);
  }

  FileHandle open_new(const std::string& name, bool direct = true) {
    OpenOptions o;
    o.create = true;
    o.exclusive = true;
    o.direct = direct;
    auto f = io_->open(dir_.file(name), o);
    EXPECT_TRUE(f.ok()) << f.status().ToString();
    return f.ok() ? *f : -1;
  }

  TempDir dir_;
  std::unique_ptr<IoBackend> io_;
};

void fill_random(uint8_t* p, size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(rng());
}

TEST_P(RealBackendTest, DirectAlignmentIsAtLeastFourKiBAndAPowerOfTwo) {
  auto a = io_->direct_alignment(dir_.path());
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_GE(*a, 4096u);
  EXPECT_EQ(*a & (*a - 1), 0u) << *a;
  auto probe = posix::probe_direct_alignment(dir_.path());
  ASSERT_TRUE(probe.ok());
  EXPECT_FALSE(probe->source.empty());
  // The probe leaves nothing behind in the directory.
  auto names = io_->list_dir(dir_.path());
  ASSERT_TRUE(names.ok());
  EXPECT_TRUE(names->empty());
}

TEST_P(RealBackendTest, DirectWriteReadRoundTripAcrossReopen) {
  const size_t len = 5 * 4096 + 4096 * 16;  // spans several capped syscalls
  AlignedBuffer out(4096, len);
  fill_random(out.data(), len, 42);
  FileHandle f = open_new("seg");
  ASSERT_TRUE(io_->write(f, 8192, out.data(), len).ok());
  ASSERT_TRUE(io_->sync(f).ok());
  ASSERT_TRUE(io_->close(f).ok());

  OpenOptions ro;
  ro.writable = false;
  auto g = io_->open(dir_.file("seg"), ro);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  auto size = io_->file_size(*g);
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 8192 + len);
  AlignedBuffer in(4096, len);
  size_t got = 0;
  ASSERT_TRUE(io_->read(*g, 8192, in.data(), len, &got).ok());
  EXPECT_EQ(got, len);
  EXPECT_EQ(std::memcmp(in.data(), out.data(), len), 0);
  // The hole before the write reads as zeros.
  AlignedBuffer head(4096, 8192);
  std::memset(head.data(), 0xAB, 8192);
  ASSERT_TRUE(io_->read(*g, 0, head.data(), 8192, &got).ok());
  EXPECT_EQ(got, 8192u);
  for (size_t i = 0; i < 8192; ++i) ASSERT_EQ(head.data()[i], 0) << i;
  ASSERT_TRUE(io_->close(*g).ok());
}

TEST_P(RealBackendTest, ReadStopsAtEndOfFile) {
  FileHandle f = open_new("short");
  AlignedBuffer b(4096, 3 * 4096);
  fill_random(b.data(), b.size(), 7);
  ASSERT_TRUE(io_->write(f, 0, b.data(), 2 * 4096).ok());
  AlignedBuffer in(4096, 8 * 4096);
  size_t got = 99;
  ASSERT_TRUE(io_->read(f, 4096, in.data(), 8 * 4096, &got).ok());
  EXPECT_EQ(got, 4096u);
  EXPECT_EQ(std::memcmp(in.data(), b.data() + 4096, 4096), 0);
  ASSERT_TRUE(io_->read(f, 2 * 4096, in.data(), 4096, &got).ok());
  EXPECT_EQ(got, 0u);
  ASSERT_TRUE(io_->close(f).ok());
}

TEST_P(RealBackendTest, LargeMultiMebibyteWriteLandsWhole) {
  const size_t len = 6u << 20;
  AlignedBuffer out(4096, len);
  fill_random(out.data(), len, 9);
  FileHandle f = open_new("big");
  ASSERT_TRUE(io_->write_and_sync(f, 4096, out.data(), len).ok());
  AlignedBuffer in(4096, len);
  size_t got = 0;
  ASSERT_TRUE(io_->read(f, 4096, in.data(), len, &got).ok());
  ASSERT_EQ(got, len);
  EXPECT_EQ(std::memcmp(in.data(), out.data(), len), 0);
  ASSERT_TRUE(io_->close(f).ok());
}

// start_write leaves a write running (io_uring) or does it at once (the
// default); either way finish_writes reports it and the bytes are there,
// including the rest of a write larger than one submission (capped cases),
// and a sync in between (an overlapped flush's shape) changes nothing.
TEST_P(RealBackendTest, StartedWriteLandsWholeOnceFinished) {
  const size_t len = 1u << 20;
  AlignedBuffer bulk(4096, len);
  AlignedBuffer first(4096, 4096);
  fill_random(bulk.data(), len, 11);
  fill_random(first.data(), 4096, 12);
  FileHandle f = open_new("started");
  ASSERT_TRUE(io_->start_write(f, 4096, bulk.data(), len).ok());
  ASSERT_TRUE(io_->sync(f).ok());  // the previous flush's sync, while the bulk runs
  ASSERT_TRUE(io_->finish_writes().ok());
  ASSERT_TRUE(io_->write(f, 0, first.data(), 4096).ok());
  ASSERT_TRUE(io_->sync(f).ok());
  EXPECT_TRUE(io_->finish_writes().ok()) << "nothing outstanding: Ok";
  AlignedBuffer in(4096, len + 4096);
  size_t got = 0;
  ASSERT_TRUE(io_->read(f, 0, in.data(), len + 4096, &got).ok());
  ASSERT_EQ(got, len + 4096);
  EXPECT_EQ(std::memcmp(in.data(), first.data(), 4096), 0);
  EXPECT_EQ(std::memcmp(in.data() + 4096, bulk.data(), len), 0);
  ASSERT_TRUE(io_->close(f).ok());
}

TEST_P(RealBackendTest, StartedWriteErrorsComeBackNamingTheFile) {
  FileHandle f = open_new("started_bad");
  AlignedBuffer b(4096, 8192);
  // Misaligned: refused before any I/O (start_write or finish_writes says so).
  Status st = io_->start_write(f, 100, b.data(), 4096);
  if (st.ok()) st = io_->finish_writes();
  EXPECT_EQ(st.code(), Code::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find(dir_.file("started_bad")), std::string::npos) << st.ToString();
  EXPECT_TRUE(io_->finish_writes().ok());
  // A read-only file: the kernel's EBADF comes back from finish_writes.
  ASSERT_TRUE(io_->close(f).ok());
  OpenOptions ro;
  ro.writable = false;
  auto g = io_->open(dir_.file("started_bad"), ro);
  ASSERT_TRUE(g.ok());
  st = io_->start_write(*g, 0, b.data(), 8192);
  if (st.ok()) st = io_->finish_writes();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find(dir_.file("started_bad")), std::string::npos) << st.ToString();
  ASSERT_TRUE(io_->close(*g).ok());
}

TEST_P(RealBackendTest, UnalignedDirectIoIsRefusedWithTheFileNamed) {
  FileHandle f = open_new("seg");
  AlignedBuffer b(4096, 3 * 4096);
  Status off = io_->write(f, 512, b.data(), 4096);
  EXPECT_EQ(off.code(), Code::kInvalidArgument) << off.ToString();
  EXPECT_NE(off.message().find(dir_.file("seg")), std::string::npos) << off.message();
  Status len = io_->write(f, 0, b.data(), 1000);
  EXPECT_EQ(len.code(), Code::kInvalidArgument) << len.ToString();
  Status addr = io_->write(f, 0, b.data() + 512, 4096);
  EXPECT_EQ(addr.code(), Code::kInvalidArgument) << addr.ToString();
  size_t got = 0;
  Status rd = io_->read(f, 100, b.data(), 4096, &got);
  EXPECT_EQ(rd.code(), Code::kInvalidArgument) << rd.ToString();
  // Nothing reached the file.
  auto size = io_->file_size(f);
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 0u);
  ASSERT_TRUE(io_->close(f).ok());
}

TEST_P(RealBackendTest, BufferedFilesAcceptAnyOffset) {
  FileHandle f = open_new("meta", /*direct=*/false);
  const char msg[] = "hello";
  ASSERT_TRUE(io_->write(f, 3, msg, 5).ok());
  char in[16] = {};
  size_t got = 0;
  ASSERT_TRUE(io_->read(f, 3, in, sizeof in, &got).ok());
  EXPECT_EQ(got, 5u);
  EXPECT_EQ(std::string(in, 5), "hello");
  ASSERT_TRUE(io_->close(f).ok());
}

TEST_P(RealBackendTest, PreallocateZeroedLeavesZerosAndTheSize) {
  FileHandle f = open_new("pre");
  // Dirty the file first: preallocation must overwrite old bytes (recycling).
  AlignedBuffer junk(4096, 4096);
  std::memset(junk.data(), 0x5A, 4096);
  ASSERT_TRUE(io_->write(f, 1u << 20, junk.data(), 4096).ok());
  const uint64_t bytes = (3u << 20) + 8192;  // not a whole number of 1 MiB chunks
  ASSERT_TRUE(io_->preallocate_zeroed(f, bytes, ZeroFill::kWrite).ok());
  auto size = io_->file_size(f);
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, bytes);
  AlignedBuffer in(4096, bytes);
  std::memset(in.data(), 0xFF, bytes);
  size_t got = 0;
  ASSERT_TRUE(io_->read(f, 0, in.data(), bytes, &got).ok());
  ASSERT_EQ(got, bytes);
  for (uint64_t i = 0; i < bytes; ++i) ASSERT_EQ(in.data()[i], 0) << "offset " << i;
  // The blocks are really allocated (written extents, not a sparse file).
  struct stat st;
  ASSERT_EQ(::stat(dir_.file("pre").c_str(), &st), 0);
  EXPECT_GE(static_cast<uint64_t>(st.st_blocks) * 512, bytes);
  Status bad = io_->preallocate_zeroed(f, 1000, ZeroFill::kWrite);
  EXPECT_EQ(bad.code(), Code::kInvalidArgument) << bad.ToString();
  ASSERT_TRUE(io_->close(f).ok());
}

// The segment preparer writes a new segment's zeros while commits go on, and
// a commit's fdatasync empties the device's whole cache: it must never find
// more than one chunk (1 MiB) of zeros written and not yet synced
// (io_posix.cc kZeroChunk). Counted at the write/sync seam.
TEST(PreallocateZeroed, NoMoreThanOneChunkOfZerosIsEverLeftUnsynced) {
  TempDir dir;
  const std::string path = dir.file("zeros");
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  posix::FileInfo info;
  info.path = path;
  const uint64_t bytes = (6u << 20) + 8192;  // not a whole number of chunks
  uint64_t written = 0, unsynced = 0, max_unsynced = 0, syncs = 0;
  auto write = [&](uint64_t off, const void* buf, size_t len) {
    EXPECT_EQ(off, written) << "zeros are written in order, once";
    if (::pwrite(fd, buf, len, static_cast<off_t>(off)) != static_cast<ssize_t>(len)) {
      return Status::FromErrno(errno, "pwrite");
    }
    written += len;
    unsynced += len;
    max_unsynced = std::max(max_unsynced, unsynced);
    return Status::Ok();
  };
  auto sync = [&] {
    ++syncs;
    unsynced = 0;
    return ::fdatasync(fd) == 0 ? Status::Ok() : Status::FromErrno(errno, "fdatasync");
  };
  ASSERT_TRUE(posix::preallocate_zeroed(info, fd, bytes, ZeroFill::kWrite, write, sync).ok());
  EXPECT_EQ(written, bytes);
  EXPECT_EQ(unsynced, 0u) << "it returned with zeros not yet durable";
  EXPECT_LE(max_unsynced, 1u << 20);
  EXPECT_GE(syncs, 7u);
  ::close(fd);
}

TEST_P(RealBackendTest, NamespaceOperations) {
  const std::string sub = dir_.path() + "/a/b";
  ASSERT_TRUE(io_->create_dir(sub).ok());
  ASSERT_TRUE(io_->create_dir(sub).ok()) << "create_dir of an existing dir is ok";
  FileHandle f;
  {
    OpenOptions o;
    o.create = true;
    auto r = io_->open(sub + "/one", o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    f = *r;
  }
  ASSERT_TRUE(io_->close(f).ok());
  ASSERT_TRUE(io_->sync_dir(sub).ok());
  ASSERT_TRUE(io_->rename(sub + "/one", sub + "/two").ok());
  OpenOptions o;
  o.create = true;
  auto r = io_->open(sub + "/three", o);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(io_->close(*r).ok());
  ASSERT_TRUE(io_->sync_dir(sub).ok());
  auto names = io_->list_dir(sub);
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, (std::vector<std::string>{"three", "two"}));
  ASSERT_TRUE(io_->remove(sub + "/two").ok());
  names = io_->list_dir(sub);
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, (std::vector<std::string>{"three"}));

  EXPECT_EQ(io_->remove(sub + "/two").code(), Code::kNotFound);
  EXPECT_EQ(io_->list_dir(dir_.path() + "/missing").status().code(), Code::kNotFound);
  EXPECT_EQ(io_->sync_dir(dir_.path() + "/missing").code(), Code::kNotFound);
  EXPECT_EQ(io_->create_dir(sub + "/three").code(), Code::kInvalidArgument);
  OpenOptions excl;
  excl.create = true;
  excl.exclusive = true;
  EXPECT_EQ(io_->open(sub + "/three", excl).status().code(), Code::kBusy);
  OpenOptions plain;
  EXPECT_EQ(io_->open(sub + "/nope", plain).status().code(), Code::kNotFound);
}

TEST_P(RealBackendTest, DestroyingTheBackendClosesForgottenFiles) {
  FileHandle f = open_new("forgotten");
  ASSERT_GE(f, 0);
  ASSERT_EQ(::fcntl(f, F_GETFD), FD_CLOEXEC) << "descriptors are close-on-exec";
  io_.reset();
  EXPECT_EQ(::fcntl(f, F_GETFD), -1);
  EXPECT_EQ(errno, EBADF);
}

TEST_P(RealBackendTest, UnknownHandleIsAnError) {
  AlignedBuffer b(4096, 4096);
  EXPECT_EQ(io_->write(12345, 0, b.data(), 4096).code(), Code::kInvalidArgument);
  EXPECT_EQ(io_->sync(12345).code(), Code::kInvalidArgument);
  EXPECT_EQ(io_->close(12345).code(), Code::kInvalidArgument);
}

TEST_P(RealBackendTest, ReadOnlyFileRefusesWrites) {
  FileHandle f = open_new("ro");
  ASSERT_TRUE(io_->close(f).ok());
  OpenOptions ro;
  ro.writable = false;
  auto g = io_->open(dir_.file("ro"), ro);
  ASSERT_TRUE(g.ok());
  AlignedBuffer b(4096, 4096);
  Status st = io_->write(*g, 0, b.data(), 4096);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find(dir_.file("ro")), std::string::npos) << st.message();
  ASSERT_TRUE(io_->close(*g).ok());
}

// RLIMIT_FSIZE makes the kernel itself return a short write: the bytes below
// the limit land, the rest fails with EFBIG. The backend must report the
// failure, never success after a partial write.
TEST_P(RealBackendTest, KernelShortWriteIsNeverReportedAsSuccess) {
  FileHandle f = open_new("limited");
  AlignedBuffer b(4096, 8 * 4096);
  fill_random(b.data(), b.size(), 3);
  struct rlimit old;
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit lim = old;
  lim.rlim_cur = 3 * 4096;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &lim), 0);
  Status w = io_->write(f, 0, b.data(), 8 * 4096);
  Status ws = io_->write_and_sync(f, 0, b.data(), 8 * 4096);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &old), 0);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_FALSE(w.ok());
  EXPECT_FALSE(ws.ok());
  EXPECT_NE(w.message().find("File too large"), std::string::npos) << w.ToString();
  EXPECT_NE(w.message().find(dir_.file("limited")), std::string::npos) << w.ToString();
  auto size = io_->file_size(f);
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 3u * 4096);
  // The short part did land: the kernel wrote what fit.
  AlignedBuffer in(4096, 3 * 4096);
  size_t got = 0;
  ASSERT_TRUE(io_->read(f, 0, in.data(), 3 * 4096, &got).ok());
  EXPECT_EQ(got, 3u * 4096);
  EXPECT_EQ(std::memcmp(in.data(), b.data(), 3 * 4096), 0);
  // With the limit gone the same write completes.
  ASSERT_TRUE(io_->write_and_sync(f, 0, b.data(), 8 * 4096).ok());
  ASSERT_TRUE(io_->close(f).ok());
}

// One thread appends page after page with write_and_sync while others read
// back every page already acknowledged: the shared rings and descriptor table
// must stay correct under concurrent use.
TEST_P(RealBackendTest, ConcurrentReadersSeeEveryAcknowledgedPage) {
  constexpr size_t kPages = 48;
  FileHandle f = open_new("shared");
  std::atomic<size_t> acked{0};
  std::atomic<bool> failed{false};
  std::thread writer([&] {
    AlignedBuffer page(4096, 4096);
    for (size_t i = 0; i < kPages; ++i) {
      std::memset(page.data(), static_cast<int>(i + 1), 4096);
      if (!io_->write_and_sync(f, i * 4096, page.data(), 4096).ok()) {
        failed = true;
        return;
      }
      acked.store(i + 1, std::memory_order_release);
    }
  });
  std::vector<std::thread> readers;
  std::atomic<uint64_t> checked{0};
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&, r] {
      AlignedBuffer page(4096, 4096);
      std::mt19937_64 rng(r);
      while (!failed) {
        size_t n = acked.load(std::memory_order_acquire);
        if (n == 0) {
          std::this_thread::yield();
          continue;
        }
        size_t i = rng() % n;
        size_t got = 0;
        if (!io_->read(f, i * 4096, page.data(), 4096, &got).ok() || got != 4096) {
          failed = true;
          return;
        }
        for (size_t k = 0; k < 4096; ++k) {
          if (page.data()[k] != static_cast<uint8_t>(i + 1)) {
            failed = true;
            return;
          }
        }
        checked.fetch_add(1);
        if (n == kPages) return;
      }
    });
  }
  writer.join();
  for (auto& t : readers) t.join();
  EXPECT_FALSE(failed);
  EXPECT_EQ(acked.load(), kPages);
  EXPECT_GT(checked.load(), 0u);
  ASSERT_TRUE(io_->close(f).ok());
}

// The fallback when statx has no STATX_DIOALIGN must read the right device:
// it agrees with what statx reports for the same file.
TEST(AlignmentProbe, SysfsLogicalBlockSizeMatchesStatx) {
  TempDir dir;
  struct statx stx;
  ASSERT_EQ(::statx(AT_FDCWD, dir.path().c_str(), 0, STATX_BASIC_STATS, &stx), 0);
  const dev_t dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
  const size_t lbs = posix::sysfs_logical_block_size(dev);
  if (lbs == 0) GTEST_SKIP() << "the build tree is not on a block device with a sysfs entry";
  EXPECT_EQ(lbs & (lbs - 1), 0u) << lbs;
  EXPECT_GE(lbs, 512u);
  auto probe = posix::probe_direct_alignment(dir.path());
  ASSERT_TRUE(probe.ok()) << probe.status().ToString();
  if (probe->source == "statx STATX_DIOALIGN") {
    // STATX_DIOALIGN reports the larger of the memory and offset alignments;
    // the offset alignment is the logical block size.
    EXPECT_LE(lbs, probe->kernel_value);
  } else {
    EXPECT_EQ(probe->kernel_value, lbs);
  }
  EXPECT_EQ(probe->alignment, std::max<size_t>(4096, probe->kernel_value));
}

INSTANTIATE_TEST_SUITE_P(Backends, RealBackendTest, ::testing::ValuesIn(backend_cases()),
                         [](const auto& info) { return info.param.label; });

}  // namespace
}  // namespace sidewal::wal
