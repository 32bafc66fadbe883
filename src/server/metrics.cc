#include "server/metrics.h"

#include <prometheus/text_serializer.h>

#include <sys/statvfs.h>

#include <sstream>

#include "server/page_cache.h"

namespace sidewal::server {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

// Commit latency and flush duration share these boundaries. 1 ms (the
// project's commit-latency target) is a boundary with 100 us steps below it
// and fine steps above, so "the fraction of commits slower than 1 ms" is an
// exact bucket ratio (le="0.001"), not an interpolation; the tail reaches the
// tens and hundreds of milliseconds of a slow network disk. Written as
// decimal literals so the exported `le` labels read "0.0003", not a rounding
// artefact of a computed sequence. 600 us is left out on purpose:
// prometheus-cpp prints 16 significant digits, and no double prints as
// "0.0006" with 16 (the nearest reads "0.0005999999999999999"), a label
// nobody would select by hand. Metrics.ExpositionParsesAndCarriesEveryMetric
// checks every label.
prometheus::Histogram::BucketBoundaries latency_buckets() {
  return {50e-6,  100e-6, 200e-6,  300e-6, 400e-6, 500e-6, 700e-6, 800e-6,
          900e-6, 1e-3,   1.25e-3, 1.5e-3, 2e-3,   2.5e-3, 3e-3,   4e-3,
          5e-3,   10e-3,  25e-3,   50e-3,  100e-3, 250e-3, 500e-3, 1.0};
}

prometheus::Histogram::BucketBoundaries record_count_buckets() {
  prometheus::Histogram::BucketBoundaries b;
  for (double v = 1; v <= 16384; v *= 2) b.push_back(v);
  return b;
}

constexpr proto::ErrorCode kAllCodes[] = {
    proto::ErrorCode::kMalformed,
    proto::ErrorCode::kFrameTooLarge,
    proto::ErrorCode::kUnknownOpcode,
    proto::ErrorCode::kUnsupportedVersion,
    proto::ErrorCode::kNotReady,
    proto::ErrorCode::kIoFailed,
    proto::ErrorCode::kNoSpace,
    proto::ErrorCode::kLsnTruncated,
    proto::ErrorCode::kUnauthorized,
    proto::ErrorCode::kRecordTooLarge,
    proto::ErrorCode::kReservedRecordType,
};

constexpr DaemonState kAllStates[] = {DaemonState::kRecovering, DaemonState::kReady,
                                      DaemonState::kFailed, DaemonState::kDraining};

}  // namespace

const char* daemon_state_name(DaemonState s) {
  switch (s) {
    case DaemonState::kRecovering: return "recovering";
    case DaemonState::kReady: return "ready";
    case DaemonState::kFailed: return "failed";
    case DaemonState::kDraining: return "draining";
  }
  return "?";
}

