// How many threads of a process bear each name (/proc/<pid>/task/*/comm):
// what the thread-name tests of the engine and the daemon read.
#pragma once

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

namespace sidewal::test {

// `proc` is "/proc/self" or "/proc/<pid>".
inline std::map<std::string, int> thread_names(const std::string& proc) {
  std::map<std::string, int> names;
  for (const auto& task : std::filesystem::directory_iterator(proc + "/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    if (std::getline(comm, name)) ++names[name];
  }
  return names;
}

}  // namespace sidewal::test
