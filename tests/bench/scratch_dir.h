// A directory of the test's own under $TMPDIR (else /tmp), removed with
// everything in it at the end; `path` is empty if it could not be made.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>

namespace sidewal::bench {

struct ScratchDir {
  std::string path;
  explicit ScratchDir(const std::string& name) {
    const char* env = ::getenv("TMPDIR");
    std::string t =
        std::string(env != nullptr && *env != '\0' ? env : "/tmp") + "/" + name + ".XXXXXX";
    if (::mkdtemp(t.data()) != nullptr) path = t;
  }
  ~ScratchDir() {
    if (!path.empty()) std::filesystem::remove_all(path);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
};

}  // namespace sidewal::bench
