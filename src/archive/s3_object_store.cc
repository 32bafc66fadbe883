#include "archive/s3_object_store.h"

#include <curl/curl.h>
#include <openssl/sha.h>
#include <tinyxml2.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

namespace sidewal::archive {

namespace {

// ---- Credentials.

std::string trim(std::string s) {
  const char* ws = " \t\r\n";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

// *value is the trimmed content; kNotFound when the file does not exist.
Status read_secret_file(const std::string& path, std::string* value) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    if (err == ENOENT) return Status::NotFound(path + ": no such file");
    return Status::FromErrno(err, "open " + path);
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  *value = trim(ss.str());
  return Status::Ok();
}

// ---- Encoding (SigV4's UriEncode: every byte but A-Z a-z 0-9 - _ . ~ as
// %XX, upper-case hex; '/' kept in an object key's path). libcurl 7.88 signs
// the path and the query string exactly as they are in the URL, so the URL
// must already be canonical.

std::string uri_encode(const std::string& s, bool keep_slash) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 0xF]);
    }
  }
  return out;
}

// The canonical query string: encoded names and values, sorted by name,
// "name=" for a parameter without value (S3's "?uploads" is sent "?uploads=").
std::string canonical_query(std::vector<std::pair<std::string, std::string>> params) {
  for (auto& [k, v] : params) {
    k = uri_encode(k, false);
    v = uri_encode(v, false);
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out.push_back('&');
    out += k;
    out.push_back('=');
    out += v;
  }
  return out;
}

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

std::string strip_quotes(std::string s) {
  s.erase(std::remove(s.begin(), s.end(), '"'), s.end());
  return s;
}

// Text of the first child element `name` of `parent`, "" when absent.
std::string child_text(const tinyxml2::XMLElement* parent, const char* name) {
  if (parent == nullptr) return "";
  const tinyxml2::XMLElement* e = parent->FirstChildElement(name);
  if (e == nullptr || e->GetText() == nullptr) return "";
  return e->GetText();
}

size_t append_body(char* ptr, size_t size, size_t nmemb, void* userdata);
size_t on_header(char* ptr, size_t size, size_t nmemb, void* userdata);

std::once_flag curl_init_once;

}  // namespace

// ---- Loading credentials.

Result<S3Credentials> load_s3_credentials_from_dir(const std::string& dir) {
  S3Credentials c;
  const std::string where = "S3 credentials directory " + dir;
  Status st = read_secret_file(dir + "/access_key_id", &c.access_key_id);
  if (!st.ok()) return Status::InvalidArgument(where + ": " + st.message());
  st = read_secret_file(dir + "/secret_access_key", &c.secret_access_key);
  if (!st.ok()) return Status::InvalidArgument(where + ": " + st.message());
  st = read_secret_file(dir + "/session_token", &c.session_token);
  if (!st.ok() && st.code() != Code::kNotFound) {
    return Status::InvalidArgument(where + ": " + st.message());
  }
  if (c.access_key_id.empty() || c.secret_access_key.empty()) {
    return Status::InvalidArgument(where + ": access_key_id or secret_access_key is empty");
  }
  return c;
}

