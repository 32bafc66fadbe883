// The text rules the S3 client's files share (internal to
// sidewal_archive_s3): SigV4's canonical encoding of paths and query strings,
// and the trimming and unquoting of secrets, headers and ETags.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace sidewal::archive::s3 {

// Surrounding spaces, tabs and line ends removed.
std::string trim(std::string s);
// Every '"' removed (an ETag as the store quotes it).
std::string strip_quotes(std::string s);

// SigV4's UriEncode: every byte but A-Z a-z 0-9 - _ . ~ as %XX, upper-case
// hex; '/' kept when `keep_slash` (an object key's path). libcurl 7.88 signs
// the path and the query string exactly as they are in the URL, so the URL
// must already be canonical.
std::string uri_encode(const std::string& s, bool keep_slash);
// The canonical query string: encoded names and values, sorted by name,
// "name=" for a parameter without value (S3's "?uploads" is sent "?uploads=").
std::string canonical_query(std::vector<std::pair<std::string, std::string>> params);

}  // namespace sidewal::archive::s3
