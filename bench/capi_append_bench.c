/* capi_append_bench: closed-loop APPEND throughput of the C ABI (libsidewal)
 * against a running sidewald, the C row of BENCHMARKS.md "Clients".
 *
 *   capi_append_bench [--socket PATH] [--clients N] [--inflight M]
 *                     [--seconds S] [--warmup S] [--payload BYTES]
 *
 * N clients (one sidewal_client_t each) keep M APPENDs of one record in
 * flight with sidewal_append_async(): every completion sends the next
 * APPEND from the client's reader thread, the way a C program pipelines.
 * Latency is measured per request slot (send time kept in the slot), so it
 * does not depend on the order completions arrive in. Prints one line in
 * the same shape as the Rust and Python benchmarks. C99 + POSIX only. */

#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sidewal/sidewal.h"

typedef struct args {
  const char* socket_path;
  unsigned clients;
  unsigned inflight;
  double seconds;
  double warmup;
  size_t payload;
} args_t;

/* One client connection and what its completions recorded. The counters
 * and the latency array are written only by this client's reader thread
 * (completions run there) and read by main after sidewal_wait_appends(),
 * which orders them. */
typedef struct bench_client {
  sidewal_client_t* client;
  sidewal_record_in_t record;
  uint64_t measure_from_ns; /* completions of requests sent earlier are warmup */
  uint64_t stop_at_ns;      /* no request is sent after this */
  uint64_t* latencies_ns;   /* one per measured completion */
  size_t latency_count;
  size_t latency_capacity;
  int failed; /* first error code seen, 0 if none */
} bench_client_t;

/* One request in flight: which client, and when it was sent. */
typedef struct slot {
  bench_client_t* owner;
  uint64_t sent_ns;
} slot_t;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void usage(const char* why) {
  fprintf(stderr,
          "capi_append_bench: %s\nusage: capi_append_bench [--socket PATH] [--clients N] "
          "[--inflight M] [--seconds S] [--warmup S] [--payload BYTES]\n",
          why);
  exit(2);
}

static args_t parse_args(int argc, char** argv) {
  args_t a = {"./var/sidewal.sock", 1, 1, 10.0, 2.0, 100};
  for (int i = 1; i < argc; i += 2) {
    if (i + 1 >= argc) usage("every flag needs a value");
    const char* flag = argv[i];
    const char* value = argv[i + 1];
    char* end = NULL;
    errno = 0;
    if (strcmp(flag, "--socket") == 0) {
      a.socket_path = value;
      continue;
    } else if (strcmp(flag, "--clients") == 0) {
      a.clients = (unsigned)strtoul(value, &end, 10);
    } else if (strcmp(flag, "--inflight") == 0) {
      a.inflight = (unsigned)strtoul(value, &end, 10);
    } else if (strcmp(flag, "--seconds") == 0) {
      a.seconds = strtod(value, &end);
    } else if (strcmp(flag, "--warmup") == 0) {
      a.warmup = strtod(value, &end);
    } else if (strcmp(flag, "--payload") == 0) {
      a.payload = (size_t)strtoul(value, &end, 10);
    } else {
      usage("unknown flag");
    }
    if (errno != 0 || end == value || *end != '\0') usage("bad number");
  }
  if (a.clients < 1 || a.inflight < 1) usage("--clients and --inflight must be at least 1");
  if (a.seconds <= 0 || a.warmup < 0) usage("--seconds must be > 0 and --warmup >= 0");
  return a;
}

static int send_one(slot_t* slot);

static void on_done(void* ctx, int code, const char* message, uint64_t first_lsn, uint32_t count) {
  (void)first_lsn;
  (void)count;
  slot_t* slot = (slot_t*)ctx;
  bench_client_t* c = slot->owner;
  uint64_t t = now_ns();
  if (code != SIDEWAL_OK) {
    if (c->failed == 0) {
      c->failed = code;
      fprintf(stderr, "capi_append_bench: append: %s (%s)\n", sidewal_code_name(code),
              message ? message : "");
    }
    return;
  }
  if (slot->sent_ns >= c->measure_from_ns && t <= c->stop_at_ns) {
    if (c->latency_count == c->latency_capacity) {
      size_t grown = c->latency_capacity ? 2 * c->latency_capacity : 1u << 16;
      uint64_t* p = realloc(c->latencies_ns, grown * sizeof *p);
      if (p == NULL) {
        fprintf(stderr, "capi_append_bench: out of memory\n");
        exit(1);
      }
      c->latencies_ns = p;
      c->latency_capacity = grown;
    }
    c->latencies_ns[c->latency_count++] = t - slot->sent_ns;
  }
  if (t < c->stop_at_ns && c->failed == 0) send_one(slot);
}

