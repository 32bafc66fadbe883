// Wal::open (validate options, pick the backend, recover, start the writer)
// and append_sync. Offline inspection (inspect_dir) is inspect.cc.
#include "wal/wal.h"

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "wal/codecs/format.h"
#include "wal/codecs/segment_keys.h"
#include "wal/dir_lock.h"
#include "wal/dwb.h"
#include "wal/recovery/recovery.h"
#include "wal/wal_impl.h"

namespace sidewal::wal {
namespace {

Status validate(const WalOptions& o) {
  if (o.dir.empty()) return Status::InvalidArgument("wal: options.dir is empty");
  if (o.max_record_bytes == 0 || o.max_record_bytes > kHardMaxRecordBytes) {
    return Status::InvalidArgument("wal: max_record_bytes " + std::to_string(o.max_record_bytes) +
                                   " must be in 1.." + std::to_string(kHardMaxRecordBytes));
  }
  if (o.max_pending_bytes == 0) return Status::InvalidArgument("wal: max_pending_bytes is 0");
  return Status::Ok();
}

std::string parent_dir(const std::string& dir) {
  std::string d = dir;
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  size_t slash = d.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return d.substr(0, slash);
}

}  // namespace

Result<std::unique_ptr<Wal>> Wal::open(const WalOptions& options, RecoveryReport* report) {
  RecoveryReport scratch;
  if (report == nullptr) report = &scratch;
  *report = RecoveryReport{};
  const auto t0 = std::chrono::steady_clock::now();
  SIDEWAL_RETURN_IF_ERROR(validate(options));

  // One writer per directory, settled before anything in it is read.
  std::shared_ptr<const DirLock> lock = options.dir_lock;
  if (lock != nullptr) {
    if (lock->mode() != DirLock::Mode::kExclusive || !lock->covers(options.dir)) {
      return Status::InvalidArgument("wal: options.dir_lock is not an exclusive lock on " +
                                     options.dir + " (it locks " + lock->dir() + ")");
    }
  } else if (options.io == nullptr) {
    Result<std::unique_ptr<DirLock>> taken =
        DirLock::acquire(options.dir, DirLock::Mode::kExclusive);
    if (!taken.ok()) return taken.status();
    lock = std::move(taken).value();
  }

  std::shared_ptr<IoBackend> io = options.io;
  if (!io) {
    std::string why;
    io = make_backend(options.backend, &why);
    if (!io) return Status::Unsupported("wal: no I/O backend for " + options.dir + ": " + why);
  }
  report->backend = io->name();

  // A directory that did not exist is durable only once its parent is synced.
  Result<std::vector<std::string>> existing = io->list_dir(options.dir);
  if (!existing.ok()) {
    if (existing.status().code() != Code::kNotFound) return existing.status();
    SIDEWAL_RETURN_IF_ERROR(io->create_dir(options.dir));
    SIDEWAL_RETURN_IF_ERROR(io->sync_dir(parent_dir(options.dir)));
  }

  Result<size_t> align = io->direct_alignment(options.dir);
  if (!align.ok()) return align.status();
  const uint64_t a = *align;
  if (options.segment_bytes % a != 0 || options.segment_bytes < (dwb::kReservedPages + 4) * a) {
    return Status::InvalidArgument("wal: segment_bytes " + std::to_string(options.segment_bytes) +
                                   " must be a multiple of the " + std::to_string(a) +
                                   "-byte I/O alignment of " + options.dir + " and at least " +
                                   std::to_string(dwb::kReservedPages + 4) + " pages (the last " +
                                   std::to_string(dwb::kReservedPages) +
                                   " hold the double-write slots)");
  }
  const bool encrypt = options.keys != nullptr && options.keys->has_current();
  if (encrypt && options.max_record_bytes > kHardMaxRecordBytes - kTagBytes) {
    return Status::InvalidArgument("wal: max_record_bytes " +
                                   std::to_string(options.max_record_bytes) +
                                   " leaves no room for the 16-byte GCM tag under the " +
                                   std::to_string(kHardMaxRecordBytes) + "-byte ceiling");
  }
  const uint64_t tag = encrypt ? kTagBytes : 0;
  if (format::kMaxPreambleBytes + format::record_bytes(options.max_record_bytes + tag) >
      dwb::records_end(options.segment_bytes, a)) {
    return Status::InvalidArgument("wal: a " + std::to_string(options.max_record_bytes) +
                                   "-byte record does not fit a " +
                                   std::to_string(options.segment_bytes) + "-byte segment");
  }

  DirScan scan;
  SIDEWAL_RETURN_IF_ERROR(
      scan_dir(io.get(), options.dir, a, /*direct=*/true, {}, {}, &scan, report));
  // Every encrypted segment's key must be configured, with the bytes it was
  // written with, before repair writes anything (a wrong key is refused with
  // the files untouched).
  {
    SegmentKeys keys(options.keys);
    for (const SegmentScan& s : scan.segments) {
      if (s.preamble_status.ok()) SIDEWAL_RETURN_IF_ERROR(keys.check(s.preamble, s.path));
    }
  }
  Status st = repair_dir(io.get(), options.dir, a, options.salvage, &scan);
  report->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  SIDEWAL_RETURN_IF_ERROR(st);

  // The log holds the lock through hold_dir_lock() only, so close() lets go.
  WalOptions impl_options = options;
  impl_options.dir_lock.reset();
  auto wal = std::make_unique<WalImpl>(impl_options, io, a);
  wal->hold_dir_lock(std::move(lock));
  SIDEWAL_RETURN_IF_ERROR(wal->start(scan));
  // What the log holds now (a fresh log got its first segment; salvage may
  // have dropped some).
  WalStatus now = wal->status();
  report->segments = now.segments;
  report->bytes_on_disk = now.bytes_on_disk;
  report->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return std::unique_ptr<Wal>(std::move(wal));
}

Result<uint64_t> Wal::append_sync(std::span<const RecordIn> records) {
  struct Waiter {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    Status status;
    uint64_t lsn = 0;
  } w;
  append(records, [&w](const Status& st, uint64_t first_lsn) {
    std::lock_guard<std::mutex> g(w.mu);
    w.status = st;
    w.lsn = first_lsn;
    w.done = true;
    w.cv.notify_one();
  });
  std::unique_lock<std::mutex> lk(w.mu);
  w.cv.wait(lk, [&] { return w.done; });
  if (!w.status.ok()) return w.status;
  return w.lsn;
}

}  // namespace sidewal::wal
