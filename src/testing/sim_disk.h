// SimDisk: an in-memory, deterministic filesystem behind IoBackend, for crash
// and fault tests. One seed decides every random choice, so a failing run
// reproduces exactly from its seed and fault plan.
//
// A test double: it lives in src/testing (library sidewal_testing), which
// tests and benches link and sidewald and the sidewal CLI never do
// (tests/build checks it). It stays in namespace sidewal::wal beside the
// IoBackend it implements.
//
// Model
//   - Each file (inode) has three layers: `durable` (what survives power
//     loss), `cache` (what reads return: the kernel's view), and `pending`,
//     the writes since the last successful sync, in order. write() updates the
//     cache and appends to pending; sync() applies pending to durable.
//   - Linux fsync-failure semantics: when a sync fails (fail_io), that file's
//     pending writes are dropped for good (pages marked clean). Reads still
//     return them from the cache, but no later sync will persist them, so an
//     engine that retries a failed sync and trusts it loses data: on the next
//     restart() those bytes are gone.
//   - The namespace (files and directories) has a volatile view (what
//     open/list_dir see) and a durable one. create (open with create=true),
//     rename and remove change the volatile view; they become durable only
//     when sync_dir() is called on the parent directory (for a rename across
//     directories, both). sync_dir(d) also makes the creation of d and its
//     ancestors durable (ext4 and xfs commit a directory's creating
//     transaction when it is fsynced). "/" always exists.
//   - O_DSYNC files (OpenOptions::dsync): each write is durable on return.
//   - Files opened with direct=true check alignment like the kernel: offset,
//     length and buffer address must be multiples of alignment() (default
//     4096), else kInvalidArgument naming the file.
//
// I/O numbering and fault plans
//   Every mutating call is one numbered I/O step, counted from 0 since
//   construction or the last restart(): write, sync, preallocate_zeroed,
//   create_dir, remove, rename, sync_dir, open with create=true. write_and_sync
//   is two steps (the write, then the sync); if the write step fails, the sync
//   step is not taken. write2_and_sync is three (write, write, sync), so a
//   plan can crash or tear between and during a flush's two writes. Reads, list_dir, file_size,
//   close, open without create and direct_alignment are not counted. io_count() is the number of
//   steps taken so far, so a test can run a workload once to count its steps, then rerun it
//   crashing at each one.
//   - crash_after_io(k): steps 0..k-1 succeed; step k and every later call
//     fail with kIoError "simulated crash ..." and crashed() turns true. A
//     write at the crashing step is "in flight": restart() decides whether it
//     landed, like any other unsynced write. After a crash every call fails
//     except close().
//   - tear_write_at(k, sectors): step k, a write, lands only its first
//     `sectors` 512-byte sectors (they are on the media after restart, the
//     rest of the range keeps its old bytes), then the disk crashes. If step k
//     is not a write it is a plain crash.
//   - tear_write_garbage_at(k, sector): step k, a write, lands its sectors
//     before `sector`, sector `sector` itself gets garbage (bytes that are
//     neither the old nor the new ones, drawn from the seed), the rest keeps
//     its old bytes; then the disk crashes. "Any 512-byte boundary, or worse":
//     unlike the sector-atomic tear it can damage bytes whose old and new
//     values are equal (acknowledged records in a rewritten page).
//   - set_fault_hook(hook): called at every step (under SimDisk's lock: it
//     must not call back into the disk) with the step's number, operation and
//     path; returns what happens there (proceed, crash, fail with an errno, or
//     tear a write). For plans that must not depend on step numbers, which
//     move when background threads interleave: "crash at the first write to
//     segment X", "ENOSPC on the next preallocate". Explicit plans at the same
//     step win over the hook.
//   - fail_io(k, err): step k fails with Status::FromErrno(err) (EIO -> kIoError,
//     ENOSPC -> kNoSpace) and has no effect, except that a failed sync drops
//     the file's unsynced writes (see above). No crash; later steps proceed.
//
// Power loss: restart()
//   Builds the post-crash image from the durable state and, for each unsynced
//   write, an outcome chosen by the CrashModel and the seed; then the disk is
//   usable again: volatile view = the new durable image, all old handles are
//   stale (kInvalidArgument), the step counter is 0 and fault plans are
//   cleared (media faults below stay). Call it after a crash or at any moment
//   to simulate power loss then. Hand the same SimDisk to a new Wal::open.
//
// Media faults (persist across restart)
//   - inject_read_error(path, offset): any read covering that byte fails with
//     EIO until the 512-byte sector holding it is rewritten.
//   - flip_bit_at_rest(path, offset, bit): flips one bit in the durable image
//     and the cache (corruption at rest that no write caused).
//
// Usage (a crash test; `workload` appends through a Wal on `disk`):
//
//   auto counting = std::make_shared<SimDisk>(/*seed=*/7);
//   run_workload(counting);                  // fault-free run
//   const uint64_t steps = counting->io_count();
//   for (uint64_t k = 0; k < steps; ++k) {
//     auto disk = std::make_shared<SimDisk>(/*seed=*/k);
//     disk->crash_after_io(k);
//     WalOptions o;  o.dir = "/wal";  o.io = disk;
//     acked = run_workload_until_failure(o);  // Wal::open, appends, close
//     disk->restart();                          // power loss + reboot
//     auto wal = Wal::open(o, &report);         // recovery on the same disk
//     check(acked, wal);                        // every acked record present
//   }
//
// Thread-safe: one mutex serialises every call (the engine's flusher and its
// readers call concurrently).
//
// The files: sim_disk.cc the IoBackend data operations, sim_disk_namespace.cc
// the file table (directories, names, what sync_dir makes durable),
// sim_disk_faults.cc the fault plans, media faults and restart().
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/mutex.h"
#include "wal/io/io_backend.h"

