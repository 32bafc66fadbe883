// S3ObjectStore's operations (s3_object_store.h): each checks its arguments,
// builds its Request, and maps the store's reply to the Status object_store.h
// describes. The HTTP exchange is s3_request.cc, the XML s3_xml.cc, the
// credentials s3_credentials.cc.
#include "archive/s3_object_store.h"

#include <curl/curl.h>

#include <algorithm>
#include <utility>

#include "archive/s3_request.h"
#include "archive/s3_text.h"
#include "archive/s3_xml.h"

namespace sidewal::archive {

namespace {

using s3::canonical_query;

std::once_flag curl_init_once;

Status check_key(const std::string& key) {
  if (key.empty() || key.size() > 1024) {
    return Status::InvalidArgument("S3 key '" + key + "': must be 1..1024 bytes");
  }
  return Status::Ok();
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

    SIDEWAL_RETURN_IF_ERROR(s3::parse_list_page(what, resp.body, out, &token));
    if (token.empty()) return Status::Ok();
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
  return s3::parse_upload_id(req.what, resp.body, upload_id);
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
  const std::string xml = s3::complete_multipart_body(part_etags);

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
  if (s3::is_error_reply(resp.body)) {
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
