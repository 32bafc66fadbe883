// The object-store contract the archive is written against: just the S3
// operations the archive needs, nothing else. Two implementations:
//   - S3ObjectStore (src/archive/s3_object_store.*): S3-compatible REST over
//     libcurl, SigV4 signing by libcurl (CURLOPT_AWS_SIGV4), TLS by OpenSSL;
//   - MemoryObjectStore (src/testing/memory_object_store.*): in memory, with
//     fault injection, for engine-level tests only (never linked by sidewald).
//
// Thread-safety: every method may be called from several threads at once.
// Errors: a missing key is Code::kNotFound; a refused request (403, bad
// credentials, missing bucket) is Code::kInvalidArgument with the store's
// error code and message in the text; a transport failure or a 5xx is
// Code::kIoError (the caller may retry). No method retries by itself.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"

namespace sidewal::archive {

struct ObjectInfo {
  std::string key;  // full key, prefix included
  uint64_t size = 0;
  std::string etag;  // as the store reports it, quotes removed
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  // Stores the whole object (replacing any object under `key`).
  virtual Status put(const std::string& key, std::span<const uint8_t> body) = 0;
  // Reads the whole object into *body.
  virtual Status get(const std::string& key, std::string* body) = 0;
  // Reads [offset, offset + length) of the object; a shorter object gives a
  // shorter *body (never an error for reading past the end).
  virtual Status get_range(const std::string& key, uint64_t offset, uint64_t length,
                           std::string* body) = 0;
  // Every object whose key starts with `prefix`, in key order (all pages).
  virtual Status list(const std::string& prefix, std::vector<ObjectInfo>* out) = 0;
  // Deletes the object; deleting a missing key is Ok (S3 semantics).
  virtual Status remove(const std::string& key) = 0;

  // Multipart upload, for objects larger than one part (S3: parts of 5 MiB
  // or more, except the last; numbered from 1).
  virtual Status create_multipart(const std::string& key, std::string* upload_id) = 0;
  virtual Status upload_part(const std::string& key, const std::string& upload_id, int part_number,
                             std::span<const uint8_t> body, std::string* etag) = 0;
  virtual Status complete_multipart(const std::string& key, const std::string& upload_id,
                                    const std::vector<std::string>& part_etags) = 0;
  virtual Status abort_multipart(const std::string& key, const std::string& upload_id) = 0;
};

}  // namespace sidewal::archive
