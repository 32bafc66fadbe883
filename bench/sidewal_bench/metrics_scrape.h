// Reads the daemon's Prometheus text from its admin HTTP endpoint, for the
// figures only the daemon knows (records per flush).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace sidewal::bench {

// GET http://host:port/path (common/http_get.h); returns the body of a 200
// reply. `address` is "host:port".
Result<std::string> admin_get(const std::string& address, const std::string& path,
                              int timeout_ms = 5000);

// The value of sample `name` in Prometheus text exposition format, summed
// over its label sets; nullopt when no sample has that exact name.
std::optional<double> metric_value(std::string_view text, std::string_view name);

// Records per flush between two scrapes, from the histogram
// sidewal_group_commit_records (delta of _sum over delta of _count);
// nullopt when either scrape lacks it or no flush happened in between.
std::optional<double> records_per_flush(std::string_view before, std::string_view after);

}  // namespace sidewal::bench