Metrics::Metrics(std::string data_dir, uint64_t segment_bytes)
    : data_dir_(std::move(data_dir)), registry_(std::make_shared<prometheus::Registry>()) {
  auto& r = *registry_;
  append_records_ = &BuildCounter()
                         .Name("sidewal_append_records_total")
                         .Help("Records acknowledged (durable) to clients.")
                         .Register(r)
                         .Add({});
  append_bytes_ = &BuildCounter()
                       .Name("sidewal_append_bytes_total")
                       .Help("Payload bytes of acknowledged records.")
                       .Register(r)
                       .Add({});
  commit_latency_ = &BuildHistogram()
                         .Name("sidewal_commit_latency_seconds")
                         .Help("Time from receipt of an APPEND frame to queuing its ACK.")
                         .Register(r)
                         .Add({}, latency_buckets());
  flush_duration_ = &BuildHistogram()
                         .Name("sidewal_flush_duration_seconds")
                         .Help(
                             "Time from a flush's first write to its sync completing: data write + "
                             "double-write slot write + fdatasync (or the O_DSYNC writes with "
                             "wal.sync_mode odsync).")
                         .Register(r)
                         .Add({}, latency_buckets());
  group_commit_records_ = &BuildHistogram()
                               .Name("sidewal_group_commit_records")
                               .Help("Records made durable by one flush.")
                               .Register(r)
                               .Add({}, record_count_buckets());
  dwb_bytes_ = &BuildCounter()
                    .Name("sidewal_dwb_bytes_written_total")
                    .Help("Bytes written to the double-write buffer.")
                    .Register(r)
                    .Add({});
  dwb_restores_ = &BuildCounter()
                       .Name("sidewal_dwb_restores_total")
                       .Help("Torn pages restored from the double-write buffer by recovery.")
                       .Register(r)
                       .Add({});
  overlapped_flushes_ = &BuildCounter()
                             .Name("sidewal_overlapped_flushes_total")
                             .Help(
                                 "Flushes whose pages after the first were written while the "
                                 "previous flush synced (wal.overlap_min_bytes).")
                             .Register(r)
                             .Add({});
  page_cache_bytes_ = &BuildGauge()
                           .Name("sidewal_page_cache_bytes")
                           .Help("Host page cache size (Cached in /proc/meminfo), read at scrape.")
                           .Register(r)
                           .Add({});
  wal_resident_bytes_ =
      &BuildGauge()
           .Name("sidewal_wal_resident_bytes")
           .Help("Bytes of the log's segment files resident in the page cache (mincore).")
           .Register(r)
           .Add({});
  durable_lsn_ = &BuildGauge()
                      .Name("sidewal_durable_lsn")
                      .Help("Highest durable LSN (0 = empty log).")
                      .Register(r)
                      .Add({});
  first_lsn_ = &BuildGauge()
                    .Name("sidewal_first_lsn")
                    .Help("Lowest LSN still in the log.")
                    .Register(r)
                    .Add({});
  segments_ =
      &BuildGauge().Name("sidewal_segments").Help("Segment files in the log.").Register(r).Add({});
  disk_bytes_ = &BuildGauge()
                     .Name("sidewal_disk_bytes")
                     .Help("Bytes the log occupies on disk.")
                     .Register(r)
                     .Add({});
  segment_size_bytes_ = &BuildGauge()
                             .Name("sidewal_segment_size_bytes")
                             .Help(
                                 "wal.segment_bytes: the size every segment file is allocated "
                                 "to, so the free space creating the next segment needs.")
                             .Register(r)
                             .Add({});
  segment_size_bytes_->Set(static_cast<double>(segment_bytes));
  volume_size_family_ = &BuildGauge()
                             .Name("sidewal_volume_size_bytes")
                             .Help("Size of the file system holding data_dir (statvfs at scrape).")
                             .Register(r);
  volume_available_family_ =
      &BuildGauge()
           .Name("sidewal_volume_available_bytes")
           .Help(
               "Bytes of the file system holding data_dir that the daemon (not root) may "
               "still allocate (statvfs f_bavail at scrape).")
           .Register(r);
  ready_ = &BuildGauge()
                .Name("sidewal_ready")
                .Help(
                    "1 when recovery finished, the log accepts writes and the daemon is not "
                    "draining (/readyz 200), else 0.")
                .Register(r)
                .Add({});
  auto& state_family = BuildGauge()
                           .Name("sidewal_state")
                           .Help(
                               "1 for the daemon's current state (recovering, ready, failed = "
                               "fail-stopped, draining = stopping), 0 for the others.")
                           .Register(r);
  for (DaemonState st : kAllStates) {
    state_[static_cast<size_t>(st)] = &state_family.Add({{"state", daemon_state_name(st)}});
  }
  state_[static_cast<size_t>(DaemonState::kRecovering)]->Set(1);
  recovery_seconds_ = &BuildGauge()
                           .Name("sidewal_recovery_duration_seconds")
                           .Help("How long the last recovery took.")
                           .Register(r)
                           .Add({});
  connections_ = &BuildGauge()
                      .Name("sidewal_connections")
                      .Help("Open client connections.")
                      .Register(r)
                      .Add({});
  errors_family_ = &BuildCounter()
                        .Name("sidewal_errors_total")
                        .Help("ERROR replies sent to clients, by protocol error code.")
                        .Register(r);
  for (proto::ErrorCode c : kAllCodes) {
    errors_[static_cast<size_t>(c)] = &errors_family_->Add({{"code", proto::error_code_name(c)}});
  }
  archive_requests_ = &BuildCounter()
                           .Name("sidewal_archive_requests_total")
                           .Help(
                               "Object store requests of the archive, by operation and result "
                               "(ok or error).")
                           .Register(r);
  archive_request_seconds_ =
      &BuildHistogram()
           .Name("sidewal_archive_request_duration_seconds")
           .Help("Object store request latency of the archive, by operation.")
           .Register(r);
  for (auto [name, help] :
       {std::pair<const char*, const char*>{
            "sidewal_archive_durable_lsn",
            "The archive's durable LSN: every record up to it is in "
            "the object store (0 = nothing yet)."},
        {"sidewal_archive_lag_records", "Durable records the archive does not hold yet."},
        {"sidewal_archive_lag_bytes",
         "Bytes of durable records (segment bytes, as archived) the archive does not hold yet."},
        {"sidewal_archive_lag_seconds",
         "Seconds since the archive last held every durable record (0 when it does)."},
        {"sidewal_archive_up", "1 when the archive's last upload pass succeeded, else 0."}}) {
    archive_gauges_[name] = &BuildGauge().Name(name).Help(help).Register(r);
  }
  for (auto [name, help] :
       {std::pair<const char*, const char*>{"sidewal_archive_uploaded_objects_total",
                                            "Pieces (objects) the archive uploaded."},
        {"sidewal_archive_uploaded_bytes_total", "Bytes the archive uploaded."},
        {"sidewal_archive_failures_total", "Upload passes of the archive that failed."},
        {"sidewal_archive_compactions_total", "Segments the archive compacted into one object."},
        {"sidewal_archive_generations_total", "Archive generations this daemon started."}}) {
    archive_counters_[name] = &BuildCounter().Name(name).Help(help).Register(r);
  }
  backend_info_ = &BuildGauge()
                       .Name("sidewal_io_backend_info")
                       .Help("The I/O backend the log runs on (label), always 1.")
                       .Register(r);
}

