/* libsidewal: the C ABI of the sidewal client (protocol v1, docs/protocol.md).
 *
 * For databases written in C, or in any language that links C (Go's cgo,
 * Java's FFM, Zig, ...). It is a thin layer over the C++ client
 * (src/client/client.h): one implementation of the protocol, so the C ABI
 * gets the same connection handling, limits and pipelining. docs/sdk.md has
 * the installed layout and how to link (pkg-config sidewal, or CMake
 * find_package(sidewal) and sidewal::sidewal_c).
 *
 * C99. No C++ type and no exception crosses this boundary; every function
 * catches what the C++ side throws (std::bad_alloc -> SIDEWAL_ERR_NO_MEMORY).
 *
 * Errors: every function that can fail returns an int: SIDEWAL_OK (0), or an
 * error code below. The message of the last failure on the calling thread is
 * sidewal_errmsg() (thread-local, like errno or libgit2's git_error_last: a
 * message needs no handle, so a failed connect has one too, and threads
 * sharing a client never see each other's).
 *
 * Threads: a sidewal_client_t is one connection to sidewald (reconnected on
 * the next call after it broke) with one reader thread of its own. Unless a
 * function says otherwise, it may be called from any number of threads at
 * once on the same client: their requests are pipelined on the connection.
 * Callbacks run where each function says; those that run on the client's
 * reader thread must be quick and must not call the client's blocking
 * functions (they return SIDEWAL_ERR_BUSY there) nor sidewal_close().
 *
 * Broken connections: when the connection fails (daemon restarted or
 * killed), every request in flight fails with SIDEWAL_ERR_CLOSED and IS NOT
 * RESENT: an APPEND that got no acknowledgement may or may not be durable;
 * READ from the last acknowledged LSN to find out. The next call reconnects
 * (retrying for up to connect_timeout_ms).
 */
#ifndef SIDEWAL_SIDEWAL_H_
#define SIDEWAL_SIDEWAL_H_

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define SIDEWAL_API __attribute__((visibility("default")))
#else
#define SIDEWAL_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI this header describes. It changes (and with it the shared
 * library's SONAME, libsidewal.so.<ABI>) only when a function, struct or
 * code changes incompatibly; additions keep it. Compare it with
 * sidewal_abi_version(), the ABI of the library actually loaded. */
#define SIDEWAL_ABI_VERSION 1

/* Thread-safe. The SIDEWAL_ABI_VERSION the library was built with. */
SIDEWAL_API int sidewal_abi_version(void);
/* Thread-safe. The sidewal release, "MAJOR.MINOR.PATCH" (static storage). */
SIDEWAL_API const char* sidewal_version(void);

/* ---- Error codes. 1..999 are the protocol's ERROR codes
 * (docs/protocol.md, "0xFF ERROR"), with the same numbers: the daemon
 * refused the request. A code a newer daemon sends that this library does not
 * name is returned as its number. 1000 and up are local: nothing was
 * refused by the daemon. */
enum {
  SIDEWAL_OK = 0,
  SIDEWAL_ERR_MALFORMED = 1,
  SIDEWAL_ERR_FRAME_TOO_LARGE = 2,
  SIDEWAL_ERR_UNKNOWN_OPCODE = 3,
  SIDEWAL_ERR_UNSUPPORTED_VERSION = 4,
  SIDEWAL_ERR_NOT_READY = 5, /* the daemon is still recovering: retry later */
  SIDEWAL_ERR_IO_FAILED = 6, /* the log is fail-stopped */
  SIDEWAL_ERR_NO_SPACE = 7,
  SIDEWAL_ERR_LSN_TRUNCATED = 8,
  SIDEWAL_ERR_UNAUTHORIZED = 9,
  /* Also returned before anything is sent, when a record or batch is above
   * the limits the daemon advertised (the message says so). */
  SIDEWAL_ERR_RECORD_TOO_LARGE = 10,
  SIDEWAL_ERR_RESERVED_RECORD_TYPE = 11,

  /* Could not connect within connect_timeout_ms (no socket file, refused,
   * permission denied): the message has the path and the system error. */
  SIDEWAL_ERR_CONNECT = 1000,
  /* The connection broke (or the daemon broke the protocol: the message
   * says which), or the client was shut down. See "Broken connections". */
  SIDEWAL_ERR_CLOSED = 1001,
  /* A bad argument: NULL pointer, empty batch, read flags that do not
   * exist, a batch above the frame limit, a socket path too long. */
  SIDEWAL_ERR_INVALID_ARGUMENT = 1002,
  /* A blocking call from a callback running on the client's reader thread
   * (it would wait for that very thread). */
  SIDEWAL_ERR_BUSY = 1003,
  /* sidewal_wait_appends() ran out of time. */
  SIDEWAL_ERR_TIMEOUT = 1004,
  SIDEWAL_ERR_NO_MEMORY = 1005,
  /* An unexpected failure inside the library (a bug: please report it). */
  SIDEWAL_ERR_INTERNAL = 1006
};

