// Shared set-up for the reader tests: a small-segment log on the build
// tree's filesystem, filled with deterministic records.
#pragma once

#include <memory>
#include <vector>

#include "counting_io.h"
#include "wal_test_util.h"

namespace sidewal::wal::testing {

// 64 KiB segments so a few hundred records span several segments.
inline WalOptions small_log(const std::string& dir, std::shared_ptr<IoBackend> io) {
  WalOptions o;
  o.dir = dir;
  o.segment_bytes = 64 * 1024;
  o.max_record_bytes = 16 * 1024;
  o.io = std::move(io);
  return o;
}

// The payload of the n-th record a test appends (sizes vary 0..3000 bytes).
inline std::vector<uint8_t> nth_payload(uint64_t n) { return make_payload(n, (n * 131) % 3001); }

// Appends records [first_n, first_n + count) in batches of up to 5.
inline void fill(Wal& wal, uint64_t first_n, uint64_t count, uint32_t tenant = 7) {
  uint64_t n = first_n;
  while (n < first_n + count) {
    const uint64_t k = std::min<uint64_t>(1 + n % 5, first_n + count - n);
    std::vector<std::vector<uint8_t>> payloads;
    std::vector<RecordIn> recs;
    for (uint64_t i = 0; i < k; ++i) payloads.push_back(nth_payload(n + i));
    for (uint64_t i = 0; i < k; ++i) {
      recs.push_back(RecordIn{.type = static_cast<uint16_t>(1 + (n + i) % 3),
                              .flags = 0,
                              .tenant = tenant,
                              .payload = payloads[i]});
    }
    Result<uint64_t> r = wal.append_sync(recs);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    n += k;
  }
}

}  // namespace sidewal::wal::testing