void Metrics::appended(uint32_t records, uint64_t bytes, double latency_seconds) {
  append_records_->Increment(records);
  append_bytes_->Increment(static_cast<double>(bytes));
  commit_latency_->Observe(latency_seconds);
}

void Metrics::error(proto::ErrorCode code) {
  const auto i = static_cast<size_t>(code);
  if (i < errors_.size() && errors_[i] != nullptr) errors_[i]->Increment();
}

void Metrics::flushed(uint32_t records, double flush_seconds) {
  flush_duration_->Observe(flush_seconds);
  group_commit_records_->Observe(records);
}

void Metrics::recovered(const wal::RecoveryReport& report) {
  recovery_seconds_->Set(report.seconds);
  // Torn pages recovery restored from the double-write buffer at this start.
  dwb_restores_->Increment(static_cast<double>(report.dwb_restores));
  backend_info_->Add({{"backend", report.backend.empty() ? "unknown" : report.backend}}).Set(1);
}

void Metrics::archive_request(const char* op, double seconds, bool ok) {
  archive_requests_->Add({{"op", op}, {"result", ok ? "ok" : "error"}}).Increment();
  static const prometheus::Histogram::BucketBoundaries kBuckets = {0.001, 0.0025, 0.005, 0.01,
                                                                   0.025, 0.05,   0.1,   0.25,
                                                                   0.5,   1,      2.5,   5,
                                                                   10,    30};
  archive_request_seconds_->Add({{"op", op}}, kBuckets).Observe(seconds);
}

