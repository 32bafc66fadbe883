/* consumer <socket> <payload>: appends <payload> through the installed C
 * library, reads it back, prints "appended <lsn>". Exit 0 only if the
 * record came back byte for byte. */
#include <sidewal/sidewal.h>
#include <stdio.h>
#include <string.h>

static int check(void* ctx, const sidewal_record_t* r) {
  const char* want = (const char*)ctx;
  return r->payload_len == strlen(want) && memcmp(r->payload, want, r->payload_len) == 0 ? 1 : -1;
}

static int last_check = 0;
static int remember(void* ctx, const sidewal_record_t* r) { return last_check = check(ctx, r); }

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  sidewal_options_t o;
  sidewal_options_init(&o);
  o.socket_path = argv[1];
  o.connect_timeout_ms = 30000;
  sidewal_client_t* client;
  uint64_t lsn = 0;
  if (sidewal_connect(&o, &client) != SIDEWAL_OK ||
      sidewal_append(client, 1, 7, argv[2], strlen(argv[2]), &lsn) != SIDEWAL_OK ||
      sidewal_read(client, lsn, 1, 0, 0, remember, argv[2], NULL) != SIDEWAL_OK) {
    fprintf(stderr, "consumer.c: %s\n", sidewal_errmsg());
    return 1;
  }
  sidewal_close(client);
  if (last_check != 1) {
    fprintf(stderr, "consumer.c: record %llu did not read back\n", (unsigned long long)lsn);
    return 1;
  }
  printf("appended %llu (libsidewal %s, ABI %d)\n", (unsigned long long)lsn, sidewal_version(),
         sidewal_abi_version());
  return 0;
}
