// make_backend(): picks the real IoBackend for the daemon, the CLI and the
// benchmarks.
#include <memory>
#include <string>

#include "wal/io_backend.h"
#include "wal/io_pwrite.h"

namespace sidewal::wal {

std::unique_ptr<IoBackend> make_backend(BackendKind kind, std::string* why) {
  (void)kind;
  if (why) *why = "pwrite";
  return std::make_unique<PwriteBackend>();
}

}  // namespace sidewal::wal
