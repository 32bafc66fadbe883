// Metrics: the prometheus-cpp registry behind /metrics, with the exact names
// operators and the dashboard depend on (docs/operations.md lists them).
// Counters and histograms are updated on the hot path (thread-safe, lock-free
// in prometheus-cpp); the log's gauges and the page-cache numbers are sampled
// at scrape time so they cost nothing between scrapes.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <memory>
#include <mutex>
#include <string>

#include "proto/protocol.h"
#include "wal/wal.h"

namespace sidewal::server {

class Metrics {
 public:
  Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // One APPEND acknowledged: `records` records with `bytes` payload bytes,
  // `latency_seconds` from receipt of its frame to queuing its ACK.
  void appended(uint32_t records, uint64_t bytes, double latency_seconds);
  void error(proto::ErrorCode code);
  void connection_opened() { connections_->Increment(); }
  void connection_closed() { connections_->Decrement(); }

  // From the log's observer (flusher thread).
  void flushed(uint32_t records, double sync_seconds);
  void dwb_written(uint64_t bytes) { dwb_bytes_->Increment(static_cast<double>(bytes)); }

  // After recovery.
  void recovered(const wal::RecoveryReport& report);
  void set_ready(bool ready) { ready_->Set(ready ? 1 : 0); }

  // Updates the scrape-time gauges from `status` (null while recovering),
  // then renders the whole registry in the Prometheus text format.
  std::string scrape(const wal::WalStatus* status);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Counter* append_records_;
  prometheus::Counter* append_bytes_;
  prometheus::Histogram* commit_latency_;
  prometheus::Histogram* fsync_duration_;
  prometheus::Histogram* group_commit_records_;
  prometheus::Counter* dwb_bytes_;
  prometheus::Counter* dwb_restores_;
  prometheus::Gauge* page_cache_bytes_;
  prometheus::Gauge* wal_resident_bytes_;
  prometheus::Gauge* durable_lsn_;
  prometheus::Gauge* first_lsn_;
  prometheus::Gauge* segments_;
  prometheus::Gauge* disk_bytes_;
  prometheus::Gauge* ready_;
  prometheus::Gauge* recovery_seconds_;
  prometheus::Gauge* connections_;
  prometheus::Family<prometheus::Counter>* errors_family_;
  std::array<prometheus::Counter*, 12> errors_{};  // indexed by ErrorCode value
  prometheus::Family<prometheus::Gauge>* backend_info_;
  std::mutex scrape_mu_;  // one scrape at a time (the sampled gauges are shared)
};

}  // namespace sidewal::server
