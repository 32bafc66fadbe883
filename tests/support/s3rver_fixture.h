// S3rver: a real S3-compatible server (s3rver 3.x from npm, installed in
// tools/s3rver by scripts/install-deps.sh) started on a free loopback port in
// a temp directory, for tests that talk S3 over HTTP. It speaks the REST API
// (ListObjectsV2, ranged GET, multipart) and insists on the SigV4 request
// shape, but does not verify V4 signatures: s3_sigv4_test checks those
// against AWS's published example instead.
//
//   auto server = S3rver::start({"bucket"});        // ready when it returns
//   auto store = S3ObjectStore::open(server.value()->config("bucket"));
//   ...
//   server.value()->stop();                         // "the store went away"
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "archive/s3_object_store.h"
#include "common/status.h"

namespace sidewal::testing {

class S3rver {
 public:
  // s3rver's built-in account; any other access key id is refused
  // (InvalidAccessKeyId), the secret is not checked for V4.
  static constexpr const char* kAccessKeyId = "S3RVER";
  static constexpr const char* kSecretAccessKey = "S3RVER";

  // Starts s3rver with `buckets` created, on 127.0.0.1 and a free port; returns
  // once it accepts connections (polled, with a 30 s deadline). The error
  // carries s3rver's log when it exits instead.
  // With `tls`, it serves https with a fresh self-signed certificate for
  // 127.0.0.1 (ca_file() is its PEM, to verify it with).
  static Result<std::unique_ptr<S3rver>> start(const std::vector<std::string>& buckets,
                                               bool tls = false);
  // Kills it and removes its directory.
  ~S3rver();
  S3rver(const S3rver&) = delete;
  S3rver& operator=(const S3rver&) = delete;

  uint16_t port() const { return port_; }
  std::string endpoint() const;  // "http://127.0.0.1:PORT" (https with tls)
  // The self-signed certificate of a tls server ("" without tls).
  std::string ca_file() const { return tls_ ? dir_ + "/cert.pem" : ""; }
  // Path-style config for `bucket` with s3rver's credentials and short
  // timeouts (a test that fails should fail in seconds).
  archive::S3Config config(const std::string& bucket) const;
  // Kills the server now (SIGKILL) and reaps it; idempotent. Its data stays
  // until the destructor.
  void stop();
  // Starts it again after stop(), on the same port and the same data (the
  // store "comes back" with every object it held); ready when it returns.
  Status restart();
  // s3rver's log (its stdout and stderr), for failure messages.
  std::string log() const;

 private:
  S3rver() = default;
  // Spawns s3rver on port_ and waits until it accepts connections.
  Status spawn(bool* addr_in_use);

  std::string dir_;  // temp directory: data/ and s3rver.log
  pid_t pid_ = -1;   // -1 once stopped
  uint16_t port_ = 0;
  bool tls_ = false;
  std::vector<std::string> buckets_;
};

// A loopback TCP port nobody listens on at the time of the call.
uint16_t unused_loopback_port();

}  // namespace sidewal::testing
