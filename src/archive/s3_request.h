// One S3 request and its reply as S3ObjectStore's files pass them around
// (internal to sidewal_archive_s3): what perform() sends, what it keeps of
// the reply, and the pooled libcurl handle it sends it on. s3_request.cc
// builds, signs and performs the request; s3_xml.cc reads the replies.
#pragma once

#include <curl/curl.h>

#include <span>
#include <string>
#include <utility>
#include <vector>

#include "archive/s3_object_store.h"

namespace sidewal::archive {

struct S3ObjectStore::Handle {
  CURL* easy = nullptr;
  ~Handle() {
    if (easy != nullptr) curl_easy_cleanup(easy);
  }
};

struct S3ObjectStore::Request {
  const char* method = "GET";          // GET, PUT, POST, DELETE
  std::string key;                     // empty: the bucket
  std::string query;                   // canonical (canonical_query())
  std::vector<std::string> headers;    // "Name: value", signed by libcurl
  std::span<const uint8_t> body;       // PUT / POST payload
  const char* content_type = nullptr;  // with a body
  std::string what;                    // "PUT s3://bucket/key", for messages
};

struct S3ObjectStore::Response {
  long status = 0;
  std::string body;
  // first: the ETag header, quotes removed; second: Content-Range.
  std::pair<std::string, std::string> headers;
  const std::string& etag() const { return headers.first; }
  const std::string& content_range() const { return headers.second; }
};

}  // namespace sidewal::archive
