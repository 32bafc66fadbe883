#include "server/page_cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace sidewal::server {

Result<uint64_t> meminfo_cached_bytes(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound(path + ": cannot be opened");
  std::string line;
  while (std::getline(in, line)) {
    // "Cached:          1234567 kB"
    if (line.rfind("Cached:", 0) != 0) continue;
    std::istringstream fields(line.substr(7));
    uint64_t kib = 0;
    std::string unit;
    if (!(fields >> kib >> unit) || unit != "kB") {
      return Status::Corruption(path + ": cannot parse '" + line + "' (expected 'Cached: <n> kB')");
    }
    return kib * 1024;
  }
  return Status::NotFound(path + ": no Cached: line");
}

uint64_t resident_bytes(const std::vector<std::string>& files) {
  const long page = sysconf(_SC_PAGESIZE);
  uint64_t total = 0;
  std::vector<unsigned char> vec;
  for (const std::string& f : files) {
    int fd = ::open(f.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    struct stat st {};
    if (fstat(fd, &st) == 0 && st.st_size > 0) {
      const size_t len = static_cast<size_t>(st.st_size);
      void* map = mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, 0);
      if (map != MAP_FAILED) {
        vec.assign((len + page - 1) / page, 0);
        if (mincore(map, len, vec.data()) == 0) {
          for (unsigned char v : vec) {
            if (v & 1) total += static_cast<uint64_t>(page);
          }
        }
        munmap(map, len);
      }
    }
    ::close(fd);
  }
  return total;
}

}  // namespace sidewal::server
