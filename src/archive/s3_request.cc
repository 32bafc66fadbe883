// S3ObjectStore's HTTP exchange over libcurl: the request's URL (path or
// virtual-hosted style), its headers (x-amz-content-sha256 from OpenSSL,
// the session token), libcurl's SigV4 signing, the timeouts, and the pool of
// easy handles that keeps connections alive between requests.
#include "archive/s3_request.h"

#include <openssl/sha.h>

#include <cstring>
#include <memory>
#include <utility>

#include "archive/s3_text.h"

namespace sidewal::archive {

namespace {

using s3::strip_quotes;
using s3::trim;
using s3::uri_encode;

std::string sha256_hex(std::span<const uint8_t> data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(data.data(), data.size(), digest);
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(2 * SHA256_DIGEST_LENGTH);
  for (unsigned char c : digest) {
    out.push_back(hex[c >> 4]);
    out.push_back(hex[c & 0xF]);
  }
  return out;
}

size_t append_body(char* ptr, size_t size, size_t nmemb, void* userdata) {
  static_cast<std::string*>(userdata)->append(ptr, size * nmemb);
  return size * nmemb;
}

// Keeps the two reply headers the store reads: ETag and Content-Range.
size_t on_header(char* ptr, size_t size, size_t nmemb, void* userdata) {
  const size_t n = size * nmemb;
  const std::string line(ptr, n);
  const size_t colon = line.find(':');
  if (colon == std::string::npos) return n;
  auto* headers = static_cast<std::pair<std::string, std::string>*>(userdata);
  if (colon == 4 && strncasecmp(line.c_str(), "etag", 4) == 0) {
    headers->first = strip_quotes(trim(line.substr(colon + 1)));
  } else if (colon == 13 && strncasecmp(line.c_str(), "content-range", 13) == 0) {
    headers->second = trim(line.substr(colon + 1));
  }
  return n;
}

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

bool append(Slist* list, const std::string& s) {
  curl_slist* l = curl_slist_append(list->get(), s.c_str());
  if (l == nullptr) return false;
  (void)list->release();
  list->reset(l);
  return true;
}

}  // namespace

std::string S3ObjectStore::url(const std::string& key, const std::string& query) const {
  std::string u = scheme_ + "://";
  if (config_.path_style) {
    u += host_port_ + "/" + uri_encode(config_.bucket, false);
    if (!key.empty()) u += "/" + uri_encode(key, true);
  } else {
    u += config_.bucket + "." + host_port_ + "/" + uri_encode(key, true);
  }
  if (!query.empty()) u += "?" + query;
  return u;
}

std::unique_ptr<S3ObjectStore::Handle> S3ObjectStore::take_handle() {
  {
    MutexLock lock(mu_);
    if (!idle_.empty()) {
      std::unique_ptr<Handle> h = std::move(idle_.back());
      idle_.pop_back();
      return h;
    }
  }
  auto h = std::make_unique<Handle>();
  h->easy = curl_easy_init();
  if (h->easy == nullptr) return nullptr;
  return h;
}

void S3ObjectStore::give_back(std::unique_ptr<Handle> handle) {
  MutexLock lock(mu_);
  idle_.push_back(std::move(handle));
}

Status S3ObjectStore::perform(const Request& req, Response* resp) {
  const std::string target = url(req.key, req.query);
  std::unique_ptr<Handle> h = take_handle();
  if (h == nullptr) return Status::IoError("S3 " + req.what + ": curl_easy_init failed");
  CURL* c = h->easy;
  curl_easy_reset(c);  // options only: the connection stays cached for reuse

  static const std::string kEmptySha256 =
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  Slist headers;
  bool ok = true;
  for (const std::string& hdr : req.headers) ok = ok && append(&headers, hdr);
  ok = ok && append(&headers, "x-amz-content-sha256: " +
                                  (req.body.empty() ? kEmptySha256 : sha256_hex(req.body)));
  if (!config_.credentials.session_token.empty()) {
    ok = ok && append(&headers, "x-amz-security-token: " + config_.credentials.session_token);
  }
  if (!config_.fixed_amz_date.empty()) {
    ok = ok && append(&headers, "X-Amz-Date: " + config_.fixed_amz_date);
  }
  if (req.content_type != nullptr) {
    ok = ok && append(&headers, std::string("Content-Type: ") + req.content_type);
  }
  Slist connect_to;
  for (const std::string& rule : config_.connect_to) ok = ok && append(&connect_to, rule);
  if (!ok) return Status::IoError("S3 " + req.what + ": out of memory building headers");

  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_URL, target.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_AWS_SIGV4, sigv4_.c_str());
  curl_easy_setopt(c, CURLOPT_USERNAME, config_.credentials.access_key_id.c_str());
  curl_easy_setopt(c, CURLOPT_PASSWORD, config_.credentials.secret_access_key.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  if (connect_to) curl_easy_setopt(c, CURLOPT_CONNECT_TO, connect_to.get());
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(config_.connect_timeout_ms));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(config_.request_timeout_ms));
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>(config_.stall_timeout_s));
  if (!config_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, config_.ca_file.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp->body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &resp->headers);

  const std::string method = req.method;
  if (method == "GET") {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else if (method == "DELETE") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
  } else {
    // PUT and POST carry the body as POSTFIELDS (not copied: req.body outlives
    // the transfer); CUSTOMREQUEST makes the method (and its signature) PUT.
    static const char kNoBody[] = "";
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    curl_easy_setopt(c, CURLOPT_POSTFIELDS,
                     req.body.empty() ? kNoBody : reinterpret_cast<const char*>(req.body.data()));
    if (method == "PUT") curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
  }

  CURLcode rc = curl_easy_perform(c);
  if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
  // The handle must not keep pointers into this frame's headers and buffers.
  curl_easy_reset(c);
  give_back(std::move(h));
  if (rc != CURLE_OK) {
    std::string detail = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);
    return Status::IoError("S3 " + req.what + " at " + target + ": " + detail);
  }
  return Status::Ok();
}

}  // namespace sidewal::archive
