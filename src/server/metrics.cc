#include "server/metrics.h"

#include <prometheus/text_serializer.h>

#include <sstream>

#include "server/page_cache.h"

namespace sidewal::server {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

// 50us doubling to ~0.8s, then 1s: commit latency is a few hundred
// microseconds on NVMe and tens of milliseconds on a slow network disk.
prometheus::Histogram::BucketBoundaries latency_buckets() {
  prometheus::Histogram::BucketBoundaries b;
  for (double v = 50e-6; v < 1.0; v *= 2) b.push_back(v);
  b.push_back(1.0);
  return b;
}

prometheus::Histogram::BucketBoundaries record_count_buckets() {
  prometheus::Histogram::BucketBoundaries b;
  for (double v = 1; v <= 16384; v *= 2) b.push_back(v);
  return b;
}

constexpr proto::ErrorCode kAllCodes[] = {
    proto::ErrorCode::kMalformed,      proto::ErrorCode::kFrameTooLarge,
    proto::ErrorCode::kUnknownOpcode,  proto::ErrorCode::kUnsupportedVersion,
    proto::ErrorCode::kNotReady,       proto::ErrorCode::kIoFailed,
    proto::ErrorCode::kNoSpace,        proto::ErrorCode::kLsnTruncated,
    proto::ErrorCode::kUnauthorized,   proto::ErrorCode::kRecordTooLarge,
    proto::ErrorCode::kReservedRecordType,
};

}  // namespace

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {
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
  fsync_duration_ = &BuildHistogram()
                         .Name("sidewal_fsync_duration_seconds")
                         .Help("Duration of the log's data sync per flush.")
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
  segments_ = &BuildGauge()
                   .Name("sidewal_segments")
                   .Help("Segment files in the log.")
                   .Register(r)
                   .Add({});
  disk_bytes_ = &BuildGauge()
                     .Name("sidewal_disk_bytes")
                     .Help("Bytes the log occupies on disk.")
                     .Register(r)
                     .Add({});
  ready_ = &BuildGauge()
                .Name("sidewal_ready")
                .Help("1 when recovery finished and the log accepts writes, else 0.")
                .Register(r)
                .Add({});
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

void Metrics::flushed(uint32_t records, double sync_seconds) {
  fsync_duration_->Observe(sync_seconds);
  group_commit_records_->Observe(records);
}

void Metrics::recovered(const wal::RecoveryReport& report) {
  recovery_seconds_->Set(report.seconds);
  // Torn pages recovery restored from the double-write buffer at this start.
  dwb_restores_->Increment(static_cast<double>(report.dwb_restores));
  backend_info_->Add({{"backend", report.backend.empty() ? "unknown" : report.backend}}).Set(1);
}

std::string Metrics::scrape(const wal::WalStatus* status) {
  std::lock_guard lock(scrape_mu_);
  if (auto cached = meminfo_cached_bytes(); cached.ok()) {
    page_cache_bytes_->Set(static_cast<double>(cached.value()));
  }
  if (status != nullptr) {
    durable_lsn_->Set(static_cast<double>(status->durable_lsn));
    first_lsn_->Set(static_cast<double>(status->first_lsn));
    segments_->Set(static_cast<double>(status->segments));
    disk_bytes_->Set(static_cast<double>(status->bytes_on_disk));
    wal_resident_bytes_->Set(static_cast<double>(resident_bytes(status->segment_paths)));
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

}  // namespace sidewal::server
