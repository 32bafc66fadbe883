// S3ObjectStore: the ObjectStore contract (object_store.h) over the S3 REST
// API, for AWS S3 and S3-compatible stores (MinIO, Ceph RGW, s3rver...).
//
// libcurl does the HTTP, the TLS (OpenSSL) and the SigV4 signing
// (CURLOPT_AWS_SIGV4 "aws:amz:REGION:s3"); this client only builds canonical
// requests libcurl can sign as they are (sorted, encoded query strings;
// encoded key paths), sets x-amz-content-sha256 to the payload's SHA-256, and
// turns the store's XML replies (tinyxml2) and errors into Status values as
// object_store.h describes. docs/archive.md, "Object store client", is the
// operator's view of the same.
//
// The files, one job each: s3_object_store.cc the operations below;
// s3_request.* one request over libcurl (URL, headers, signing, the handle
// pool); s3_xml.* the XML replies and bodies; s3_text.* SigV4's canonical
// encoding; s3_credentials.cc loading the credentials.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "archive/object_store.h"
#include "common/mutex.h"
#include "common/status.h"

namespace sidewal::archive {

struct S3Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty: long-term keys (no x-amz-security-token)
};

// Reads DIR/access_key_id, DIR/secret_access_key and, when present,
// DIR/session_token (a Kubernetes Secret mounted as a directory); surrounding
// whitespace and a trailing newline are dropped.
Result<S3Credentials> load_s3_credentials_from_dir(const std::string& dir);
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and, when set, AWS_SESSION_TOKEN.
Result<S3Credentials> load_s3_credentials_from_env();
// From `dir` when it is not empty, else from the environment. The error (a
// missing or empty file, variables not set) says where it looked.
Result<S3Credentials> load_s3_credentials(const std::string& dir);

struct S3Config {
  // scheme://host[:port] of the service, no path: "https://s3.eu-west-1.amazonaws.com",
  // "http://127.0.0.1:9000". The bucket is added by the addressing style.
  std::string endpoint;
  std::string bucket;
  std::string region = "us-east-1";  // the signing region (MinIO and s3rver accept any)
  // true:  endpoint/BUCKET/KEY           (MinIO, s3rver, most self-hosted stores)
  // false: BUCKET.endpoint-host/KEY      (AWS's virtual-hosted style)
  bool path_style = true;
  S3Credentials credentials;
  // PEM bundle to verify the store's certificate with, instead of the
  // system's CA store. Peer and host name are always verified for https.
  std::string ca_file;
  int connect_timeout_ms = 10'000;
  // Whole request, transfer included; 0 = no limit. A stalled transfer is
  // also ended by the low-speed rule below whatever this is.
  int request_timeout_ms = 300'000;
  // A transfer slower than 1 byte/s for this long is ended (kIoError).
  int stall_timeout_s = 30;
  // max-keys of each ListObjectsV2 page (S3's own maximum is 1000).
  int list_page_size = 1000;
  // curl's --connect-to rules ("HOST:PORT:CONNECT-HOST:CONNECT-PORT"): reach
  // the service at another address while the Host header (and so the
  // signature) keeps the endpoint's name, e.g. a VPC endpoint's IP.
  std::vector<std::string> connect_to;
  // Tests only (empty in production): sign as of this X-Amz-Date
  // (yyyymmddThhmmssZ) instead of the clock's time; libcurl 7.88 takes the
  // date from an X-Amz-Date header the request already has. The SigV4 test
  // pins AWS's published example with it.
  std::string fixed_amz_date;
};

class S3ObjectStore final : public ObjectStore {
 public:
  // Checks the configuration (endpoint syntax, bucket, credentials); does not
  // contact the store.
  static Result<std::unique_ptr<S3ObjectStore>> open(S3Config config);
  ~S3ObjectStore() override;
  S3ObjectStore(const S3ObjectStore&) = delete;
  S3ObjectStore& operator=(const S3ObjectStore&) = delete;

  Status put(const std::string& key, std::span<const uint8_t> body) override;
  Status get(const std::string& key, std::string* body) override;
  Status get_range(const std::string& key, uint64_t offset, uint64_t length,
                   std::string* body) override;
  Status list(const std::string& prefix, std::vector<ObjectInfo>* out) override;
  Status remove(const std::string& key) override;
  Status create_multipart(const std::string& key, std::string* upload_id) override;
  Status upload_part(const std::string& key, const std::string& upload_id, int part_number,
                     std::span<const uint8_t> body, std::string* etag) override;
  Status complete_multipart(const std::string& key, const std::string& upload_id,
                            const std::vector<std::string>& part_etags) override;
  Status abort_multipart(const std::string& key, const std::string& upload_id) override;

  const S3Config& config() const { return config_; }

 private:
  struct Request;
  struct Response;
  struct Handle;

  S3ObjectStore(S3Config config, std::string scheme, std::string host_port);
  // URL of `key` (empty: the bucket itself) with an already canonical query.
  std::string url(const std::string& key, const std::string& canonical_query) const;
  // One HTTP exchange; a non-ok Status only for a transport failure. The
  // caller maps the HTTP status.
  Status perform(const Request& req, Response* resp);
  // The Status for a reply that is not a success: `what` names the request.
  Status error_status(const std::string& what, const Response& resp) const;

  std::unique_ptr<Handle> take_handle() EXCLUDES(mu_);
  void give_back(std::unique_ptr<Handle> handle) EXCLUDES(mu_);

  const S3Config config_;
  const std::string scheme_;     // "http" or "https"
  const std::string host_port_;  // endpoint host[:port]
  const std::string sigv4_;      // "aws:amz:REGION:s3"

  Mutex mu_;
  // Idle easy handles, each keeping its connection alive for the next
  // request.
  std::vector<std::unique_ptr<Handle>> idle_ GUARDED_BY(mu_);
};

}  // namespace sidewal::archive
