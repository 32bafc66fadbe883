// Names threads (what `top -H`, `ps -L`, perf and gdb show), so an operator
// can tell the flusher from a socket thread. Linux keeps 15 characters;
// longer names are cut there. Best effort: a name is never worth failing for.
#pragma once

#include <pthread.h>

#include <string>
#include <thread>

namespace sidewal {

// Names `t` from the thread that started it, so the name is set before the
// starter goes on (a thread naming itself might not have run yet).
inline void name_thread(std::thread& t, const std::string& name) {
  (void)pthread_setname_np(t.native_handle(), name.substr(0, 15).c_str());
}

// Names the calling thread (for threads started by a library, e.g. a pool).
inline void name_this_thread(const std::string& name) {
  (void)pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

}  // namespace sidewal
