// Wal::open (validate options, pick the backend, recover, start the writer),
// append_sync and the read-only inspect_dir.
#include "wal/wal.h"

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "wal/dwb.h"
#include "wal/format.h"
#include "wal/recovery.h"
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
  if (options.segment_bytes % a != 0 ||
      options.segment_bytes < (dwb::kReservedPages + 4) * a) {
    return Status::InvalidArgument("wal: segment_bytes " + std::to_string(options.segment_bytes) +
                                   " must be a multiple of the " + std::to_string(a) +
                                   "-byte I/O alignment of " + options.dir +
                                   " and at least " + std::to_string(dwb::kReservedPages + 4) +
                                   " pages (the last " + std::to_string(dwb::kReservedPages) +
                                   " hold the double-write slots)");
  }
  if (format::kPreambleBytes + format::record_bytes(options.max_record_bytes) >
      dwb::records_end(options.segment_bytes, a)) {
    return Status::InvalidArgument("wal: a " + std::to_string(options.max_record_bytes) +
                                   "-byte record does not fit a " +
                                   std::to_string(options.segment_bytes) + "-byte segment");
  }

  DirScan scan;
  SIDEWAL_RETURN_IF_ERROR(scan_dir(io.get(), options.dir, a, /*direct=*/true, {}, {}, &scan, report));
  Status st = repair_dir(io.get(), options.dir, a, options.salvage, &scan);
  report->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  SIDEWAL_RETURN_IF_ERROR(st);

  auto wal = std::make_unique<WalImpl>(options, io, a);
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

Status inspect_dir(const std::string& dir, IoBackend* io,
                   const std::function<void(const SegmentInfo&)>& on_segment,
                   const std::function<void(const Record&)>& on_record, RecoveryReport* report) {
  RecoveryReport scratch;
  if (report == nullptr) report = &scratch;
  *report = RecoveryReport{};
  report->backend = io->name();
  const auto t0 = std::chrono::steady_clock::now();
  // O_DIRECT when the filesystem allows it (no page-cache pollution); a
  // read-only scan may fall back to buffered reads, it writes nothing.
  size_t align = 4096;
  bool direct = true;
  Result<size_t> a = io->direct_alignment(dir);
  if (a.ok()) {
    align = *a;
  } else if (a.status().code() == Code::kUnsupported) {
    direct = false;
  } else {
    return a.status();
  }

  // Records are handed out one complete batch at a time: what recovery keeps.
  std::vector<Record> batch;
  auto seg_cb = [&](const SegmentScan& s) {
    batch.clear();
    if (!on_segment) return;
    SegmentInfo info;
    info.path = s.path;
    info.segment_id = s.preamble.segment_id;
    info.first_lsn = s.first_lsn;
    info.last_lsn = s.last_lsn;
    info.records = s.records;
    info.valid_bytes = s.valid_end;
    info.cipher = s.preamble.cipher;
    if (!s.preamble_status.ok()) {
      info.problem = s.preamble_status.message();
    } else if (s.stopped_bad) {
      info.problem = "offset " + std::to_string(s.stop_offset) + ": " + s.stop_why;
    } else if (s.batch_lsn != s.last_lsn) {
      info.problem = "records after lsn " + std::to_string(s.batch_lsn) +
                     " do not end a batch (incomplete trailing batch)";
    }
    on_segment(info);
  };
  std::function<void(const SegmentScan&, const RecordView&)> rec_cb;
  if (on_record) {
    rec_cb = [&](const SegmentScan&, const RecordView& v) {
      Record& r = batch.emplace_back();
      r.lsn = v.header.lsn;
      r.type = v.header.type;
      r.flags = v.header.flags;
      r.tenant = v.header.tenant;
      r.payload.assign(v.payload, v.payload + v.header.payload_len);
      if (v.header.flags & format::kFlagBatchEnd) {
        for (const Record& b : batch) on_record(b);
        batch.clear();
      }
    };
  }
  DirScan scan;
  Status st = scan_dir(io, dir, align, direct, seg_cb, rec_cb, &scan, report);
  report->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return st;
}

}  // namespace sidewal::wal
