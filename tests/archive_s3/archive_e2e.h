// Shared pieces of the end-to-end archive tests: the real sidewald with
// `archive:` on against s3rver on loopback, loaded through the C++ client
// library, restored with the real `sidewal restore`, and the result compared
// record for record (tests/archive_s3/daemon_archive_test.cc and
// restore_on_empty_test.cc).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "support/s3rver_fixture.h"
#include "tests/support/daemon_harness.h"
#include "wal/wal.h"

namespace sidewal::e2e {

using it::Clock;
using it::milliseconds;
using it::seconds;

constexpr const char* kBucket = "arch";
constexpr const char* kPrefix = "e2e/log";

// What a test knows about one acknowledged record: enough to regenerate its
// exact bytes with it::make_payload.
struct Acked {
  uint32_t stream = 0;
  uint64_t seq = 0;
  uint32_t len = 0;
  uint16_t type = 0;
};

// Every record the daemon acknowledged, by LSN (threads add to it).
class AckedLog {
 public:
  void add(uint64_t lsn, const Acked& a);
  std::map<uint64_t, Acked> snapshot() const;
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::map<uint64_t, Acked> by_lsn_;
};

// `threads` clients of the C++ library appending batches of 1-3 records
// (payloads 1 B..8 KiB) as fast as acknowledged, until stop() or, with
// `limit`, until that many records were acknowledged in total. Streams are
// numbered from `first_stream`, so separate loads never share a payload.
// A failed append (the daemon killed under it) ends that thread quietly.
class Load {
 public:
  Load(const std::string& socket, int threads, uint32_t first_stream, AckedLog* acked,
       uint64_t limit = 0);
  ~Load();  // stop()
  void stop();
  uint64_t acked() const { return acked_count_.load(); }
  // Waits (deadline) until at least n records were acknowledged; false if
  // every thread ended first or the deadline passed.
  bool wait_acked(uint64_t n, milliseconds timeout);

 private:
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> acked_count_{0};
  std::atomic<int> running_{0};
  std::vector<std::thread> threads_;
};

// The `archive:` section for `server`, with credentials in `creds_dir`
// (written here) and a short shipping interval; segment size small so a
// run spans many segments (sealed whole pieces and tail pieces both).
it::DaemonConfig archive_config(const testing::S3rver& server, const std::string& creds_dir,
                                const std::string& access_key = testing::S3rver::kAccessKeyId,
                                const std::string& bucket = kBucket);

// Creates `path` (and its parents); returns it.
std::string mkdirs(const std::string& path);

// One sample (no labels) from /metrics; NaN when it is absent.
double metric(uint16_t admin_port, const std::string& name);

// Waits, polling /metrics and the log's status, until the archive holds
// every durable record (lag 0 and the archive's durable LSN the log's).
// Returns the log's durable LSN; throws on the deadline.
uint64_t wait_archive_caught_up(it::Daemon& d, milliseconds timeout = seconds(60));

// `sidewal restore` into `dir` (extra args appended).
it::RunResult run_restore(const testing::S3rver& server, const std::string& creds_dir,
                          const std::string& dir, const std::vector<std::string>& extra = {});

// Every record of a data directory (inspect_dir, the offline scan); throws
// if it does not verify.
std::vector<wal::Record> records_of_dir(const std::string& dir);

// Checks `records` (LSN order) hold every acknowledged record with its
// exact bytes and type, and LSNs with no gap from their first. Returns ""
// or what is wrong.
std::string check_acked(const std::vector<wal::Record>& records,
                        const std::map<uint64_t, Acked>& acked);

}  // namespace sidewal::e2e