namespace sidewal::wal {

class SimDisk final : public IoBackend {
 public:
  static constexpr size_t kSectorBytes = 512;

  // What restart() does with writes that were not synced when power failed.
  enum class CrashModel : uint8_t {
    // Each unsynced write independently (seeded): lost, applied, or torn
    // (its first N sectors applied, 1 <= N < its sector count).
    kRandom,
    // Every unsynced write is lost.
    kDropUnsynced,
    // Every unsynced write is applied except the last one, which is torn at a
    // seeded 512-byte boundary: the page being rewritten when power failed.
    kTearLast,
    // Only the process died: everything the kernel accepted survives
    // (unsynced writes and namespace changes), except writes dropped by a
    // failed sync.
    kProcessCrash,
    // Every unsynced write tears at a seeded sector, with garbage there (see
    // tear_write_garbage_at): the worst a power cut does to in-flight writes.
    kTearGarbage,
  };

  // What restart() did, for assertions and failure messages.
  struct RestartReport {
    uint64_t unsynced_writes = 0;
    uint64_t lost = 0;
    uint64_t applied = 0;
    uint64_t torn = 0;
    uint64_t files = 0;  // files in the post-crash namespace
  };

  explicit SimDisk(uint64_t seed = 1, CrashModel model = CrashModel::kRandom);
  ~SimDisk() override = default;

  // ---- IoBackend ----
  const char* name() const override { return "sim"; }
  Result<size_t> direct_alignment(const std::string& dir) override;
  Result<FileHandle> open(const std::string& path, const OpenOptions& options) override;
  Status close(FileHandle file) override;
  Status preallocate_zeroed(FileHandle file, uint64_t bytes, ZeroFill fill) override;
  Status write(FileHandle file, uint64_t offset, const void* buf, size_t len) override;
  Status write_and_sync(FileHandle file, uint64_t offset, const void* buf, size_t len) override;
  Status write2_and_sync(FileHandle file, uint64_t offset, const void* buf, size_t len,
                         uint64_t offset2, const void* buf2, size_t len2) override;
  Status read(FileHandle file, uint64_t offset, void* buf, size_t len, size_t* got) override;
  Status sync(FileHandle file) override;
  Result<uint64_t> file_size(FileHandle file) override;
  Status sync_dir(const std::string& dir) override;
  Status create_dir(const std::string& dir) override;
  Status remove(const std::string& path) override;
  Status rename(const std::string& from, const std::string& to) override;
  Result<std::vector<std::string>> list_dir(const std::string& dir) override;

