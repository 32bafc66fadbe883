#include "testing/memory_object_store.h"

#include <algorithm>
#include <functional>

namespace sidewal::testing {

Status MemoryObjectStore::enter(Op op) {
  ++calls_;
  ++calls_by_op_[op];
  bool fail = false;
  if (down_) fail = true;
  if (crash_after_ == 0) {
    fail = true;
  } else if (crash_after_ > 0) {
    --crash_after_;
  }
  if (fail_next_ > 0) {
    --fail_next_;
    fail = true;
  }
  auto it = fail_op_.find(op);
  if (it != fail_op_.end() && it->second > 0) {
    --it->second;
    fail = true;
  }
  if (!fail) return Status::Ok();
  ++failed_;
  return Status::IoError("memory object store: injected failure (call " + std::to_string(calls_) +
                         ")");
}

Status MemoryObjectStore::put(const std::string& key, std::span<const uint8_t> body) {
  MutexLock g(mu_);
  SIDEWAL_RETURN_IF_ERROR(enter(Op::kPut));
  objects_[key].assign(body.begin(), body.end());
  return Status::Ok();
}

Status MemoryObjectStore::get(const std::string& key, std::string* body) {
  MutexLock g(mu_);
  SIDEWAL_RETURN_IF_ERROR(enter(Op::kGet));
  auto it = objects_.find(key);
  if (it == objects_.end()) return Status::NotFound("no object " + key);
  *body = it->second;
  return Status::Ok();
}

Status MemoryObjectStore::get_range(const std::string& key, uint64_t offset, uint64_t length,
                                    std::string* body) {
  MutexLock g(mu_);
  SIDEWAL_RETURN_IF_ERROR(enter(Op::kGetRange));
  auto it = objects_.find(key);
  if (it == objects_.end()) return Status::NotFound("no object " + key);
  const std::string& o = it->second;
  body->assign(offset >= o.size() ? std::string() : o.substr(offset, length));
  return Status::Ok();
}

Status MemoryObjectStore::list(const std::string& prefix, std::vector<archive::ObjectInfo>* out) {
  MutexLock g(mu_);
  out->clear();
  SIDEWAL_RETURN_IF_ERROR(enter(Op::kList));
  for (auto it = objects_.lower_bound(prefix);
       it != objects_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    archive::ObjectInfo i;
    i.key = it->first;
    i.size = it->second.size();
    i.etag = std::to_string(std::hash<std::string>{}(it->second));
    out->push_back(std::move(i));
  }
  return Status::Ok();
}

Status MemoryObjectStore::remove(const std::string& key) {
  MutexLock g(mu_);
  SIDEWAL_RETURN_IF_ERROR(enter(Op::kRemove));
  objects_.erase(key);
  return Status::Ok();
}

Status MemoryObjectStore::create_multipart(const std::string& key, std::string* upload_id) {
  MutexLock g(mu_);
  SIDEWAL_RETURN_IF_ERROR(enter(Op::kCreateMultipart));
  *upload_id = "upload-" + std::to_string(next_upload_++);
  uploads_[*upload_id].key = key;
  return Status::Ok();
}

Status MemoryObjectStore::upload_part(const std::string& key, const std::string& upload_id,
                                      int part_number, std::span<const uint8_t> body,
                                      std::string* etag) {
  MutexLock g(mu_);
  SIDEWAL_RETURN_IF_ERROR(enter(Op::kUploadPart));
  auto it = uploads_.find(upload_id);
  if (it == uploads_.end() || it->second.key != key) {
    return Status::NotFound("no multipart upload " + upload_id + " for " + key);
  }
  if (part_number < 1 || part_number > 10000) {
    return Status::InvalidArgument("part number " + std::to_string(part_number));
  }
  std::string& p = it->second.parts[part_number];
  p.assign(body.begin(), body.end());
  *etag = "etag-" + std::to_string(part_number) + "-" + std::to_string(std::hash<std::string>{}(p));
  return Status::Ok();
}

Status MemoryObjectStore::complete_multipart(const std::string& key, const std::string& upload_id,
                                             const std::vector<std::string>& part_etags) {
  MutexLock g(mu_);
  SIDEWAL_RETURN_IF_ERROR(enter(Op::kCompleteMultipart));
  auto it = uploads_.find(upload_id);
  if (it == uploads_.end() || it->second.key != key) {
    return Status::NotFound("no multipart upload " + upload_id + " for " + key);
  }
  const auto& parts = it->second.parts;
  if (part_etags.size() != parts.size() || part_etags.empty()) {
    return Status::InvalidArgument("complete with " + std::to_string(part_etags.size()) +
                                   " parts; " + std::to_string(parts.size()) + " uploaded");
  }
  std::string whole;
  int n = 1;
  for (const auto& [num, bytes] : parts) {
    const std::string want =
        "etag-" + std::to_string(num) + "-" + std::to_string(std::hash<std::string>{}(bytes));
    if (num != n || part_etags[static_cast<size_t>(n - 1)] != want) {
      return Status::InvalidArgument("part " + std::to_string(n) + ": etag mismatch");
    }
    // S3: every part but the last is at least 5 MiB.
    if (n < static_cast<int>(parts.size()) && bytes.size() < min_part_bytes_) {
      return Status::InvalidArgument("EntityTooSmall: part " + std::to_string(n) + " is " +
                                     std::to_string(bytes.size()) + " bytes");
    }
    whole += bytes;
    ++n;
  }
  objects_[key] = std::move(whole);
  uploads_.erase(it);
  return Status::Ok();
}

Status MemoryObjectStore::abort_multipart(const std::string& key, const std::string& upload_id) {
  MutexLock g(mu_);
  SIDEWAL_RETURN_IF_ERROR(enter(Op::kAbortMultipart));
  auto it = uploads_.find(upload_id);
  if (it != uploads_.end() && it->second.key == key) uploads_.erase(it);
  return Status::Ok();
}

void MemoryObjectStore::set_min_part_bytes(uint64_t bytes) {
  MutexLock g(mu_);
  min_part_bytes_ = bytes;
}
void MemoryObjectStore::fail_next(int n) {
  MutexLock g(mu_);
  fail_next_ = n;
}
void MemoryObjectStore::fail_op(Op op, int n) {
  MutexLock g(mu_);
  fail_op_[op] = n;
}
void MemoryObjectStore::set_down(bool down) {
  MutexLock g(mu_);
  down_ = down;
}
void MemoryObjectStore::crash_after(int64_t calls) {
  MutexLock g(mu_);
  crash_after_ = calls;
}
void MemoryObjectStore::clear_faults() {
  MutexLock g(mu_);
  fail_next_ = 0;
  fail_op_.clear();
  down_ = false;
  crash_after_ = -1;
}
uint64_t MemoryObjectStore::calls() const {
  MutexLock g(mu_);
  return calls_;
}
uint64_t MemoryObjectStore::failed_calls() const {
  MutexLock g(mu_);
  return failed_;
}
uint64_t MemoryObjectStore::calls_of(Op op) const {
  MutexLock g(mu_);
  auto it = calls_by_op_.find(op);
  return it == calls_by_op_.end() ? 0 : it->second;
}
std::map<std::string, std::string> MemoryObjectStore::objects() const {
  MutexLock g(mu_);
  return objects_;
}
bool MemoryObjectStore::contains(const std::string& key) const {
  MutexLock g(mu_);
  return objects_.count(key) != 0;
}
void MemoryObjectStore::corrupt(const std::string& key, uint64_t offset) {
  MutexLock g(mu_);
  auto it = objects_.find(key);
  if (it != objects_.end() && offset < it->second.size()) it->second[offset] ^= 0x5A;
}
void MemoryObjectStore::erase(const std::string& key) {
  MutexLock g(mu_);
  objects_.erase(key);
}
size_t MemoryObjectStore::pending_multipart_uploads() const {
  MutexLock g(mu_);
  return uploads_.size();
}

}  // namespace sidewal::testing
