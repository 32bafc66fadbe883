#include "follow_latency.h"

#include <algorithm>

#include "common/endian.h"

namespace sidewal::bench {

std::vector<uint8_t> follow_payload(uint64_t index, size_t bytes) {
  std::vector<uint8_t> p(std::max<size_t>(bytes, 8), 0);
  put_u64(p.data(), index);
  return p;
}

Result<uint64_t> follow_payload_index(std::span<const uint8_t> payload) {
  if (payload.size() < 8) {
    return Status::InvalidArgument("follow-latency payload of " + std::to_string(payload.size()) +
                                   " bytes: the u64 index needs 8");
  }
  return get_u64(payload.data());
}

FollowLatency pair_follow_times(std::span<const uint64_t> ack_ns,
                                std::span<const uint64_t> delivered_ns) {
  SW_ASSERT(ack_ns.size() == delivered_ns.size());
  FollowLatency out;
  for (size_t i = 0; i < ack_ns.size(); ++i) {
    if (ack_ns[i] == 0 || delivered_ns[i] == 0) {
      ++out.missing;
      continue;
    }
    if (delivered_ns[i] < ack_ns[i]) {
      ++out.delivered_before_ack;
      out.histogram.record(0);
    } else {
      out.histogram.record(delivered_ns[i] - ack_ns[i]);
    }
  }
  return out;
}

}  // namespace sidewal::bench
