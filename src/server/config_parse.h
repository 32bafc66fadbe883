// The YAML helpers the config parser is made of (config.cc,
// archive_config.cc): typed getters that name the dotted key in every error,
// and walk_map, which refuses unknown keys. Internal to src/server.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "common/status.h"

namespace sidewal::server::config_parse {

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = kKiB * 1024;
constexpr uint64_t kGiB = kMiB * 1024;

Status key_error(const std::string& key, const std::string& what);
// "null", "a list", "a mapping", or the scalar quoted.
std::string describe(const YAML::Node& n);
// Whole-string unsigned integer; rejects signs, spaces and trailing junk.
bool parse_u64(std::string_view s, uint64_t* out);
Status get_string(const YAML::Node& n, const std::string& key, std::string* out);
Status get_u64(const YAML::Node& n, const std::string& key, uint64_t min, uint64_t max,
               uint64_t* out);
// A byte size: an integer, or an integer with a KiB/MiB/GiB suffix ("64MiB").
Status get_size(const YAML::Node& n, const std::string& key, uint64_t min, uint64_t max,
                uint64_t* out);
Status get_bool(const YAML::Node& n, const std::string& key, bool* out);
Status get_seconds(const YAML::Node& n, const std::string& key, double max, double* out);

// One section of the file: checks that it is a mapping, that every key in it
// is known, and hands each present key to its parser.
using KeyParser = std::function<Status(const YAML::Node&, const std::string& dotted)>;
Status walk_map(const YAML::Node& node, const std::string& prefix,
                const std::map<std::string, KeyParser>& keys);
// A KeyParser for a nested section with these keys.
KeyParser section(std::map<std::string, KeyParser> keys);

}  // namespace sidewal::server::config_parse
