// A scratch directory for one test, removed with its contents on destruction.
#pragma once

#include <string>

namespace sidewal::test {

class TempDir {
 public:
  // mkdtemp("<parent>/<prefix>XXXXXX"); throws std::runtime_error when it
  // fails. The default parent, /tmp, keeps paths short: a Unix socket's path
  // is at most 107 bytes. Tests that need O_DIRECT to reach a device pass a
  // directory on a real filesystem (the build tree: /tmp may be tmpfs).
  explicit TempDir(const std::string& prefix = "sidewal-test-", const std::string& parent = "/tmp");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path()/name
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A TempDir below the current directory (ctest runs each test in the build
// tree), for tests whose files must be on the build tree's filesystem.
class BuildTreeTempDir : public TempDir {
 public:
  explicit BuildTreeTempDir(const std::string& prefix);
};

}  // namespace sidewal::test
