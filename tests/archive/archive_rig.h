// The uploader tests' rig: a log on a real directory with an uploader over
// MemoryObjectStore (tests/archive/*_test.cc).
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "archive/uploader.h"
#include "testing/memory_object_store.h"
#include "wal/truncation_floor.h"
#include "wal/wal_test_util.h"

namespace sidewal::archive {

inline constexpr uint64_t kSegmentBytes = 128 << 10;
inline constexpr uint64_t kPartBytes = 64 << 10;
inline const std::string kPrefix = "backups/log-a";

// A log on a real directory, with an uploader over a memory store.
struct Rig {
  wal::testing::ScratchDir scratch;
  testing::MemoryObjectStore store;
  std::shared_ptr<wal::TruncationFloor> floor = std::make_shared<wal::TruncationFloor>();
  std::unique_ptr<wal::IoBackend> io = wal::make_backend(wal::BackendKind::kPwrite, nullptr);
  std::unique_ptr<wal::Wal> log;
  uint64_t tag = 0;
  std::mt19937_64 rng{42};

  Rig() {
    store.set_min_part_bytes(0);
    open();
  }
  void open() {
    wal::WalOptions o;
    o.dir = scratch.log();
    o.segment_bytes = kSegmentBytes;
    o.max_record_bytes = 16 << 10;
    o.truncation_floor = floor;
    log = wal::testing::must_open(o);
    ASSERT_NE(log, nullptr);
  }
  UploaderOptions options() const {
    UploaderOptions u;
    u.prefix = kPrefix;
    u.dir = scratch.log();
    u.part_bytes = kPartBytes;
    u.floor = floor;
    return u;
  }
  std::unique_ptr<Uploader> uploader() {
    return std::make_unique<Uploader>(&store, log.get(), io.get(), options());
  }
  // `batches` batches of 1-4 records of 8-3000 bytes.
  void append(int batches) {
    for (int b = 0; b < batches; ++b) {
      std::vector<std::vector<uint8_t>> payloads(1 + rng() % 4);
      std::vector<wal::RecordIn> in(payloads.size());
      for (size_t i = 0; i < payloads.size(); ++i) {
        payloads[i] = wal::testing::make_payload(++tag, 8 + rng() % 3000);
        in[i].type = 1;
        in[i].tenant = 3;
        in[i].payload = payloads[i];
      }
      auto r = log->append_sync(in);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
    }
  }
  // Steps until the archive holds every durable record and nothing is left
  // to compact (a bounded number of steps).
  void catch_up(Uploader& u) {
    for (int i = 0; i < 20; ++i) {
      Status s = u.step();
      if (s.ok() && u.stats().archived_lsn == log->durable_lsn()) {
        ASSERT_TRUE(u.step().ok());
        return;
      }
    }
    FAIL() << "the uploader did not catch up: " << u.stats().last_error;
  }
};

}  // namespace sidewal::archive
