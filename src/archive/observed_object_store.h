// ObservedObjectStore: an ObjectStore that forwards every call to another
// and reports its operation, duration and outcome (the daemon's request
// metrics). No behaviour of its own.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <utility>

#include "archive/object_store.h"

namespace sidewal::archive {

class ObservedObjectStore final : public ObjectStore {
 public:
  // `op`: "put", "get", "get_range", "list", "remove", "create_multipart",
  // "upload_part", "complete_multipart", "abort_multipart".
  using Observer = std::function<void(const char* op, double seconds, const Status& status)>;

  ObservedObjectStore(ObjectStore* inner, Observer observer)
      : inner_(inner), observer_(std::move(observer)) {}

  Status put(const std::string& key, std::span<const uint8_t> body) override {
    return timed("put", [&] { return inner_->put(key, body); });
  }
  Status get(const std::string& key, std::string* body) override {
    return timed("get", [&] { return inner_->get(key, body); });
  }
  Status get_range(const std::string& key, uint64_t offset, uint64_t length,
                   std::string* body) override {
    return timed("get_range", [&] { return inner_->get_range(key, offset, length, body); });
  }
  Status list(const std::string& prefix, std::vector<ObjectInfo>* out) override {
    return timed("list", [&] { return inner_->list(prefix, out); });
  }
  Status remove(const std::string& key) override {
    return timed("remove", [&] { return inner_->remove(key); });
  }
  Status create_multipart(const std::string& key, std::string* upload_id) override {
    return timed("create_multipart", [&] { return inner_->create_multipart(key, upload_id); });
  }
  Status upload_part(const std::string& key, const std::string& upload_id, int part_number,
                     std::span<const uint8_t> body, std::string* etag) override {
    return timed("upload_part",
                 [&] { return inner_->upload_part(key, upload_id, part_number, body, etag); });
  }
  Status complete_multipart(const std::string& key, const std::string& upload_id,
                            const std::vector<std::string>& part_etags) override {
    return timed("complete_multipart",
                 [&] { return inner_->complete_multipart(key, upload_id, part_etags); });
  }
  Status abort_multipart(const std::string& key, const std::string& upload_id) override {
    return timed("abort_multipart", [&] { return inner_->abort_multipart(key, upload_id); });
  }

 private:
  template <typename F>
  Status timed(const char* op, F&& f) {
    const auto t0 = std::chrono::steady_clock::now();
    Status s = f();
    if (observer_) {
      observer_(op, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                s);
    }
    return s;
  }

  ObjectStore* const inner_;
  const Observer observer_;
};

}  // namespace sidewal::archive