  // ---- configuration ----
  void set_alignment(size_t alignment);  // power of two >= 512; default 4096
  void set_crash_model(CrashModel model);
  // Makes open(direct=true) and direct_alignment() fail with kUnsupported, as
  // a filesystem without O_DIRECT would (tmpfs before Linux 6.6).
  void refuse_direct(bool refuse);

  // ---- fault plans (step numbers count from 0 since the last restart) ----
  void crash_after_io(uint64_t k);
  void tear_write_at(uint64_t k, uint32_t sectors);
  void tear_write_garbage_at(uint64_t k, uint32_t sector);
  void fail_io(uint64_t k, int err);

  // One step as the fault hook sees it.
  struct StepInfo {
    uint64_t index = 0;
    // "write", "fdatasync", "preallocate", "open" (with create), "mkdir",
    // "fsync directory", "unlink", "rename".
    std::string op;
    std::string path;     // as the caller passed it; for rename, the source
    std::string to;       // rename's destination; empty otherwise
    uint64_t offset = 0;  // write: offset; preallocate: 0
    uint64_t len = 0;     // write: length; preallocate: bytes
  };
  struct Fault {
    // kTearLater: the write succeeds now, but if it is still unsynced when
    // power fails, restart() lands it torn at `sectors` (garbage there when
    // `garbage`) instead of asking the crash model; sectors 0 without garbage
    // = lost. A non-write step proceeds.
    enum Kind : uint8_t { kNone, kCrash, kFail, kTear, kTearLater } kind = kNone;
    int err = 0;           // kFail
    uint32_t sectors = 0;  // kTear, kTearLater (a non-write step crashes instead of kTear)
    bool garbage = false;  // kTear, kTearLater: sector `sectors` gets garbage
    static Fault none() { return {}; }
    static Fault crash() { return {kCrash, 0, 0, false}; }
    static Fault fail(int e) { return {kFail, e, 0, false}; }
    static Fault tear(uint32_t s) { return {kTear, 0, s, false}; }
    static Fault tear_garbage(uint32_t sector) { return {kTear, 0, sector, true}; }
    static Fault tear_later(uint32_t s, bool garbage) { return {kTearLater, 0, s, garbage}; }
  };
  using FaultHook = std::function<Fault(const StepInfo&)>;
  // Replaces the hook; an empty function removes it. Cleared by restart().
  void set_fault_hook(FaultHook hook);

  // ---- media faults ----
  // kNotFound when `path` is not a file in the volatile namespace.
  Status inject_read_error(const std::string& path, uint64_t offset);
  Status flip_bit_at_rest(const std::string& path, uint64_t offset, unsigned bit);

  // ---- observation ----
  uint64_t io_count() const;
  bool crashed() const;
  // Power loss now (or after a crash) and reboot; see the header comment.
  RestartReport restart();
  // The durable image as restart() would start from it (ignores unsynced
  // writes): whether `path` is in the durable namespace, and its bytes.
  bool durable_exists(const std::string& path) const;
  Result<std::vector<uint8_t>> durable_content(const std::string& path) const;
  // Unsynced writes across all files right now.
  uint64_t unsynced_writes() const;
  // When on, every step is recorded as "#k op path offset len -> result" so a
  // failing seed can print what happened. Off by default.
  void set_trace(bool on);
  std::vector<std::string> trace() const;

