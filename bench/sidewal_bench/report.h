// Renders a BenchResult for people (text) or scripts (--json). The JSON keys
// are what scripts/bench-peers.sh reads: records_per_s, mb_per_s,
// latency_us.{p50,p90,p99,p999,max}, records_per_flush, cached_bytes,
// residency_bytes, verify.
#pragma once

#include <string>

#include "runner.h"

namespace sidewal::bench {

std::string format_text(const BenchResult& r);
std::string format_json(const BenchResult& r);

}  // namespace sidewal::bench