/* Thread-safe. "RECORD_TOO_LARGE", "CONNECT", ... (static storage);
 * "UNKNOWN_ERROR" for a number that names no code. */
SIDEWAL_API const char* sidewal_code_name(int code);
/* Thread-safe. The message of the last call on this thread that returned an
 * error ("" before any). Successful calls leave it as it was. The pointer is
 * valid until the next sidewal_* call on this thread. A daemon refusal reads
 * "daemon error <NAME> (<code>): <the daemon's message>". */
SIDEWAL_API const char* sidewal_errmsg(void);

/* ---- Connecting. */

typedef struct sidewal_client sidewal_client_t; /* opaque */

typedef struct sidewal_options {
  /* Required. The daemon's Unix socket (socket.path in sidewal.yaml). */
  const char* socket_path;
  /* Optional (NULL): a name for the daemon's logs, sent in HELLO. */
  const char* client_name;
  /* How long a (re)connect keeps retrying; 0: 5000. */
  uint32_t connect_timeout_ms;
  /* Bytes of encoded requests waiting for the socket beyond which
   * sidewal_append_async() blocks until the socket drains (backpressure);
   * 0: 64 MiB. */
  uint32_t max_queued_bytes;
} sidewal_options_t;

/* Thread-safe. Fills *options with the defaults (every field 0 or NULL). */
SIDEWAL_API void sidewal_options_init(sidewal_options_t* options);

/* Thread-safe. Connects (retrying until connect_timeout_ms), asks the
 * daemon for its limits, and stores a new client in *out (NULL on error).
 * The daemon may still be recovering: calls then fail with NOT_READY. */
SIDEWAL_API int sidewal_connect(const sidewal_options_t* options, sidewal_client_t** out);

/* Fails every request in flight (their callbacks run, with
 * SIDEWAL_ERR_CLOSED), closes the socket, joins the reader thread and frees
 * the client. NULL is ignored. NOT thread-safe: no other call on this client
 * may be running or start; never from one of its callbacks. */
SIDEWAL_API void sidewal_close(sidewal_client_t* client);

/* Thread-safe, also from another thread during a blocking call (to end a
 * sidewal_follow(), say). Fails everything in flight with
 * SIDEWAL_ERR_CLOSED; every later call on the client returns it. The client
 * must still be freed with sidewal_close(). Not from one of its callbacks. */
SIDEWAL_API void sidewal_shutdown(sidewal_client_t* client);

/* ---- Appending. */

/* One record to append. The payload is copied before the call returns. */
typedef struct sidewal_record_in {
  uint16_t type;   /* 0x0000-0x7FFF application; 0x8001-0x8003 control records */
  uint32_t tenant; /* opaque to the log */
  const void* payload;
  size_t payload_len; /* may be 0 (payload may then be NULL) */
} sidewal_record_in_t;

/* Thread-safe. Blocking: appends one record and returns once it is durable;
 * its LSN in *lsn (may be NULL). */
SIDEWAL_API int sidewal_append(sidewal_client_t* client, uint16_t type, uint32_t tenant,
                               const void* payload, size_t payload_len, uint64_t* lsn);

/* Thread-safe. Blocking: appends `count` (>= 1) records atomically (all or
 * none survive a crash, with consecutive LSNs) and returns once they are
 * durable; the first LSN in *first_lsn (may be NULL): record i has
 * *first_lsn + i. */
SIDEWAL_API int sidewal_append_batch(sidewal_client_t* client, const sidewal_record_in_t* records,
                                     size_t count, uint64_t* first_lsn);

/* Completion of sidewal_append_async(): code SIDEWAL_OK with the batch's
 * first LSN and its record count, or an error code and its message (valid
 * only during the call; NULL when ok). */
typedef void (*sidewal_append_done_fn)(void* ctx, int code, const char* message, uint64_t first_lsn,
                                       uint32_t count);

