// Renders a BenchResult for people (text) or scripts (--json). The JSON keys
// are what scripts/bench-peers.sh reads: records_per_s, mb_per_s,
// latency_us.{p50,p90,p99,p999,max}, records_per_flush, cached_bytes,
// residency_bytes, verify, wake_probe.{p99_us,...} (null without --wake-probe).
#pragma once

#include <string>

#include "runner.h"
#include "sync_floor.h"
#include "uds_rtt.h"

namespace sidewal::bench {

std::string format_text(const BenchResult& r);
std::string format_json(const BenchResult& r);

// --uds-rtt. JSON keys: request_bytes, reply_bytes, round_trips_per_s,
// latency_us.{p50,p90,p99,p999,max}.
std::string format_uds_rtt_text(const UdsRttResult& r);
std::string format_uds_rtt_json(const UdsRttResult& r);
std::string format_sync_floor_text(const SyncFloorResult& r);
std::string format_sync_floor_json(const SyncFloorResult& r);

}  // namespace sidewal::bench
