// The C ABI's error path: a Status (or an exception) becomes an int code
// (include/sidewal/sidewal.h) and a thread-local message for
// sidewal_errmsg(). Internal to libsidewal.
#pragma once

#include <exception>
#include <new>
#include <string>

#include "common/status.h"
#include "sidewal/sidewal.h"

namespace sidewal::capi {

// The C code of a client Status: the protocol code of a daemon refusal
// (also of the client's own RECORD_TOO_LARGE), else the local code its
// sidewal::Code stands for.
int code_for(const Status& status) noexcept;

// Records `message` as this thread's last error and returns `code`.
int fail(int code, const std::string& message) noexcept;
int fail(int code, const char* message) noexcept;
int fail_status(const Status& status) noexcept;

// Runs `body` (returning an int code) so that no exception leaves it.
template <typename Body>
int guarded(Body&& body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return fail(SIDEWAL_ERR_NO_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return fail(SIDEWAL_ERR_INTERNAL, e.what());
  } catch (...) {
    return fail(SIDEWAL_ERR_INTERNAL, "unknown exception inside libsidewal");
  }
}

}  // namespace sidewal::capi
