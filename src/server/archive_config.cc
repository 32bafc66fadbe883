#include "server/archive_config.h"

#include <filesystem>

namespace sidewal::server {

using namespace config_parse;  // NOLINT: the parsing helpers

KeyParser archive_section(Config::Archive* a) {
  return section({
      {"enabled",
       [a](const YAML::Node& n, const std::string& k) { return get_bool(n, k, &a->enabled); }},
      {"endpoint",
       [a](const YAML::Node& n, const std::string& k) { return get_string(n, k, &a->endpoint); }},
      {"bucket",
       [a](const YAML::Node& n, const std::string& k) { return get_string(n, k, &a->bucket); }},
      {"prefix",
       [a](const YAML::Node& n, const std::string& k) { return get_string(n, k, &a->prefix); }},
      {"region",
       [a](const YAML::Node& n, const std::string& k) { return get_string(n, k, &a->region); }},
      {"path_style",
       [a](const YAML::Node& n, const std::string& k) { return get_bool(n, k, &a->path_style); }},
      {"credentials_dir",
       [a](const YAML::Node& n, const std::string& k) {
         return get_string(n, k, &a->credentials_dir);
       }},
      {"ca_file",
       [a](const YAML::Node& n, const std::string& k) { return get_string(n, k, &a->ca_file); }},
      {"interval_seconds",
       [a](const YAML::Node& n, const std::string& k) -> Status {
         SIDEWAL_RETURN_IF_ERROR(get_seconds(n, k, 3600, &a->interval_seconds));
         if (a->interval_seconds < 0.01) return key_error(k, "must be at least 0.01 seconds");
         return Status::Ok();
       }},
      {"truncation_waits",
       [a](const YAML::Node& n, const std::string& k) {
         return get_bool(n, k, &a->truncation_waits);
       }},
      {"restore_on_empty",
       [a](const YAML::Node& n, const std::string& k) {
         return get_bool(n, k, &a->restore_on_empty);
       }},
      {"upload_concurrency",
       [a](const YAML::Node& n, const std::string& k) -> Status {
         uint64_t v = 0;
         SIDEWAL_RETURN_IF_ERROR(get_u64(n, k, 1, 64, &v));
         a->upload_concurrency = static_cast<uint32_t>(v);
         return Status::Ok();
       }},
      {"max_upload_bytes_per_second",
       [a](const YAML::Node& n, const std::string& k) {
         // 0: no cap; otherwise at least 64 KiB/s (one small piece a second).
         Status s = get_size(n, k, 0, uint64_t{1} << 40, &a->max_upload_bytes_per_second);
         if (s.ok() && a->max_upload_bytes_per_second != 0 &&
             a->max_upload_bytes_per_second < 64 * kKiB) {
           return key_error(k, "must be 0 (no cap) or at least 64KiB");
         }
         return s;
       }},
  });
}

Status finalize_archive(Config::Archive* a) {
  if (!a->enabled) return Status::Ok();
  if (a->bucket.empty())
    return key_error("archive.bucket", "must be set when archive.enabled is true");
  while (!a->prefix.empty() && a->prefix.back() == '/') a->prefix.pop_back();
  while (!a->prefix.empty() && a->prefix.front() == '/') a->prefix.erase(0, 1);
  if (a->endpoint.empty()) a->endpoint = "https://s3." + a->region + ".amazonaws.com";
  if (a->endpoint.rfind("http://", 0) != 0 && a->endpoint.rfind("https://", 0) != 0) {
    return key_error("archive.endpoint",
                     "expected http://host[:port] or https://host[:port], got '" + a->endpoint +
                         "'");
  }
  for (std::string* path : {&a->credentials_dir, &a->ca_file}) {
    if (path->empty()) continue;
    std::error_code ec;
    *path = std::filesystem::absolute(*path, ec).lexically_normal().string();
    if (ec) return key_error("archive", "'" + *path + "' cannot be made absolute");
  }
  return Status::Ok();
}

}  // namespace sidewal::server
