// Config loader (src/server/config): any YAML text. parse_config must
// return a config or an error naming what is wrong, never crash; an
// accepted config must satisfy the bounds its keys document.
#include <string>

#include "fuzz_target.h"
#include "server/config.h"

namespace {

int fuzz_config(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto c = sidewal::server::parse_config(text, "fuzz.yaml");
  if (!c.ok()) {
    FUZZ_CHECK(!c.status().ToString().empty());
    return 0;
  }
  FUZZ_CHECK(c->wal_segment_bytes >= (1u << 20));
  FUZZ_CHECK(c->wal_max_record_bytes <= sidewal::wal::kHardMaxRecordBytes);
  return 0;
}

}  // namespace

SIDEWAL_FUZZ_TARGET(config, fuzz_config)
