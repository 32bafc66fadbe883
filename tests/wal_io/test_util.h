// Helpers for the IoBackend tests: a scratch directory on the same filesystem
// as the build tree (ext4 here, so O_DIRECT really goes to the device).
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

namespace sidewal::wal::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::current_path() / "wal_io_tmp.XXXXXX").string();
    char* p = ::mkdtemp(tmpl.data());
    if (p == nullptr) ADD_FAILURE() << "mkdtemp " << tmpl << " failed";
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace sidewal::wal::testing
