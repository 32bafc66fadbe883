// open_archive_store() over S3ObjectStore (src/archive/s3_object_store.h).
#include <cstdlib>

#include "archive/archive_names.h"
#include "archive/s3_object_store.h"
#include "cli/archive_commands.h"

namespace sidewal::cli {

Result<std::unique_ptr<archive::ObjectStore>> open_archive_store(const ArchiveStoreArgs& a,
                                                                 std::string* prefix) {
  archive::S3Config c;
  SIDEWAL_RETURN_IF_ERROR(archive::parse_archive_url(a.url, &c.bucket, prefix));
  auto env = [](const char* name) {
    const char* v = std::getenv(name);
    return std::string(v ? v : "");
  };
  c.region = !a.region.empty()            ? a.region
             : !env("AWS_REGION").empty() ? env("AWS_REGION")
                                          : "us-east-1";
  c.endpoint = !a.endpoint.empty()                ? a.endpoint
               : !env("AWS_ENDPOINT_URL").empty() ? env("AWS_ENDPOINT_URL")
                                                  : "https://s3." + c.region + ".amazonaws.com";
  c.path_style = !a.virtual_hosted;
  c.ca_file = a.ca_file;
  auto creds = archive::load_s3_credentials(a.credentials_dir);
  if (!creds.ok()) return creds.status();
  c.credentials = std::move(creds.value());
  auto store = archive::S3ObjectStore::open(std::move(c));
  if (!store.ok()) return store.status();
  return std::unique_ptr<archive::ObjectStore>(std::move(store.value()));
}

}  // namespace sidewal::cli
