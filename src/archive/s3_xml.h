// The XML S3 speaks, through tinyxml2 (internal to sidewal_archive_s3): the
// replies S3ObjectStore reads (a ListObjectsV2 page, CreateMultipartUpload's
// UploadId, an <Error>) and the one body it writes (CompleteMultipartUpload).
// S3ObjectStore::error_status, the Status of a failed reply, is defined in
// s3_xml.cc too. `what` names the request in messages ("LIST s3://b/p").
#pragma once

#include <string>
#include <vector>

#include "archive/object_store.h"
#include "common/status.h"

namespace sidewal::archive::s3 {

// Appends the page's entries to *out. *next_token: the continuation token
// when the page is truncated, empty when it is the last one.
Status parse_list_page(const std::string& what, const std::string& xml,
                       std::vector<ObjectInfo>* out, std::string* next_token);
// The UploadId of an InitiateMultipartUploadResult.
Status parse_upload_id(const std::string& what, const std::string& xml, std::string* upload_id);
// The CompleteMultipartUpload body naming parts 1..N with these ETags.
std::string complete_multipart_body(const std::vector<std::string>& part_etags);
// True when `xml` is an <Error> document (S3 may answer 200 and still fail).
bool is_error_reply(const std::string& xml);

}  // namespace sidewal::archive::s3
