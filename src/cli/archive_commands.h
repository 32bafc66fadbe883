// `sidewal restore` and `sidewal archive list` (archive.cc).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "archive/object_store.h"
#include "cli/commands.h"
#include "common/status.h"

namespace sidewal::cli {

// Where the archive is and how to reach it.
struct ArchiveStoreArgs {
  std::string url;       // s3://BUCKET/PREFIX
  std::string endpoint;  // scheme://host[:port]; empty: AWS_ENDPOINT_URL, else AWS S3 in the region
  std::string region;    // empty: AWS_REGION, else us-east-1
  bool virtual_hosted = false;  // BUCKET.host addressing instead of host/BUCKET
  std::string credentials_dir;  // access_key_id, secret_access_key[, session_token]; empty: the
                                // AWS_* environment
  std::string ca_file;
};

struct RestoreArgs {
  ArchiveStoreArgs store;
  std::string data_dir;
  uint64_t to_lsn = 0;     // 0: the end
  std::string to_time;     // RFC 3339; empty: no limit
  std::string generation;  // empty: the newest
};

int run_restore(const RestoreArgs& a);
int run_archive_list(const ArchiveStoreArgs& a);

// The same over an open store (tests use the in-memory one).
int restore_from_store(archive::ObjectStore* store, const std::string& prefix,
                       const RestoreArgs& a);
int list_archive_of_store(archive::ObjectStore* store, const std::string& prefix);

// Opens the store the arguments name; *prefix gets the URL's prefix.
Result<std::unique_ptr<archive::ObjectStore>> open_archive_store(const ArchiveStoreArgs& a,
                                                                 std::string* prefix);

}  // namespace sidewal::cli
