// libsidewal: include/sidewal/sidewal.h over the C++ client (src/client).
// Every exported function is noexcept and goes through guarded(): nothing
// the C++ side throws reaches a C caller. Errors become an int code plus a
// thread-local message (capi/errors.h).
#include "sidewal/sidewal.h"

#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "capi/errors.h"
#include "client/client.h"
#include "common/mutex.h"

#ifndef SIDEWAL_VERSION_STRING
#error "SIDEWAL_VERSION_STRING comes from the build (src/capi/CMakeLists.txt)"
#endif

using sidewal::Mutex;
using sidewal::MutexLock;
using sidewal::capi::fail;
using sidewal::capi::fail_status;
using sidewal::capi::guarded;
namespace client = sidewal::client;

// The opaque handle. Counts the pipelined APPENDs whose completion has not
// run yet, for sidewal_wait_appends().
struct sidewal_client {
  std::unique_ptr<client::Client> cc;
  Mutex mu;
  sidewal::CondVar idle_cv;  // appends_in_flight reached 0
  uint64_t appends_in_flight GUARDED_BY(mu) = 0;

  void begin_append() EXCLUDES(mu) {
    MutexLock lk(mu);
    ++appends_in_flight;
  }
  void end_append() EXCLUDES(mu) {
    MutexLock lk(mu);
    if (--appends_in_flight == 0) idle_cv.notify_all();
  }
};

namespace {

int check_client(const sidewal_client_t* c) {
  return c == nullptr || c->cc == nullptr
             ? fail(SIDEWAL_ERR_INVALID_ARGUMENT, "sidewal client is NULL")
             : SIDEWAL_OK;
}

// The C records as the C++ client's views (which it copies before returning).
int to_records(const sidewal_record_in_t* in, size_t count, std::vector<client::RecordIn>* out) {
  if (count == 0) return fail(SIDEWAL_ERR_INVALID_ARGUMENT, "APPEND needs at least one record");
  if (in == nullptr) return fail(SIDEWAL_ERR_INVALID_ARGUMENT, "records is NULL");
  out->clear();
  out->reserve(count);
  for (size_t i = 0; i < count; ++i) {
    const sidewal_record_in_t& r = in[i];
    if (r.payload == nullptr && r.payload_len != 0) {
      return fail(SIDEWAL_ERR_INVALID_ARGUMENT, "record " + std::to_string(i) +
                                                    ": payload is NULL with payload_len " +
                                                    std::to_string(r.payload_len));
    }
    // The wire's payload_len is a u32; the daemon's own limit is far below.
    if (r.payload_len > UINT32_MAX) {
      return fail(SIDEWAL_ERR_RECORD_TOO_LARGE,
                  "record " + std::to_string(i) + ": payload_len " + std::to_string(r.payload_len) +
                      " does not fit the protocol's 32-bit length; nothing was sent");
    }
    client::RecordIn rec;
    rec.type = r.type;
    rec.tenant = r.tenant;
    rec.payload = {static_cast<const uint8_t*>(r.payload), r.payload_len};
    out->push_back(rec);
  }
  return SIDEWAL_OK;
}

int read_options(unsigned flags, client::ReadOptions* out) {
  if ((flags & ~(SIDEWAL_READ_SKIP_DEAD | SIDEWAL_READ_HEADER_ONLY)) != 0) {
    return fail(
        SIDEWAL_ERR_INVALID_ARGUMENT,
        "READ flags " + std::to_string(flags) +
            ": only SIDEWAL_READ_SKIP_DEAD (0x01) and SIDEWAL_READ_HEADER_ONLY (0x02) exist");
  }
  out->skip_dead = (flags & SIDEWAL_READ_SKIP_DEAD) != 0;
  out->header_only = (flags & SIDEWAL_READ_HEADER_ONLY) != 0;
  return SIDEWAL_OK;
}

sidewal_record_t to_c(uint64_t lsn, uint16_t type, uint16_t flags, uint32_t tenant,
                      const uint8_t* payload, uint32_t payload_len, bool header_only) {
  sidewal_record_t r;
  r.lsn = lsn;
  r.type = type;
  r.flags = flags;
  r.tenant = tenant;
  r.payload = header_only ? nullptr : payload;
  r.payload_len = payload_len;
  return r;
}

}  // namespace