Result<S3Credentials> load_s3_credentials_from_env() {
  auto env = [](const char* name) {
    const char* v = std::getenv(name);
    return v == nullptr ? std::string() : trim(v);
  };
  S3Credentials c{env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"), env("AWS_SESSION_TOKEN")};
  if (c.access_key_id.empty() && c.secret_access_key.empty()) {
    return Status::InvalidArgument(
        "no S3 credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set "
        "and no credentials directory was given");
  }
  if (c.access_key_id.empty()) {
    return Status::InvalidArgument(
        "S3 credentials: AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");
  }
  if (c.secret_access_key.empty()) {
    return Status::InvalidArgument(
        "S3 credentials: AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
  }
  return c;
}

Result<S3Credentials> load_s3_credentials(const std::string& dir) {
  if (!dir.empty()) return load_s3_credentials_from_dir(dir);
  return load_s3_credentials_from_env();
}

// ---- Requests.

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

namespace {

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

Result<std::unique_ptr<S3ObjectStore>> S3ObjectStore::open(S3Config config) {
  std::call_once(curl_init_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  const std::string where = "S3 endpoint '" + config.endpoint + "'";
  CURLU* u = curl_url();
  if (u == nullptr) return Status::IoError("curl_url: out of memory");
  std::unique_ptr<CURLU, void (*)(CURLU*)> url_guard(u, curl_url_cleanup);
  if (curl_url_set(u, CURLUPART_URL, config.endpoint.c_str(), 0) != CURLUE_OK) {
    return Status::InvalidArgument(where + ": not a URL (want scheme://host[:port])");
  }
  auto part = [u](CURLUPart what) {
    char* p = nullptr;
    std::string s;
    if (curl_url_get(u, what, &p, 0) == CURLUE_OK && p != nullptr) s = p;
    curl_free(p);
    return s;
  };
  std::string scheme = part(CURLUPART_SCHEME);
  std::string host = part(CURLUPART_HOST);
  std::string port = part(CURLUPART_PORT);
  std::string path = part(CURLUPART_PATH);
  if (scheme != "http" && scheme != "https") {
    return Status::InvalidArgument(where + ": the scheme must be http or https");
  }
  if (host.empty()) return Status::InvalidArgument(where + ": no host");
  if (!path.empty() && path != "/") {
    return Status::InvalidArgument(where +
                                   ": must not have a path (the bucket is a separate setting)");
  }
  if (!part(CURLUPART_QUERY).empty() || !part(CURLUPART_USER).empty()) {
    return Status::InvalidArgument(where + ": must not have a query or user part");
  }
  if (config.bucket.empty() || config.bucket.find('/') != std::string::npos) {
    return Status::InvalidArgument("S3 bucket '" + config.bucket + "': empty or contains '/'");
  }
  if (config.region.empty() || config.region.find(':') != std::string::npos) {
    return Status::InvalidArgument("S3 region '" + config.region + "': empty or contains ':'");
  }
  if (config.credentials.access_key_id.empty() || config.credentials.secret_access_key.empty()) {
    return Status::InvalidArgument("S3 credentials: access key id or secret access key is empty");
  }
  if (config.list_page_size < 1 || config.list_page_size > 1000) {
    return Status::InvalidArgument("S3 list page size must be 1..1000");
  }
  if (config.connect_timeout_ms < 0 || config.request_timeout_ms < 0 ||
      config.stall_timeout_s < 1) {
    return Status::InvalidArgument("S3 timeouts must not be negative (stall timeout at least 1 s)");
  }
  std::string host_port = port.empty() ? host : host + ":" + port;
  return std::unique_ptr<S3ObjectStore>(
      new S3ObjectStore(std::move(config), std::move(scheme), std::move(host_port)));
}

S3ObjectStore::S3ObjectStore(S3Config config, std::string scheme, std::string host_port)
    : config_(std::move(config)),
      scheme_(std::move(scheme)),
      host_port_(std::move(host_port)),
      sigv4_("aws:amz:" + config_.region + ":s3") {}

S3ObjectStore::~S3ObjectStore() = default;

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
    std::lock_guard<std::mutex> lock(mu_);
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
  std::lock_guard<std::mutex> lock(mu_);
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

Status S3ObjectStore::error_status(const std::string& what, const Response& resp) const {
  std::string code;
  std::string message;
  tinyxml2::XMLDocument doc;
  if (!resp.body.empty() &&
      doc.Parse(resp.body.data(), resp.body.size()) == tinyxml2::XML_SUCCESS) {
    const tinyxml2::XMLElement* err = doc.FirstChildElement("Error");
    code = child_text(err, "Code");
    message = child_text(err, "Message");
  }
  std::string text = "S3 " + what + ": HTTP " + std::to_string(resp.status);
  if (!code.empty()) text += " " + code;
  if (!message.empty()) text += ": " + message;
  // Retryable: the server's fault, throttling, a timed-out request.
  if (resp.status >= 500 || resp.status == 408 || resp.status == 429 || code == "RequestTimeout" ||
      code == "SlowDown" || code == "InternalError") {
    return Status::IoError(text);
  }
  if (resp.status == 404 && code != "NoSuchBucket") return Status::NotFound(text);
  return Status::InvalidArgument(text);
}

namespace {

Status check_key(const std::string& key) {
  if (key.empty() || key.size() > 1024) {
    return Status::InvalidArgument("S3 key '" + key + "': must be 1..1024 bytes");
  }
  return Status::Ok();
}

}  // namespace

Status S3ObjectStore::put(const std::string& key, std::span<const uint8_t> body) {
  SIDEWAL_RETURN_IF_ERROR(check_key(key));
  Request req;
  req.method = "PUT";
  req.key = key;
  req.body = body;
  req.content_type = "application/octet-stream";
  req.what = "PUT s3://" + config_.bucket + "/" + key;
  Response resp;
  SIDEWAL_RETURN_IF_ERROR(perform(req, &resp));
  if (resp.status != 200) return error_status(req.what, resp);
  return Status::Ok();
}

Status S3ObjectStore::get(const std::string& key, std::string* body) {
  SIDEWAL_RETURN_IF_ERROR(check_key(key));
  Request req;
  req.key = key;
  req.what = "GET s3://" + config_.bucket + "/" + key;
  Response resp;
  SIDEWAL_RETURN_IF_ERROR(perform(req, &resp));
  if (resp.status != 200) return error_status(req.what, resp);
  *body = std::move(resp.body);
  return Status::Ok();
}

Status S3ObjectStore::get_range(const std::string& key, uint64_t offset, uint64_t length,
                                std::string* body) {
  SIDEWAL_RETURN_IF_ERROR(check_key(key));
  body->clear();
  if (length == 0) return Status::Ok();
  const uint64_t last = length > UINT64_MAX - offset ? UINT64_MAX - 1 : offset + length - 1;
  Request req;
  req.key = key;
  req.headers.push_back("Range: bytes=" + std::to_string(offset) + "-" + std::to_string(last));
  req.what = "GET s3://" + config_.bucket + "/" + key + " bytes " + std::to_string(offset) + "-" +
             std::to_string(last);
  Response resp;
  SIDEWAL_RETURN_IF_ERROR(perform(req, &resp));
  if (resp.status == 206) {
    // "bytes START-END/TOTAL". A store may send more than asked from the
    // right start (s3rver 3.7 reads "bytes=0-0" as "bytes=0-"): keep what
    // was asked. Any other start is an answer to another question.
    const std::string want_start = "bytes " + std::to_string(offset) + "-";
    if (resp.content_range().compare(0, want_start.size(), want_start) != 0) {
      return Status::IoError("S3 " + req.what + ": the store answered with Content-Range '" +
                             resp.content_range() + "'");
    }
    if (resp.body.size() > length) resp.body.resize(length);
    *body = std::move(resp.body);
    return Status::Ok();
  }
  if (resp.status == 200) {  // a store that ignores Range sends the whole object
    if (offset < resp.body.size()) {
      *body = resp.body.substr(offset, std::min<uint64_t>(length, resp.body.size() - offset));
    }
    return Status::Ok();
  }
  if (resp.status == 416) return Status::Ok();  // offset at or past the end: nothing there
  return error_status(req.what, resp);
}

Status S3ObjectStore::list(const std::string& prefix, std::vector<ObjectInfo>* out) {
  out->clear();
  std::string token;
  const std::string what = "LIST s3://" + config_.bucket + "/" + prefix;
  for (;;) {
    std::vector<std::pair<std::string, std::string>> params = {
        {"list-type", "2"},
        {"max-keys", std::to_string(config_.list_page_size)},
    };
    if (!prefix.empty()) params.emplace_back("prefix", prefix);
    if (!token.empty()) params.emplace_back("continuation-token", token);
    Request req;
    req.query = canonical_query(std::move(params));
    req.what = what;
    Response resp;
    SIDEWAL_RETURN_IF_ERROR(perform(req, &resp));
    if (resp.status != 200) return error_status(what, resp);

    tinyxml2::XMLDocument doc;
    if (doc.Parse(resp.body.data(), resp.body.size()) != tinyxml2::XML_SUCCESS) {
      return Status::IoError("S3 " + what + ": reply is not XML: " + std::string(doc.ErrorStr()));
    }
    const tinyxml2::XMLElement* root = doc.FirstChildElement("ListBucketResult");
    if (root == nullptr) return Status::IoError("S3 " + what + ": reply has no ListBucketResult");
    for (const tinyxml2::XMLElement* e = root->FirstChildElement("Contents"); e != nullptr;
         e = e->NextSiblingElement("Contents")) {
      ObjectInfo info;
      info.key = child_text(e, "Key");
      const std::string size = child_text(e, "Size");
      char* end = nullptr;
      errno = 0;
      info.size = std::strtoull(size.c_str(), &end, 10);
      if (info.key.empty() || size.empty() || *end != '\0' || errno != 0) {
        return Status::IoError("S3 " + what + ": an entry without a key or a numeric size");
      }
      info.etag = strip_quotes(child_text(e, "ETag"));
      out->push_back(std::move(info));
    }
    if (child_text(root, "IsTruncated") != "true") return Status::Ok();
    token = child_text(root, "NextContinuationToken");
    if (token.empty()) {
      return Status::IoError("S3 " + what + ": a truncated page without NextContinuationToken");
    }
  }
}

Status S3ObjectStore::remove(const std::string& key) {
  SIDEWAL_RETURN_IF_ERROR(check_key(key));
  Request req;
  req.method = "DELETE";
  req.key = key;
  req.what = "DELETE s3://" + config_.bucket + "/" + key;
  Response resp;
  SIDEWAL_RETURN_IF_ERROR(perform(req, &resp));
  if (resp.status == 204 || resp.status == 200) return Status::Ok();
  Status st = error_status(req.what, resp);
  if (st.code() == Code::kNotFound) return Status::Ok();  // already gone: S3 semantics
  return st;
}

Status S3ObjectStore::create_multipart(const std::string& key, std::string* upload_id) {
  SIDEWAL_RETURN_IF_ERROR(check_key(key));
  Request req;
  req.method = "POST";
  req.key = key;
  req.query = canonical_query({{"uploads", ""}});
  req.content_type = "application/octet-stream";  // the object's type, as for put()
  req.what = "CreateMultipartUpload s3://" + config_.bucket + "/" + key;
  Response resp;
  SIDEWAL_RETURN_IF_ERROR(perform(req, &resp));
  if (resp.status != 200) return error_status(req.what, resp);
  tinyxml2::XMLDocument doc;
  if (doc.Parse(resp.body.data(), resp.body.size()) != tinyxml2::XML_SUCCESS) {
    return Status::IoError("S3 " + req.what + ": reply is not XML: " + std::string(doc.ErrorStr()));
  }
  *upload_id = child_text(doc.FirstChildElement("InitiateMultipartUploadResult"), "UploadId");
  if (upload_id->empty()) return Status::IoError("S3 " + req.what + ": reply has no UploadId");
  return Status::Ok();
}

Status S3ObjectStore::upload_part(const std::string& key, const std::string& upload_id,
                                  int part_number, std::span<const uint8_t> body,
                                  std::string* etag) {
  SIDEWAL_RETURN_IF_ERROR(check_key(key));
  if (part_number < 1 || part_number > 10000) {
    return Status::InvalidArgument("S3 part number " + std::to_string(part_number) +
                                   ": must be 1..10000");
  }
  Request req;
  req.method = "PUT";
  req.key = key;
  req.query =
      canonical_query({{"partNumber", std::to_string(part_number)}, {"uploadId", upload_id}});
  req.body = body;
  req.content_type = "application/octet-stream";
  req.what = "UploadPart " + std::to_string(part_number) + " s3://" + config_.bucket + "/" + key;
  Response resp;
  SIDEWAL_RETURN_IF_ERROR(perform(req, &resp));
  if (resp.status != 200) return error_status(req.what, resp);
  if (resp.etag().empty()) return Status::IoError("S3 " + req.what + ": reply has no ETag header");
  *etag = resp.etag();
  return Status::Ok();
}

Status S3ObjectStore::complete_multipart(const std::string& key, const std::string& upload_id,
                                         const std::vector<std::string>& part_etags) {
  SIDEWAL_RETURN_IF_ERROR(check_key(key));
  if (part_etags.empty() || part_etags.size() > 10000) {
    return Status::InvalidArgument("S3 CompleteMultipartUpload: 1..10000 parts, not " +
                                   std::to_string(part_etags.size()));
  }
  tinyxml2::XMLDocument doc;
  tinyxml2::XMLElement* root = doc.NewElement("CompleteMultipartUpload");
  root->SetAttribute("xmlns", "http://s3.amazonaws.com/doc/2006-03-01/");
  doc.InsertEndChild(root);
  for (size_t i = 0; i < part_etags.size(); ++i) {
    tinyxml2::XMLElement* part = root->InsertNewChildElement("Part");
    part->InsertNewChildElement("PartNumber")->SetText(static_cast<int>(i + 1));
    part->InsertNewChildElement("ETag")->SetText(("\"" + part_etags[i] + "\"").c_str());
  }
  tinyxml2::XMLPrinter printer(nullptr, /*compact=*/true);
  doc.Print(&printer);
  const std::string xml(printer.CStr(), static_cast<size_t>(printer.CStrSize() - 1));

  Request req;
  req.method = "POST";
  req.key = key;
  req.query = canonical_query({{"uploadId", upload_id}});
  req.body = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(xml.data()), xml.size());
  req.content_type = "application/xml";
  req.what = "CompleteMultipartUpload s3://" + config_.bucket + "/" + key;
  Response resp;
  SIDEWAL_RETURN_IF_ERROR(perform(req, &resp));
  if (resp.status != 200) return error_status(req.what, resp);
  // S3 may answer 200 and still fail: the error is then the body.
  tinyxml2::XMLDocument reply;
  if (reply.Parse(resp.body.data(), resp.body.size()) == tinyxml2::XML_SUCCESS &&
      reply.FirstChildElement("Error") != nullptr) {
    Response as_error = resp;
    as_error.status = 500;  // only reported inside a 200 when the store failed late
    return error_status(req.what, as_error);
  }
  return Status::Ok();
}

Status S3ObjectStore::abort_multipart(const std::string& key, const std::string& upload_id) {
  SIDEWAL_RETURN_IF_ERROR(check_key(key));
  Request req;
  req.method = "DELETE";
  req.key = key;
  req.query = canonical_query({{"uploadId", upload_id}});
  req.what = "AbortMultipartUpload s3://" + config_.bucket + "/" + key;
  Response resp;
  SIDEWAL_RETURN_IF_ERROR(perform(req, &resp));
  if (resp.status == 204 || resp.status == 200) return Status::Ok();
  return error_status(req.what, resp);
}

}  // namespace sidewal::archive
