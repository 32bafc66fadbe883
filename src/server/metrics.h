// Metrics: the prometheus-cpp registry behind /metrics, with the exact names
// operators, the dashboard and the alert rules depend on (docs/operations.md
// lists them). Counters and histograms are updated on the hot path
// (thread-safe, lock-free in prometheus-cpp); the state, the log's gauges,
// the volume's capacity and the page-cache numbers are sampled at scrape time
// so they cost nothing between scrapes and cannot drift from what the daemon
// reports on /readyz.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "archive/uploader.h"
#include "common/mutex.h"
#include "proto/protocol.h"
#include "wal/wal.h"

namespace sidewal::server {

// What the daemon is doing, as /readyz's "state" and sidewal_state{state}
// report it. Exactly one holds at a time:
//   kRecovering  the log is being opened (requests get NOT_READY)
//   kReady       the log accepts appends
//   kFailed      the log is fail-stopped; only a restart clears it
//   kDraining    SIGTERM/SIGINT arrived (or recovery failed): the daemon is
//                finishing in-flight work before it exits
// kFailed wins over kDraining: a fail-stopped daemon that is being stopped
// (the kubelet restarting it after /healthz 500) still says failed.
enum class DaemonState : uint8_t { kRecovering, kReady, kFailed, kDraining };
const char* daemon_state_name(DaemonState s);

class Metrics {
 public:
  // `data_dir`: the directory whose file system sidewal_volume_*_bytes
  // describe (one statvfs per scrape). `segment_bytes`: wal.segment_bytes,
  // exported so alerts can compare free space with what a new segment needs.
  Metrics(std::string data_dir, uint64_t segment_bytes);
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // One APPEND acknowledged: `records` records with `bytes` payload bytes,
  // `latency_seconds` from receipt of its frame to queuing its ACK.
  void appended(uint32_t records, uint64_t bytes, double latency_seconds);
  void error(proto::ErrorCode code);
  void connection_opened() { connections_->Increment(); }
  void connection_closed() { connections_->Decrement(); }

  // From the log's observer (completion thread): one flush of `records`
  // records whose writes and sync took `flush_seconds` (WalObserver::on_flush).
  void flushed(uint32_t records, double flush_seconds);
  void dwb_written(uint64_t bytes) { dwb_bytes_->Increment(static_cast<double>(bytes)); }

  // After recovery.
  void recovered(const wal::RecoveryReport& report);

  // The archive (docs/archive.md): one object store request (any thread),
  // and where scrape() samples the uploader's state (its series appear once
  // the archive starts).
  void archive_request(const char* op, double seconds, bool ok);
  void set_archive_source(std::function<archive::UploaderStats()> source);

  // Sets sidewal_state and sidewal_ready from `state`, samples the
  // scrape-time gauges from `status` (null while recovering) and from the
  // data directory's file system, then renders the whole registry in the
  // Prometheus text format.
  std::string scrape(DaemonState state, const wal::WalStatus* status) EXCLUDES(scrape_mu_);

 private:
  void sample_volume() REQUIRES(scrape_mu_);

  const std::string data_dir_;
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Counter* append_records_;
  prometheus::Counter* append_bytes_;
  prometheus::Histogram* commit_latency_;
  prometheus::Histogram* flush_duration_;
  prometheus::Histogram* group_commit_records_;
  prometheus::Counter* dwb_bytes_;
  prometheus::Counter* dwb_restores_;
  // Sampled at scrape from WalStatus::overlapped_flushes (the engine's count
  // since open), advanced by what it grew since the last scrape.
  prometheus::Counter* overlapped_flushes_;
  uint64_t overlapped_seen_ GUARDED_BY(scrape_mu_) = 0;
  prometheus::Gauge* page_cache_bytes_;
  prometheus::Gauge* wal_resident_bytes_;
  prometheus::Gauge* durable_lsn_;
  prometheus::Gauge* first_lsn_;
  prometheus::Gauge* segments_;
  prometheus::Gauge* disk_bytes_;
  prometheus::Gauge* segment_size_bytes_;
  // The volume's series exist only while statvfs of data_dir_ succeeds (not
  // before the directory exists): an absent series never looks like a full
  // volume.
  prometheus::Family<prometheus::Gauge>* volume_size_family_;
  prometheus::Family<prometheus::Gauge>* volume_available_family_;
  prometheus::Gauge* volume_size_bytes_ GUARDED_BY(scrape_mu_) = nullptr;
  prometheus::Gauge* volume_available_bytes_ GUARDED_BY(scrape_mu_) = nullptr;
  prometheus::Gauge* ready_;
  std::array<prometheus::Gauge*, 4> state_{};  // sidewal_state, indexed by DaemonState
  prometheus::Gauge* recovery_seconds_;
  prometheus::Gauge* connections_;
  prometheus::Family<prometheus::Counter>* errors_family_;
  std::array<prometheus::Counter*, 12> errors_{};  // indexed by ErrorCode value
  prometheus::Family<prometheus::Gauge>* backend_info_;
  prometheus::Family<prometheus::Counter>* archive_requests_;
  prometheus::Family<prometheus::Histogram>* archive_request_seconds_;
  // Sampled at scrape from archive_source_ (the source is set once, before
  // the first scrape that can see it).
  Mutex archive_mu_;
  std::function<archive::UploaderStats()> archive_source_ GUARDED_BY(archive_mu_);
  // By metric name; their one series is added at the first scrape that has
  // a source (no archive: no series).
  std::map<std::string, prometheus::Family<prometheus::Gauge>*> archive_gauges_;
  std::map<std::string, prometheus::Family<prometheus::Counter>*> archive_counters_;
  // Counters grow by the difference.
  archive::UploaderStats archive_last_ GUARDED_BY(scrape_mu_);
  Mutex scrape_mu_;  // one scrape at a time (the sampled gauges are shared)
};

}  // namespace sidewal::server