/* Thread-safe. Pipelined: queues an APPEND of `count` records (copied before
 * the call returns) and returns without waiting; `done` runs exactly once,
 * later, on the client's reader thread. APPENDs sent from one thread are
 * acknowledged in the order they were sent, so their LSNs increase in
 * that order. Keeping many in flight is how throughput is made: one
 * fdatasync acknowledges every APPEND that arrived meanwhile. Blocks only
 * for backpressure (max_queued_bytes) or to reconnect. On an error return
 * `done` never runs. `done` may call sidewal_append_async() again. */
SIDEWAL_API int sidewal_append_async(sidewal_client_t* client, const sidewal_record_in_t* records,
                                     size_t count, sidewal_append_done_fn done, void* ctx);

/* Thread-safe. Blocking: waits until no sidewal_append_async() of this
 * client (from any thread) is in flight, i.e. every accepted one has run
 * its `done`, or timeout_ms passed (SIDEWAL_ERR_TIMEOUT). Not from a
 * callback. */
SIDEWAL_API int sidewal_wait_appends(sidewal_client_t* client, uint32_t timeout_ms);

/* Thread-safe. sidewal_append_async() calls whose `done` has not run yet. */
SIDEWAL_API uint64_t sidewal_appends_in_flight(sidewal_client_t* client);

/* ---- Reading. */

/* A record read back. payload points into the library's memory and is valid
 * only during the callback; with SIDEWAL_READ_HEADER_ONLY it is NULL and
 * payload_len is the stored length. flags are the log's record flags
 * (docs/format.md; clients may ignore them). */
typedef struct sidewal_record {
  uint64_t lsn;
  uint16_t type;
  uint16_t flags;
  uint32_t tenant;
  const uint8_t* payload;
  uint32_t payload_len;
} sidewal_record_t;

/* Return 0 to go on, non-zero to stop after this record. */
typedef int (*sidewal_record_fn)(void* ctx, const sidewal_record_t* record);

/* READ flags (docs/protocol.md "READ flags"); 0 is a plain READ. */
#define SIDEWAL_READ_SKIP_DEAD 0x01u   /* omit records dead by collection tombstone */
#define SIDEWAL_READ_HEADER_ONLY 0x02u /* records without their payload bytes */

/* Thread-safe. Blocking: one READ of durable records from from_lsn (>= 1),
 * stopping at max_records (0: no limit), at max_bytes of payload (0: the
 * daemon's default, 16 MiB) or at the durable end. `fn` runs for each record
 * on the CALLING thread, after the READ ended, so it may call anything on the
 * client. *next_lsn (may be NULL) is where to resume: after the last record
 * `fn` saw when it stopped, else the daemon's END. Read a whole log by
 * calling again from *next_lsn until it does not move. */
SIDEWAL_API int sidewal_read(sidewal_client_t* client, uint64_t from_lsn, uint32_t max_records,
                             uint32_t max_bytes, unsigned flags, sidewal_record_fn fn, void* ctx,
                             uint64_t* next_lsn);

/* Thread-safe. Blocking: follows the log from from_lsn, calling `fn` for each
 * record as it becomes durable, on the client's READER thread (so `fn` must
 * not make blocking calls on this client), until `fn` returns non-zero
 * (SIDEWAL_OK), the connection breaks, or sidewal_shutdown() from another
 * thread (SIDEWAL_ERR_CLOSED). *next_lsn (may be NULL) is set either way:
 * the LSN after the last record `fn` saw. */
SIDEWAL_API int sidewal_follow(sidewal_client_t* client, uint64_t from_lsn, unsigned flags,
                               sidewal_record_fn fn, void* ctx, uint64_t* next_lsn);

/* ---- Status and truncation. */

typedef struct sidewal_status {
  uint64_t first_lsn;     /* lowest LSN still in the log */
  uint64_t durable_lsn;   /* highest durable LSN (0: empty log) */
  uint64_t segments;      /* segment files */
  uint64_t bytes_on_disk; /* their total size */
  uint8_t state;          /* 0 recovering, 1 ready, 2 failed (fail-stopped) */
} sidewal_status_t;

/* Thread-safe. Blocking. Answered also while the daemon recovers. */
SIDEWAL_API int sidewal_status(sidewal_client_t* client, sidewal_status_t* out);

/* Thread-safe. Blocking: tells the daemon that records below before_lsn are
 * no longer needed; it deletes every whole segment holding only such records
 * (some may survive in a segment shared with newer ones). *first_lsn (may be
 * NULL): the first LSN still in the log afterwards. */
SIDEWAL_API int sidewal_truncate(sidewal_client_t* client, uint64_t before_lsn,
                                 uint64_t* first_lsn);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SIDEWAL_SIDEWAL_H_ */
