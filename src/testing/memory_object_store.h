// MemoryObjectStore: the archive's ObjectStore in memory, for engine-level
// tests (never linked by sidewald or the CLI). Thread-safe (one mutex).
//
// Faults, each counted per call of the ObjectStore interface:
//   - fail_next(n): the next n calls fail (kIoError, as a 5xx would);
//   - fail_op(op, n): the next n calls of one operation fail;
//   - set_down(true): every call fails until set_down(false) (the store is
//     unreachable);
//   - crash_after(k): the next k calls succeed, every later one fails until
//     reset: the uploader's process "dies" at that point (whatever it had
//     under way, e.g. a multipart upload, is abandoned, never completed);
//   - corrupt(key, offset) flips a byte; remove() deletes an object.
// A failing call changes nothing in the store.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "archive/object_store.h"
#include "common/mutex.h"

namespace sidewal::testing {

class MemoryObjectStore final : public archive::ObjectStore {
 public:
  enum class Op {
    kPut,
    kGet,
    kGetRange,
    kList,
    kRemove,
    kCreateMultipart,
    kUploadPart,
    kCompleteMultipart,
    kAbortMultipart
  };

  Status put(const std::string& key, std::span<const uint8_t> body) override;
  Status get(const std::string& key, std::string* body) override;
  Status get_range(const std::string& key, uint64_t offset, uint64_t length,
                   std::string* body) override;
  Status list(const std::string& prefix, std::vector<archive::ObjectInfo>* out) override;
  Status remove(const std::string& key) override;
  Status create_multipart(const std::string& key, std::string* upload_id) override;
  Status upload_part(const std::string& key, const std::string& upload_id, int part_number,
                     std::span<const uint8_t> body, std::string* etag) override;
  Status complete_multipart(const std::string& key, const std::string& upload_id,
                            const std::vector<std::string>& part_etags) override;
  Status abort_multipart(const std::string& key, const std::string& upload_id) override;

  // Faults.
  void fail_next(int n);
  void fail_op(Op op, int n);
  void set_down(bool down);
  void crash_after(int64_t calls);  // -1: never
  void clear_faults();
  // S3 refuses parts below 5 MiB but the last; tests with small parts lower it.
  void set_min_part_bytes(uint64_t bytes);

  // Inspection and damage.
  uint64_t calls() const;  // every call, failed or not
  uint64_t failed_calls() const;
  uint64_t calls_of(Op op) const;
  std::map<std::string, std::string> objects() const;
  bool contains(const std::string& key) const;
  void corrupt(const std::string& key, uint64_t offset);
  void erase(const std::string& key);
  size_t pending_multipart_uploads() const;  // created, neither completed nor aborted

 private:
  // Counts the call; returns the injected failure, if any.
  Status enter(Op op) REQUIRES(mu_);

  struct Upload {
    std::string key;
    std::map<int, std::string> parts;
  };

  mutable Mutex mu_;
  std::map<std::string, std::string> objects_ GUARDED_BY(mu_);
  std::map<std::string, Upload> uploads_ GUARDED_BY(mu_);
  uint64_t next_upload_ GUARDED_BY(mu_) = 1;
  uint64_t calls_ GUARDED_BY(mu_) = 0;
  uint64_t failed_ GUARDED_BY(mu_) = 0;
  std::map<Op, uint64_t> calls_by_op_ GUARDED_BY(mu_);
  int fail_next_ GUARDED_BY(mu_) = 0;
  std::map<Op, int> fail_op_ GUARDED_BY(mu_);
  bool down_ GUARDED_BY(mu_) = false;
  int64_t crash_after_ GUARDED_BY(mu_) = -1;
  uint64_t min_part_bytes_ GUARDED_BY(mu_) = 5u << 20;
};

}  // namespace sidewal::testing