static int send_one(slot_t* slot) {
  bench_client_t* c = slot->owner;
  slot->sent_ns = now_ns();
  int rc = sidewal_append_async(c->client, &c->record, 1, on_done, slot);
  if (rc != SIDEWAL_OK && c->failed == 0) {
    c->failed = rc;
    fprintf(stderr, "capi_append_bench: send: %s\n", sidewal_errmsg());
  }
  return rc;
}

static int compare_u64(const void* a, const void* b) {
  uint64_t x = *(const uint64_t*)a, y = *(const uint64_t*)b;
  return (x > y) - (x < y);
}

int main(int argc, char** argv) {
  args_t args = parse_args(argc, argv);
  unsigned char* payload = malloc(args.payload ? args.payload : 1);
  bench_client_t* clients = calloc(args.clients, sizeof *clients);
  slot_t* slots = calloc((size_t)args.clients * args.inflight, sizeof *slots);
  if (payload == NULL || clients == NULL || slots == NULL) {
    fprintf(stderr, "capi_append_bench: out of memory\n");
    return 1;
  }
  memset(payload, 0x5a, args.payload);

  for (unsigned i = 0; i < args.clients; ++i) {
    sidewal_options_t options;
    sidewal_options_init(&options);
    options.socket_path = args.socket_path;
    options.client_name = "capi_append_bench";
    if (sidewal_connect(&options, &clients[i].client) != SIDEWAL_OK) {
      fprintf(stderr, "capi_append_bench: connect %s: %s\n", args.socket_path, sidewal_errmsg());
      return 1;
    }
    clients[i].record.type = 1;
    clients[i].record.tenant = 0;
    clients[i].record.payload = payload;
    clients[i].record.payload_len = args.payload;
  }

  uint64_t start = now_ns();
  uint64_t measure_from = start + (uint64_t)(args.warmup * 1e9);
  uint64_t stop_at = measure_from + (uint64_t)(args.seconds * 1e9);
  for (unsigned i = 0; i < args.clients; ++i) {
    clients[i].measure_from_ns = measure_from;
    clients[i].stop_at_ns = stop_at;
  }
  /* Every slot is set up before any is sent: a completion may re-send its
   * slot on the reader thread while this loop is still sending others. */
  for (unsigned i = 0; i < args.clients; ++i) {
    for (unsigned j = 0; j < args.inflight; ++j) slots[i * args.inflight + j].owner = &clients[i];
  }
  for (unsigned i = 0; i < args.clients; ++i) {
    for (unsigned j = 0; j < args.inflight; ++j) {
      if (send_one(&slots[i * args.inflight + j]) != SIDEWAL_OK) return 1;
    }
  }

  size_t total = 0;
  int failed = 0;
  for (unsigned i = 0; i < args.clients; ++i) {
    /* The window plus the drain: a timeout here is a daemon that stopped. */
    uint32_t timeout_ms = (uint32_t)((args.warmup + args.seconds) * 1000) + 30000;
    if (sidewal_wait_appends(clients[i].client, timeout_ms) != SIDEWAL_OK) {
      fprintf(stderr, "capi_append_bench: waiting for ACKs: %s\n", sidewal_errmsg());
      return 1;
    }
    total += clients[i].latency_count;
    if (clients[i].failed) failed = clients[i].failed;
  }
  if (failed) return 1;

  uint64_t* all = malloc((total ? total : 1) * sizeof *all);
  if (all == NULL) {
    fprintf(stderr, "capi_append_bench: out of memory\n");
    return 1;
  }
  size_t k = 0;
  for (unsigned i = 0; i < args.clients; ++i) {
    memcpy(all + k, clients[i].latencies_ns, clients[i].latency_count * sizeof *all);
    k += clients[i].latency_count;
    free(clients[i].latencies_ns);
    sidewal_close(clients[i].client);
  }
  qsort(all, total, sizeof *all, compare_u64);
#define PCT(q) (total ? all[(size_t)((double)(total - 1) * (q))] / 1e6 : 0.0)
  printf(
      "c client: %u clients x %u in flight, %zu-byte records, %.1f s: %.0f appends/s, "
      "p50 %.3f ms, p99 %.3f ms, max %.3f ms (%zu appends)\n",
      args.clients, args.inflight, args.payload, args.seconds, (double)total / args.seconds,
      PCT(0.50), PCT(0.99), total ? all[total - 1] / 1e6 : 0.0, total);
#undef PCT
  free(all);
  free(slots);
  free(clients);
  free(payload);
  return 0;
}
