// Names the calling thread (what `top -H`, `ps -L`, perf and gdb show), so an
// operator can tell the flusher from a socket thread. Linux keeps 15
// characters; longer names are cut there. Best effort: a name is never worth
// failing for.
#pragma once

#include <pthread.h>

#include <string>

namespace sidewal {

inline void set_thread_name(const std::string& name) {
  (void)pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

}  // namespace sidewal
