/* libsidewal's C ABI against the real daemon, compiled as C99 (so the header
 * is checked as a C user sees it): capi_test <sidewald>.
 *
 * Starts sidewald on a temp directory with small segments (1 MiB) and a
 * small record limit (256 KiB, so the limits come from the daemon, not the
 * defaults), waits for it by polling STATUS with a deadline, then checks
 * append / read byte for byte, follow, status, truncate, a pipelined append
 * whose completions come in LSN order, and the error codes and messages. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sidewal/sidewal.h"

static int failures = 0;

#define CHECK(cond)                                                                            \
  do {                                                                                         \
    if (!(cond)) {                                                                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s (last error: %s)\n", __FILE__, __LINE__, #cond, \
              sidewal_errmsg());                                                               \
      ++failures;                                                                              \
    }                                                                                          \
  } while (0)
/* The call must succeed; else the rest of the test cannot run. */
#define REQUIRE_OK(call)                                                             \
  do {                                                                               \
    int rc_ = (call);                                                                \
    if (rc_ != SIDEWAL_OK) {                                                         \
      fprintf(stderr, "%s:%d: %s returned %s (%d): %s\n", __FILE__, __LINE__, #call, \
              sidewal_code_name(rc_), rc_, sidewal_errmsg());                        \
      exit(1);                                                                       \
    }                                                                                \
  } while (0)

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- The daemon. */

static char dir[] = "/tmp/swcapi-XXXXXX";
static char socket_path[128];
static pid_t daemon_pid = -1;

/* On an early exit (REQUIRE_OK): the daemon's log, and no daemon left behind. */
static void kill_daemon_at_exit(void) {
  char cmd[200];
  if (daemon_pid <= 0) return;
  kill(daemon_pid, SIGKILL);
  waitpid(daemon_pid, NULL, 0);
  snprintf(cmd, sizeof cmd, "tail -n 40 %s/sidewald.log >&2; rm -rf %s", dir, dir);
  if (system(cmd) != 0) fprintf(stderr, "could not show the daemon's log\n");
}

static void start_daemon(const char* daemon) {
  char data[128], config[128], log[128];
  if (mkdtemp(dir) == NULL) {
    perror("mkdtemp");
    exit(1);
  }
  snprintf(socket_path, sizeof socket_path, "%s/s.sock", dir);
  snprintf(data, sizeof data, "%s/data", dir);
  snprintf(config, sizeof config, "%s/sidewal.yaml", dir);
  snprintf(log, sizeof log, "%s/sidewald.log", dir);
  FILE* f = fopen(config, "w");
  if (f == NULL) {
    perror("fopen config");
    exit(1);
  }
  fputs("wal:\n  segment_bytes: 1MiB\n  max_record_bytes: 256KiB\n", f);
  fclose(f);
  atexit(kill_daemon_at_exit);
  const pid_t parent = getpid();
  daemon_pid = fork();
  if (daemon_pid < 0) {
    perror("fork");
    exit(1);
  }
  if (daemon_pid == 0) {
    /* A test that crashes (no atexit) takes its daemon with it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1); /* the test died before prctl */
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execl(daemon, daemon, "--config", config, "--data-dir", data, "--socket", socket_path,
          "--admin", "127.0.0.1:0", (char*)NULL);
    perror("execl sidewald");
    _exit(127);
  }
}

