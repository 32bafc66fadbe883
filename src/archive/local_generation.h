// The data directory's GENERATION file (docs/archive.md "Generations"): the
// archive generation this log belongs to.
#pragma once

#include <string>

#include "common/status.h"

namespace sidewal::archive {

constexpr const char* kGenerationFileName = "GENERATION";

// kNotFound when the directory has none; kCorruption when it does not hold
// a generation id.
Status read_generation_file(const std::string& dir, std::string* id);
// GENERATION.tmp written and fsynced, renamed over GENERATION, directory
// fsynced.
Status write_generation_file(const std::string& dir, const std::string& id);

}  // namespace sidewal::archive
