// RequestError: why a request is refused, as the ERROR frame will say it.
#pragma once

#include <optional>
#include <string>

#include "proto/protocol.h"

namespace sidewal::server {

struct RequestError {
  proto::ErrorCode code;
  std::string message;
};

// No value: the request may be served.
using RequestCheck = std::optional<RequestError>;

}  // namespace sidewal::server