 private:
  struct Pending {
    uint64_t offset = 0;
    std::vector<uint8_t> data;
    std::optional<uint32_t> forced_sectors;  // set by tear_write_at: lands exactly this prefix
    bool garbage = false;                    // with forced_sectors: the next sector gets garbage
    uint64_t seq = 0;  // global write order, across files (kTearLast tears the newest)
  };
  struct Inode {
    std::vector<uint8_t> durable;    // survives power loss
    std::vector<uint8_t> cache;      // what reads see; durable + pending (+ dropped writes)
    std::vector<Pending> pending;    // unsynced writes, oldest first
    std::set<uint64_t> bad_sectors;  // latent read errors (sector numbers)
  };
  struct Namespace {
    std::map<std::string, uint64_t> files;  // normalised path -> inode id
    std::set<std::string> dirs;             // normalised paths; "/" always present
  };
  struct Handle {
    uint64_t inode = 0;
    std::string path;
    bool writable = false;
    bool direct = false;
    bool dsync = false;
  };
  enum class StepKind : uint8_t { kWrite, kOther };
  // What the fault plan says about the step being taken.
  struct Step {
    uint64_t index = 0;
    enum Outcome : uint8_t { kProceed, kFail, kCrash, kTear } outcome = kProceed;
    int err = 0;
    uint32_t tear_sectors = 0;
    bool garbage = false;
    bool tear_later = false;  // kProceed, but torn at tear_sectors if unsynced at power loss
  };

  // "/a//b/./c/" -> "/a/b/c"; relative paths are taken from "/".
  static std::string normalize(const std::string& path);
  // The 512-byte sectors a write of `len` bytes covers.
  static uint64_t sectors_of(size_t len);

  // Fault plan, trace and handle table: with mu_ held.
  Step take_step(StepKind kind, const char* op, const std::string& path, uint64_t offset = 0,
                 uint64_t len = 0, const std::string* to = nullptr) REQUIRES(mu_);
  void record(const Step& step, const std::string& what, const Status& result) REQUIRES(mu_);
  Status lookup(FileHandle file, const char* op, Handle** out) REQUIRES(mu_);
  Status check_direct(const Handle& h, uint64_t offset, const void* buf, size_t len,
                      const char* op) const REQUIRES(mu_);
  Status do_write(Handle& h, uint64_t offset, const uint8_t* buf, size_t len, const char* op)
      REQUIRES(mu_);
  Status do_sync(Handle& h, const char* op) REQUIRES(mu_);
  // Writes a sector of garbage (neither the pending write's bytes nor the
  // durable ones) at `at` of p's range (draws from rng_).
  void apply_garbage(Inode& inode, const Pending& p, size_t at) REQUIRES(mu_);
  // Touch only their arguments (the caller holds mu_ for those that are members).
  Status crash_status(const std::string& what) const;
  void apply_durable(Inode& inode, const Pending& p, size_t bytes);
  std::string parent_of(const std::string& norm) const;
  bool dir_exists(const Namespace& ns, const std::string& norm) const;

  mutable Mutex mu_;
  std::mt19937_64 rng_ GUARDED_BY(mu_);  // only restart() draws from it
  CrashModel model_ GUARDED_BY(mu_);
  size_t alignment_ GUARDED_BY(mu_) = 4096;
  bool refuse_direct_ GUARDED_BY(mu_) = false;
  std::map<uint64_t, Inode> inodes_ GUARDED_BY(mu_);
  uint64_t next_inode_ GUARDED_BY(mu_) = 1;
  Namespace volatile_ns_ GUARDED_BY(mu_);
  Namespace durable_ns_ GUARDED_BY(mu_);
  std::map<FileHandle, Handle> handles_ GUARDED_BY(mu_);
  FileHandle next_handle_ GUARDED_BY(mu_) = 100;  // never reused, even across restarts
  uint64_t steps_ GUARDED_BY(mu_) = 0;            // steps taken since the last restart
  uint64_t next_seq_ GUARDED_BY(mu_) = 0;         // Pending::seq source
  std::optional<uint64_t> crash_at_ GUARDED_BY(mu_);
  std::map<uint64_t, uint32_t> tear_at_ GUARDED_BY(mu_);
  std::set<uint64_t> garbage_at_ GUARDED_BY(mu_);  // tear_at_ steps that tear with garbage
  std::map<uint64_t, int> fail_at_ GUARDED_BY(mu_);
  FaultHook hook_ GUARDED_BY(mu_);
  bool crashed_ GUARDED_BY(mu_) = false;
  bool trace_on_ GUARDED_BY(mu_) = false;
  std::vector<std::string> trace_ GUARDED_BY(mu_);
};

}  // namespace sidewal::wal
