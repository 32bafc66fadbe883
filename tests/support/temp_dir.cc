#include "tests/support/temp_dir.h"

#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace sidewal::test {

TempDir::TempDir(const std::string& prefix, const std::string& parent) {
  std::string templ = parent + "/" + prefix + "XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) {
    throw std::runtime_error("mkdtemp " + templ + ": " + std::strerror(errno));
  }
  path_ = templ;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

BuildTreeTempDir::BuildTreeTempDir(const std::string& prefix)
    : TempDir(prefix, std::filesystem::current_path().string()) {}

}  // namespace sidewal::test
