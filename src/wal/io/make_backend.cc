// make_backend(): picks the real IoBackend for the daemon, the CLI and the
// benchmarks: io_uring when the probe passes, else pwrite (for kAuto).
#include <memory>
#include <string>

#include "wal/io/io_backend.h"
#include "wal/io/io_pwrite.h"
#include "wal/io/io_uring_backend.h"

namespace sidewal::wal {

std::unique_ptr<IoBackend> make_backend(BackendKind kind, std::string* why) {
  std::string ignored;
  std::string& reason = why ? *why : ignored;
  if (kind == BackendKind::kPwrite) {
    reason = "pwrite: chosen by configuration";
    return std::make_unique<PwriteBackend>();
  }
  auto uring = UringBackend::create();
  if (uring.ok()) {
    reason = "io_uring: ok";
    return std::move(uring).value();
  }
  const std::string detail = uring.status().message();
  if (kind == BackendKind::kUring) {
    reason = "io_uring unavailable (" + detail + ") and required by configuration";
    return nullptr;
  }
  reason = "io_uring unavailable (" + detail + "), using pwrite";
  return std::make_unique<PwriteBackend>();
}

}  // namespace sidewal::wal