static int remove_entry(const char* path, const struct stat* st, int flag, struct FTW* ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static void stop_daemon(void) {
  int status = 0;
  if (daemon_pid > 0) {
    kill(daemon_pid, SIGTERM);
    /* Blocks until it exits; ctest's timeout bounds a daemon that hangs. */
    if (waitpid(daemon_pid, &status, 0) == daemon_pid) {
      CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    daemon_pid = -1;
  }
  nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Connects (the client retries while the socket does not exist yet) and
 * polls STATUS until the daemon has recovered, within a deadline. */
static sidewal_client_t* connect_ready(void) {
  sidewal_options_t o;
  sidewal_options_init(&o);
  o.socket_path = socket_path;
  o.client_name = "capi_test";
  o.connect_timeout_ms = 60000;
  sidewal_client_t* c = NULL;
  REQUIRE_OK(sidewal_connect(&o, &c));
  const double deadline = now_s() + 60;
  for (;;) {
    sidewal_status_t st;
    REQUIRE_OK(sidewal_status(c, &st));
    if (st.state == 1) return c;
    if (now_s() > deadline) {
      fprintf(stderr, "sidewald not ready after 60 s (state %u)\n", st.state);
      exit(1);
    }
    struct timespec pause = {0, 10 * 1000 * 1000};
    nanosleep(&pause, NULL); /* between polls of STATUS, not instead of one */
  }
}

/* ---- Reading back. */

typedef struct {
  sidewal_record_t rec[64];
  unsigned char* payload[64];
  size_t n;
  size_t stop_after; /* 0: never stop */
} collected_t;

static int collect(void* ctx, const sidewal_record_t* r) {
  collected_t* c = (collected_t*)ctx;
  if (c->n < 64) {
    c->rec[c->n] = *r;
    c->payload[c->n] = malloc(r->payload_len ? r->payload_len : 1);
    /* NULL payload with a length: a HEADER_ONLY read. */
    if (r->payload != NULL) memcpy(c->payload[c->n], r->payload, r->payload_len);
    c->rec[c->n].payload = r->payload != NULL ? c->payload[c->n] : NULL;
    c->n++;
  }
  return c->stop_after != 0 && c->n >= c->stop_after;
}

static void collected_free(collected_t* c) {
  size_t i;
  for (i = 0; i < c->n; ++i) free(c->payload[i]);
  c->n = 0;
}

static void test_append_and_read(sidewal_client_t* c) {
  unsigned char binary[256];
  size_t i;
  for (i = 0; i < sizeof binary; ++i) binary[i] = (unsigned char)i; /* every byte value */
  uint64_t lsn = 0, first = 0, next = 0;
  REQUIRE_OK(sidewal_append(c, 7, 42, "hello", 5, &lsn));
  CHECK(lsn >= 1);

  sidewal_record_in_t batch[3] = {
      {1, 100, binary, sizeof binary},
      {2, 200, NULL, 0}, /* an empty payload */
      {0x7FFF, 0xFFFFFFFFu, "z", 1},
  };
  REQUIRE_OK(sidewal_append_batch(c, batch, 3, &first));
  CHECK(first == lsn + 1);

  collected_t got;
  memset(&got, 0, sizeof got);
  REQUIRE_OK(sidewal_read(c, lsn, 0, 0, 0, collect, &got, &next));
  CHECK(got.n == 4);
  CHECK(next == lsn + 4);
  if (got.n == 4) {
    CHECK(got.rec[0].lsn == lsn && got.rec[0].type == 7 && got.rec[0].tenant == 42);
    CHECK(got.rec[0].payload_len == 5 && memcmp(got.rec[0].payload, "hello", 5) == 0);
    for (i = 0; i < 3; ++i) {
      CHECK(got.rec[i + 1].lsn == first + i);
      CHECK(got.rec[i + 1].type == batch[i].type);
      CHECK(got.rec[i + 1].tenant == batch[i].tenant);
      CHECK(got.rec[i + 1].payload_len == batch[i].payload_len);
      CHECK(batch[i].payload_len == 0 ||
            memcmp(got.rec[i + 1].payload, batch[i].payload, batch[i].payload_len) == 0);
    }
  }
  collected_free(&got);

  /* The callback stops after two records: next_lsn resumes after them. */
  got.stop_after = 2;
  REQUIRE_OK(sidewal_read(c, lsn, 0, 0, 0, collect, &got, &next));
  CHECK(got.n == 2 && next == lsn + 2);
  collected_free(&got);

  /* HEADER_ONLY: no payload pointer, the stored length. */
  got.stop_after = 0;
  REQUIRE_OK(sidewal_read(c, first, 1, 0, SIDEWAL_READ_HEADER_ONLY, collect, &got, &next));
  CHECK(got.n == 1 && got.rec[0].payload_len == sizeof binary && next == first + 1);
  CHECK(got.n == 1 && got.rec[0].lsn == first && got.rec[0].payload == NULL);
  collected_free(&got);

  /* Follow from the single record: it is delivered at once; stop there. */
  got.stop_after = 1;
  REQUIRE_OK(sidewal_follow(c, lsn, 0, collect, &got, &next));
  CHECK(got.n == 1 && got.rec[0].lsn == lsn && next == lsn + 1);
  collected_free(&got);
}

/* ---- Following live appends, and a follow ended by sidewal_shutdown(). */

typedef struct {
  sidewal_client_t* client;
  uint64_t from;
  collected_t got;
  uint64_t next;
  int rc;
} follower_t;

static void* follow_thread(void* arg) {
  follower_t* f = (follower_t*)arg;
  f->rc = sidewal_follow(f->client, f->from, 0, collect, &f->got, &f->next);
  return NULL;
}

static void test_follow_live(sidewal_client_t* c) {
  sidewal_status_t st;
  REQUIRE_OK(sidewal_status(c, &st));
  follower_t f;
  memset(&f, 0, sizeof f);
  f.client = connect_ready();
  f.from = st.durable_lsn + 1;
  f.got.stop_after = 3;
  pthread_t t;
  CHECK(pthread_create(&t, NULL, follow_thread, &f) == 0);
  uint64_t lsn = 0;
  int i;
  /* Whether the follow starts before or after these, it sees them. */
  for (i = 0; i < 3; ++i) REQUIRE_OK(sidewal_append(c, 5, 5, "live", 4, &lsn));
  pthread_join(t, NULL);
  CHECK(f.rc == SIDEWAL_OK);
  CHECK(f.got.n == 3 && f.next == lsn + 1);
  CHECK(f.got.n == 3 && f.got.rec[0].lsn == st.durable_lsn + 1 && f.got.rec[2].lsn == lsn);
  collected_free(&f.got);

  /* Nothing more will come: shutdown from this thread ends the follow
   * (before or after it started) with CLOSED. */
  f.from = lsn + 1;
  f.got.stop_after = 0;
  CHECK(pthread_create(&t, NULL, follow_thread, &f) == 0);
  sidewal_shutdown(f.client);
  pthread_join(t, NULL);
  CHECK(f.rc == SIDEWAL_ERR_CLOSED);
  CHECK(f.got.n == 0 && f.next == lsn + 1);
  sidewal_close(f.client);
}

/* ---- Pipelined appends. */

enum { kPipelined = 2000 };

typedef struct {
  pthread_mutex_t mu;
  uint64_t lsn[kPipelined];
  size_t n;
  int errors;
} completions_t;

static void on_done(void* ctx, int code, const char* message, uint64_t first_lsn, uint32_t count) {
  completions_t* c = (completions_t*)ctx;
  pthread_mutex_lock(&c->mu);
  if (code != SIDEWAL_OK || count != 1 || message != NULL) {
    fprintf(stderr, "pipelined append failed: %s (%d): %s\n", sidewal_code_name(code), code,
            message ? message : "");
    c->errors++;
  } else if (c->n < kPipelined) {
    c->lsn[c->n++] = first_lsn;
  }
  pthread_mutex_unlock(&c->mu);
}

static void test_pipelined(sidewal_client_t* c) {
  static completions_t done;
  static char payloads[kPipelined][16];
  size_t i;
  pthread_mutex_init(&done.mu, NULL);
  for (i = 0; i < kPipelined; ++i) {
    int len = snprintf(payloads[i], sizeof payloads[i], "rec-%zu", i);
    sidewal_record_in_t r = {3, 9, payloads[i], (size_t)len};
    REQUIRE_OK(sidewal_append_async(c, &r, 1, on_done, &done));
  }
  REQUIRE_OK(sidewal_wait_appends(c, 120000));
  CHECK(sidewal_appends_in_flight(c) == 0);
  pthread_mutex_lock(&done.mu);
  CHECK(done.errors == 0);
  CHECK(done.n == kPipelined);
  /* Completions ran in the order the APPENDs were sent, with consecutive
   * LSNs: record i is at lsn[0] + i. */
  for (i = 1; i < done.n; ++i) CHECK(done.lsn[i] == done.lsn[0] + i);
  const uint64_t base = done.lsn[0];
  pthread_mutex_unlock(&done.mu);

  /* Each one is there, byte for byte. */
  collected_t got;
  memset(&got, 0, sizeof got);
  uint64_t from = base, next = 0;
  size_t seen = 0;
  while (seen < kPipelined) {
    REQUIRE_OK(sidewal_read(c, from, 64, 0, 0, collect, &got, &next));
    if (got.n == 0) break;
    for (i = 0; i < got.n && seen < kPipelined; ++i, ++seen) {
      CHECK(got.rec[i].lsn == base + seen);
      CHECK(got.rec[i].payload_len == strlen(payloads[seen]) &&
            memcmp(got.rec[i].payload, payloads[seen], got.rec[i].payload_len) == 0);
    }
    collected_free(&got);
    from = next;
  }
  CHECK(seen == kPipelined);
}

/* ---- Status and truncation. */

static void test_status_and_truncate(sidewal_client_t* c) {
  /* ~3 MiB of records over 1 MiB segments: several segments to delete. */
  static unsigned char big[200 * 1024];
  uint64_t lsn = 0, first_after = 0, last = 0;
  int i;
  memset(big, 0xAB, sizeof big);
  for (i = 0; i < 16; ++i) REQUIRE_OK(sidewal_append(c, 1, 1, big, sizeof big, &last));
  REQUIRE_OK(sidewal_append(c, 1, 1, "tail", 4, &lsn));

  sidewal_status_t st;
  REQUIRE_OK(sidewal_status(c, &st));
  CHECK(st.state == 1);
  CHECK(st.durable_lsn >= lsn);
  CHECK(st.first_lsn == 1);
  CHECK(st.segments >= 3);
  CHECK(st.bytes_on_disk > 0);

  REQUIRE_OK(sidewal_truncate(c, lsn, &first_after));
  CHECK(first_after > 1 && first_after <= lsn);
  REQUIRE_OK(sidewal_status(c, &st));
  CHECK(st.first_lsn == first_after);

  /* Below the first LSN: the daemon's LSN_TRUNCATED, with its message. */
  collected_t got;
  memset(&got, 0, sizeof got);
  CHECK(sidewal_read(c, 1, 0, 0, 0, collect, &got, NULL) == SIDEWAL_ERR_LSN_TRUNCATED);
  CHECK(strstr(sidewal_errmsg(), "LSN_TRUNCATED") != NULL);
  collected_free(&got);
}

/* ---- Errors. */

static void test_errors(sidewal_client_t* c) {
  /* One byte above the daemon's max_record_bytes (256 KiB, advertised in
   * HELLO_OK): RECORD_TOO_LARGE, nothing sent. */
  const size_t too_big = 256 * 1024 + 1;
  unsigned char* p = calloc(1, too_big);
  uint64_t lsn = 0;
  CHECK(sidewal_append(c, 1, 1, p, too_big, &lsn) == SIDEWAL_ERR_RECORD_TOO_LARGE);
  CHECK(strstr(sidewal_errmsg(), "RECORD_TOO_LARGE") != NULL);
  CHECK(strstr(sidewal_errmsg(), "262144") != NULL);
  CHECK(strcmp(sidewal_code_name(SIDEWAL_ERR_RECORD_TOO_LARGE), "RECORD_TOO_LARGE") == 0);
  /* At the limit it is accepted. */
  CHECK(sidewal_append(c, 1, 1, p, too_big - 1, &lsn) == SIDEWAL_OK);
  free(p);

  /* A reserved record type: the daemon's refusal, with its code. */
  CHECK(sidewal_append(c, 0x8000, 1, "x", 1, NULL) == SIDEWAL_ERR_RESERVED_RECORD_TYPE);
  CHECK(strstr(sidewal_errmsg(), "RESERVED_RECORD_TYPE") != NULL);

  /* Local argument checks. */
  CHECK(sidewal_append_batch(c, NULL, 0, NULL) == SIDEWAL_ERR_INVALID_ARGUMENT);
  CHECK(sidewal_append(c, 1, 1, NULL, 5, NULL) == SIDEWAL_ERR_INVALID_ARGUMENT);
  CHECK(sidewal_read(c, 1, 0, 0, 0x80, NULL, NULL, NULL) == SIDEWAL_ERR_INVALID_ARGUMENT);
  CHECK(sidewal_read(c, 0, 0, 0, 0, NULL, NULL, NULL) == SIDEWAL_ERR_INVALID_ARGUMENT);
  CHECK(sidewal_status(NULL, NULL) == SIDEWAL_ERR_INVALID_ARGUMENT);

  /* A socket that does not exist: CONNECT, with the path in the message. */
  char missing[160];
  snprintf(missing, sizeof missing, "%s/missing.sock", dir);
  sidewal_options_t o;
  sidewal_options_init(&o);
  o.socket_path = missing;
  o.connect_timeout_ms = 50;
  sidewal_client_t* none = (sidewal_client_t*)&o; /* must be reset to NULL */
  CHECK(sidewal_connect(&o, &none) == SIDEWAL_ERR_CONNECT);
  CHECK(none == NULL);
  CHECK(strstr(sidewal_errmsg(), "missing.sock") != NULL);
  CHECK(sidewal_connect(NULL, &none) == SIDEWAL_ERR_INVALID_ARGUMENT);
  sidewal_close(NULL); /* ignored */
}

static void test_shutdown(void) {
  sidewal_client_t* c = connect_ready();
  sidewal_shutdown(c);
  sidewal_status_t st;
  CHECK(sidewal_status(c, &st) == SIDEWAL_ERR_CLOSED);
  CHECK(sidewal_append(c, 1, 1, "x", 1, NULL) == SIDEWAL_ERR_CLOSED);
  sidewal_close(c);
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s <sidewald>\n", argv[0]);
    return 2;
  }
  CHECK(sidewal_abi_version() == SIDEWAL_ABI_VERSION);
  CHECK(strlen(sidewal_version()) >= 5);
  start_daemon(argv[1]);
  sidewal_client_t* c = connect_ready();
  test_append_and_read(c);
  test_follow_live(c);
  test_pipelined(c);
  test_status_and_truncate(c);
  test_errors(c);
  sidewal_close(c);
  test_shutdown();
  stop_daemon();
  if (failures != 0) {
    fprintf(stderr, "%d checks failed\n", failures);
    return 1;
  }
  printf("capi_test: all checks passed\n");
  return 0;
}
