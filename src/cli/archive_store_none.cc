// open_archive_store() in a build without the S3 client (sidewal_archive_s3).
#include "cli/archive_commands.h"

namespace sidewal::cli {

Result<std::unique_ptr<archive::ObjectStore>> open_archive_store(const ArchiveStoreArgs&,
                                                                 std::string*) {
  return Status::Unsupported("this sidewal was built without the S3 client (sidewal_archive_s3)");
}

}  // namespace sidewal::cli