void Metrics::set_archive_source(std::function<archive::UploaderStats()> source) {
  MutexLock lock(archive_mu_);
  archive_source_ = std::move(source);
}

void Metrics::sample_volume() {
  struct statvfs v {};
  if (::statvfs(data_dir_.c_str(), &v) != 0) {
    if (volume_size_bytes_ != nullptr) volume_size_family_->Remove(volume_size_bytes_);
    if (volume_available_bytes_ != nullptr) {
      volume_available_family_->Remove(volume_available_bytes_);
    }
    volume_size_bytes_ = volume_available_bytes_ = nullptr;
    return;
  }
  if (volume_size_bytes_ == nullptr) volume_size_bytes_ = &volume_size_family_->Add({});
  if (volume_available_bytes_ == nullptr) {
    volume_available_bytes_ = &volume_available_family_->Add({});
  }
  const double frsize = static_cast<double>(v.f_frsize);
  volume_size_bytes_->Set(static_cast<double>(v.f_blocks) * frsize);
  volume_available_bytes_->Set(static_cast<double>(v.f_bavail) * frsize);
}

std::string Metrics::scrape(DaemonState state, const wal::WalStatus* status) {
  MutexLock lock(scrape_mu_);
  for (DaemonState st : kAllStates) state_[static_cast<size_t>(st)]->Set(st == state ? 1 : 0);
  ready_->Set(state == DaemonState::kReady ? 1 : 0);
  sample_volume();
  if (auto cached = meminfo_cached_bytes(); cached.ok()) {
    page_cache_bytes_->Set(static_cast<double>(cached.value()));
  }
  if (status != nullptr) {
    durable_lsn_->Set(static_cast<double>(status->durable_lsn));
    first_lsn_->Set(static_cast<double>(status->first_lsn));
    segments_->Set(static_cast<double>(status->segments));
    disk_bytes_->Set(static_cast<double>(status->bytes_on_disk));
    wal_resident_bytes_->Set(static_cast<double>(resident_bytes(status->segment_paths)));
    if (status->overlapped_flushes > overlapped_seen_) {
      overlapped_flushes_->Increment(
          static_cast<double>(status->overlapped_flushes - overlapped_seen_));
      overlapped_seen_ = status->overlapped_flushes;
    }
  }
  std::function<archive::UploaderStats()> source;
  {
    MutexLock a(archive_mu_);
    source = archive_source_;
  }
  if (source) {
    const archive::UploaderStats s = source();
    auto set = [this](const char* name, double v) { archive_gauges_.at(name)->Add({}).Set(v); };
    set("sidewal_archive_durable_lsn", static_cast<double>(s.archived_lsn));
    set("sidewal_archive_lag_records", static_cast<double>(s.lag_records));
    set("sidewal_archive_lag_bytes", static_cast<double>(s.lag_bytes));
    set("sidewal_archive_lag_seconds", s.lag_seconds);
    set("sidewal_archive_up", s.last_error.empty() ? 1 : 0);
    auto grow = [this](const char* name, uint64_t now, uint64_t before) {
      archive_counters_.at(name)->Add({}).Increment(now > before ? static_cast<double>(now - before)
                                                                 : 0);
    };
    grow("sidewal_archive_uploaded_objects_total", s.pieces_uploaded,
         archive_last_.pieces_uploaded);
    grow("sidewal_archive_uploaded_bytes_total", s.bytes_uploaded, archive_last_.bytes_uploaded);
    grow("sidewal_archive_failures_total", s.failures, archive_last_.failures);
    grow("sidewal_archive_compactions_total", s.compactions, archive_last_.compactions);
    grow("sidewal_archive_generations_total", s.generations_started,
         archive_last_.generations_started);
    archive_last_ = s;
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

}  // namespace sidewal::server
