// sidewal-bench --follow-latency: tail latency from ACK to delivery for a
// following client through the daemon (issue 6). One appender with one
// APPEND in flight, one follower with a follow READ on another connection;
// per record, latency = time the follower's callback received it minus the
// time the appender's ACK callback ran (same process, steady_clock).
//
// The daemon answers the APPEND and streams the record on two connections,
// so the follower may hold a record before the appender saw its ACK: such
// records count as latency 0 and are reported (delivered_before_ack).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "histogram.h"

namespace sidewal::bench {

// Payload of a latency record: the record's index (u64 little-endian), then
// zero filler up to `bytes` (at least 8).
std::vector<uint8_t> follow_payload(uint64_t index, size_t bytes);
// The index a follow_payload carries; kInvalidArgument for a shorter payload.
Result<uint64_t> follow_payload_index(std::span<const uint8_t> payload);

// Pairs ACK and delivery times (ns on one clock; 0 = never happened).
struct FollowLatency {
  LatencyHistogram histogram;  // ns, delivered records with an ACK
  uint64_t delivered_before_ack = 0;
  uint64_t missing = 0;  // ACKed but never delivered (or never ACKed)
};
FollowLatency pair_follow_times(std::span<const uint64_t> ack_ns,
                                std::span<const uint64_t> delivered_ns);

struct FollowLatencyOptions {
  std::string socket;
  uint64_t records = 5000;
  size_t record_bytes = 256;
  double timeout_s = 60;  // for the whole run
  // The follower's READ flags (SKIP_DEAD: the daemon checks each record
  // against its tombstone set; the payloads here name no collection, so
  // nothing is skipped and the figure is the check's cost).
  bool skip_dead = false;
};
// Runs against a running sidewald; text report on success.
Result<std::string> run_follow_latency(const FollowLatencyOptions& o);

}  // namespace sidewal::bench
