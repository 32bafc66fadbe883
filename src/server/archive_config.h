// The `archive:` section of sidewal.yaml (docs/archive.md, docs/operations.md
// "Archive to object storage"): its keys and its checks, apart from the rest
// of the config parser (config.cc).
#pragma once

#include "server/config.h"
#include "server/config_parse.h"

namespace sidewal::server {

// The parser of the `archive:` mapping, writing into *a.
config_parse::KeyParser archive_section(Config::Archive* a);

// Cross-key checks once the file and the flags are read: bucket set when
// enabled, endpoint default and form, prefix without surrounding '/', paths
// made absolute.
Status finalize_archive(Config::Archive* a);

}  // namespace sidewal::server
