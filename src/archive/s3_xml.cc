#include "archive/s3_xml.h"

#include <tinyxml2.h>

#include <cerrno>
#include <cstdlib>
#include <utility>

#include "archive/s3_request.h"
#include "archive/s3_text.h"

namespace sidewal::archive {

namespace {

// Text of the first child element `name` of `parent`, "" when absent.
std::string child_text(const tinyxml2::XMLElement* parent, const char* name) {
  if (parent == nullptr) return "";
  const tinyxml2::XMLElement* e = parent->FirstChildElement(name);
  if (e == nullptr || e->GetText() == nullptr) return "";
  return e->GetText();
}

}  // namespace

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

namespace s3 {

Status parse_list_page(const std::string& what, const std::string& xml,
                       std::vector<ObjectInfo>* out, std::string* next_token) {
  next_token->clear();
  tinyxml2::XMLDocument doc;
  if (doc.Parse(xml.data(), xml.size()) != tinyxml2::XML_SUCCESS) {
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
  *next_token = child_text(root, "NextContinuationToken");
  if (next_token->empty()) {
    return Status::IoError("S3 " + what + ": a truncated page without NextContinuationToken");
  }
  return Status::Ok();
}

Status parse_upload_id(const std::string& what, const std::string& xml, std::string* upload_id) {
  tinyxml2::XMLDocument doc;
  if (doc.Parse(xml.data(), xml.size()) != tinyxml2::XML_SUCCESS) {
    return Status::IoError("S3 " + what + ": reply is not XML: " + std::string(doc.ErrorStr()));
  }
  *upload_id = child_text(doc.FirstChildElement("InitiateMultipartUploadResult"), "UploadId");
  if (upload_id->empty()) return Status::IoError("S3 " + what + ": reply has no UploadId");
  return Status::Ok();
}

std::string complete_multipart_body(const std::vector<std::string>& part_etags) {
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
  return std::string(printer.CStr(), static_cast<size_t>(printer.CStrSize() - 1));
}

bool is_error_reply(const std::string& xml) {
  tinyxml2::XMLDocument reply;
  return reply.Parse(xml.data(), xml.size()) == tinyxml2::XML_SUCCESS &&
         reply.FirstChildElement("Error") != nullptr;
}

}  // namespace s3

}  // namespace sidewal::archive
