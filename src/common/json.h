// JSON text for the daemon's log lines, its admin bodies and the bench's
// report, through nlohmann-json: one place that decides how JSON is written.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace sidewal {

// Objects keep their keys in insertion order, as the writer put them.
using Json = nlohmann::ordered_json;

// Compact text. Invalid UTF-8 (a peer's bytes, a path) becomes U+FFFD rather
// than an exception or text that is not JSON.
inline std::string json_text(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace sidewal
