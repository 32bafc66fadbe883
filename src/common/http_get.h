// A blocking HTTP/1.1 GET with a deadline, through Boost.Beast's client: the
// one HTTP client of the bench (metrics scrapes) and the tests (admin
// endpoints). Not linked into sidewald, which only serves HTTP.
#pragma once

#include <chrono>
#include <string>

#include "common/status.h"

namespace sidewal {

struct HttpReply {
  int status = 0;  // the HTTP status code
  std::string body;
};

// GET http://host:port/target, asking the server to close afterwards. An
// error when no HTTP reply arrives within `timeout` (refused, reset, timed
// out, not HTTP); any status code is a reply.
Result<HttpReply> http_get(const std::string& host, const std::string& port,
                           const std::string& target, std::chrono::milliseconds timeout);

}  // namespace sidewal