extern "C" {

int sidewal_abi_version(void) { return SIDEWAL_ABI_VERSION; }

const char* sidewal_version(void) { return SIDEWAL_VERSION_STRING; }

void sidewal_options_init(sidewal_options_t* options) {
  if (options != nullptr) std::memset(options, 0, sizeof *options);
}

int sidewal_connect(const sidewal_options_t* options, sidewal_client_t** out) {
  return guarded([&]() -> int {
    if (out == nullptr) return fail(SIDEWAL_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = nullptr;
    if (options == nullptr || options->socket_path == nullptr) {
      return fail(SIDEWAL_ERR_INVALID_ARGUMENT, "options->socket_path is required");
    }
    client::ClientOptions o;
    o.socket_path = options->socket_path;
    if (options->client_name != nullptr) o.name = options->client_name;
    if (options->connect_timeout_ms != 0) {
      o.connect_timeout = std::chrono::milliseconds(options->connect_timeout_ms);
    }
    if (options->max_queued_bytes != 0) o.max_queued_bytes = options->max_queued_bytes;
    auto c = std::make_unique<sidewal_client>();
    auto cc = client::Client::connect(o);
    if (!cc.ok()) {
      // Anything but a daemon refusal or a bad path is "could not connect":
      // the C++ client reports the last connect() errno as its own code.
      const sidewal::Status& st = cc.status();
      if (st.remote_code() != 0 || st.code() == sidewal::Code::kInvalidArgument ||
          st.code() == sidewal::Code::kClosed) {
        return fail_status(st);
      }
      return fail(SIDEWAL_ERR_CONNECT, st.message());
    }
    c->cc = std::move(cc.value());
    *out = c.release();
    return SIDEWAL_OK;
  });
}

void sidewal_close(sidewal_client_t* client) {
  // close() fails what is in flight (their callbacks run) and joins the
  // reader thread before the handle they use is freed.
  (void)guarded([&]() -> int {
    if (client == nullptr) return SIDEWAL_OK;
    if (client->cc) client->cc->close();
    delete client;
    return SIDEWAL_OK;
  });
}

void sidewal_shutdown(sidewal_client_t* client) {
  (void)guarded([&]() -> int {
    if (check_client(client) != SIDEWAL_OK) return SIDEWAL_ERR_INVALID_ARGUMENT;
    client->cc->close();
    return SIDEWAL_OK;
  });
}

int sidewal_append(sidewal_client_t* client, uint16_t type, uint32_t tenant, const void* payload,
                   size_t payload_len, uint64_t* lsn) {
  sidewal_record_in_t r;
  r.type = type;
  r.tenant = tenant;
  r.payload = payload;
  r.payload_len = payload_len;
  return sidewal_append_batch(client, &r, 1, lsn);
}

int sidewal_append_batch(sidewal_client_t* client, const sidewal_record_in_t* records, size_t count,
                         uint64_t* first_lsn) {
  return guarded([&]() -> int {
    if (int rc = check_client(client)) return rc;
    std::vector<client::RecordIn> recs;
    if (int rc = to_records(records, count, &recs)) return rc;
    auto r = client->cc->append(recs);
    if (!r.ok()) return fail_status(r.status());
    if (first_lsn != nullptr) *first_lsn = r.value();
    return SIDEWAL_OK;
  });
}

int sidewal_append_async(sidewal_client_t* client, const sidewal_record_in_t* records, size_t count,
                         sidewal_append_done_fn done, void* ctx) {
  return guarded([&]() -> int {
    if (int rc = check_client(client)) return rc;
    if (done == nullptr) return fail(SIDEWAL_ERR_INVALID_ARGUMENT, "done is NULL");
    std::vector<client::RecordIn> recs;
    if (int rc = to_records(records, count, &recs)) return rc;
    // Counted before it can complete, so a waiter never sees 0 in between.
    client->begin_append();
    sidewal_client* c = client;
    sidewal::Status st = client->cc->append_async(recs, [c, done, ctx](const sidewal::Status& s,
                                                                       uint64_t first, uint32_t n) {
      if (s.ok()) {
        done(ctx, SIDEWAL_OK, nullptr, first, n);
      } else {
        done(ctx, sidewal::capi::code_for(s), s.message().c_str(), 0, 0);
      }
      c->end_append();
    });
    if (!st.ok()) {
      client->end_append();  // refused: the callback never runs
      return fail_status(st);
    }
    return SIDEWAL_OK;
  });
}

int sidewal_wait_appends(sidewal_client_t* client, uint32_t timeout_ms) {
  return guarded([&]() -> int {
    if (int rc = check_client(client)) return rc;
    MutexLock lk(client->mu);
    const bool idle = client->idle_cv.wait_for(client->mu, std::chrono::milliseconds(timeout_ms),
                                               [&]() REQUIRES(client->mu) {
                                                 return client->appends_in_flight == 0;
                                               });
    if (idle) return SIDEWAL_OK;
    return fail(SIDEWAL_ERR_TIMEOUT, std::to_string(client->appends_in_flight) +
                                         " pipelined APPENDs still in flight after " +
                                         std::to_string(timeout_ms) + " ms");
  });
}

uint64_t sidewal_appends_in_flight(sidewal_client_t* client) {
  uint64_t n = 0;
  (void)guarded([&]() -> int {
    if (int rc = check_client(client)) return rc;
    MutexLock lk(client->mu);
    n = client->appends_in_flight;
    return SIDEWAL_OK;
  });
  return n;
}

int sidewal_read(sidewal_client_t* client, uint64_t from_lsn, uint32_t max_records,
                 uint32_t max_bytes, unsigned flags, sidewal_record_fn fn, void* ctx,
                 uint64_t* next_lsn) {
  return guarded([&]() -> int {
    if (int rc = check_client(client)) return rc;
    client::ReadOptions opts;
    if (int rc = read_options(flags, &opts)) return rc;
    if (from_lsn == 0) return fail(SIDEWAL_ERR_INVALID_ARGUMENT, "READ from_lsn must be >= 1");
    auto r = client->cc->read(from_lsn, max_records, max_bytes, opts);
    if (!r.ok()) return fail_status(r.status());
    // The records are owned copies: fn runs here, on the caller's thread.
    uint64_t next = r->next_lsn;
    if (fn != nullptr) {
      for (const client::Record& rec : r->records) {
        const sidewal_record_t c = to_c(rec.lsn, rec.type, rec.flags, rec.tenant,
                                        rec.payload.data(), rec.payload_len, opts.header_only);
        if (fn(ctx, &c) != 0) {
          next = rec.lsn + 1;
          break;
        }
      }
    }
    if (next_lsn != nullptr) *next_lsn = next;
    return SIDEWAL_OK;
  });
}

int sidewal_follow(sidewal_client_t* client, uint64_t from_lsn, unsigned flags,
                   sidewal_record_fn fn, void* ctx, uint64_t* next_lsn) {
  return guarded([&]() -> int {
    if (next_lsn != nullptr) *next_lsn = from_lsn;
    if (int rc = check_client(client)) return rc;
    if (fn == nullptr) return fail(SIDEWAL_ERR_INVALID_ARGUMENT, "fn is NULL");
    client::ReadOptions opts;
    if (int rc = read_options(flags, &opts)) return rc;
    if (from_lsn == 0) return fail(SIDEWAL_ERR_INVALID_ARGUMENT, "READ from_lsn must be >= 1");
    // Written by the reader thread's callback, read here after tail()
    // returned (its completion hands over through the client's waiter).
    uint64_t next = from_lsn;
    bool stopped = false;
    auto r = client->cc->tail(
        from_lsn,
        [&](std::span<const sidewal::proto::ReadRecord> recs) {
          for (const auto& rec : recs) {
            if (stopped) return false;  // the rest of a frame after a stop
            const sidewal_record_t c = to_c(rec.lsn, rec.type, rec.flags, rec.tenant,
                                            rec.payload.data(), rec.payload_len, opts.header_only);
            next = rec.lsn + 1;
            stopped = fn(ctx, &c) != 0;
          }
          return !stopped;
        },
        opts);
    if (next_lsn != nullptr) *next_lsn = next;
    if (!r.ok()) return fail_status(r.status());
    return SIDEWAL_OK;
  });
}

int sidewal_status(sidewal_client_t* client, sidewal_status_t* out) {
  return guarded([&]() -> int {
    if (int rc = check_client(client)) return rc;
    if (out == nullptr) return fail(SIDEWAL_ERR_INVALID_ARGUMENT, "out is NULL");
    auto r = client->cc->status();
    if (!r.ok()) return fail_status(r.status());
    std::memset(out, 0, sizeof *out);
    out->first_lsn = r->first_lsn;
    out->durable_lsn = r->durable_lsn;
    out->segments = r->segments;
    out->bytes_on_disk = r->bytes_on_disk;
    out->state = r->state;
    return SIDEWAL_OK;
  });
}

int sidewal_truncate(sidewal_client_t* client, uint64_t before_lsn, uint64_t* first_lsn) {
  return guarded([&]() -> int {
    if (int rc = check_client(client)) return rc;
    auto r = client->cc->truncate(before_lsn);
    if (!r.ok()) return fail_status(r.status());
    if (first_lsn != nullptr) *first_lsn = r.value();
    return SIDEWAL_OK;
  });
}

}  // extern "C"
