/* faultshim: an LD_PRELOAD library that injects disk faults into a real
 * process (sidewald) on demand, for the reliability tests.
 *
 * Control: the environment variable SIDEWAL_FAULTSHIM_DIR names a directory.
 * A fault is active while a file of its name exists there, so a test turns
 * faults on and off at any moment by creating and deleting files:
 *
 *   fdatasync-eio  fdatasync/fsync of a segment (*.wal) fails with EIO
 *   enospc         fallocate/posix_fallocate fail with ENOSPC, and so do
 *                  writes to spare segments (*.spare): a full disk as the
 *                  engine meets it (segments in use are preallocated)
 *   enospc-data    writes to segments (*.wal) fail with ENOSPC (a thin or
 *                  copy-on-write volume that runs out under a preallocated
 *                  file)
 *   short          writes to segments longer than 4 KiB transfer only half
 *                  (rounded down to 4 KiB, the O_DIRECT unit)
 *   eagain         every other write to a segment fails with EAGAIN
 *   eintr          every other write to a segment fails with EINTR
 *
 * Every injected fault appends one line "<fault> <call> <path>\n" to the
 * file "injected" in the same directory, so a test can prove the fault
 * really fired.
 *
 * Intercepted: write, pwrite, pwrite64, pwritev, pwritev2, fdatasync, fsync,
 * fallocate, fallocate64, posix_fallocate, posix_fallocate64. io_uring
 * submissions are raw syscalls inside liburing and cannot be intercepted
 * here: the tests run sidewald with `wal.io_backend: pwrite`.
 *
 * Without SIDEWAL_FAULTSHIM_DIR, or with no control file present, every call
 * goes straight to libc (one access() per call to look for control files). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

typedef ssize_t (*write_fn)(int, const void*, size_t);
typedef ssize_t (*pwrite_fn)(int, const void*, size_t, off_t);
typedef ssize_t (*pwritev_fn)(int, const struct iovec*, int, off_t);
typedef ssize_t (*pwritev2_fn)(int, const struct iovec*, int, off_t, int);
typedef int (*sync_fn)(int);
typedef int (*fallocate_fn)(int, int, off_t, off_t);
typedef int (*posix_fallocate_fn)(int, off_t, off_t);

static void* next_sym(const char* name) { return dlsym(RTLD_NEXT, name); }

static const char* control_dir(void) {
  const char* d = getenv("SIDEWAL_FAULTSHIM_DIR");
  return (d != NULL && d[0] != '\0') ? d : NULL;
}

static int active(const char* fault) {
  const char* d = control_dir();
  if (d == NULL) return 0;
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/%s", d, fault);
  return access(p, F_OK) == 0;
}

/* The path behind fd ("" when unknown). */
static void fd_path(int fd, char* out, size_t n) {
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t r = readlink(link, out, n - 1);
  out[r > 0 ? r : 0] = '\0';
}

static int has_suffix(const char* s, const char* suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

static void note(const char* fault, const char* call, const char* path) {
  const char* d = control_dir();
  if (d == NULL) return;
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/injected", d);
  int fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  char line[PATH_MAX + 64];
  int len = snprintf(line, sizeof line, "%s %s %s\n", fault, call, path);
  write_fn real_write = (write_fn)next_sym("write");
  if (len > 0 && real_write != NULL) (void)real_write(fd, line, (size_t)len);
  close(fd);
}

static atomic_uint eagain_toggle; /* every other call, each fault on its own */
static atomic_uint eintr_toggle;

/* Decides the fate of a write of `len` bytes to fd. Returns 0 to proceed
 * with *len possibly shortened, or -1 with errno set to fail it. */
static int write_fault(int fd, size_t* len, const char* call) {
  if (control_dir() == NULL) return 0;
  char path[PATH_MAX];
  fd_path(fd, path, sizeof path);
  const int wal = has_suffix(path, ".wal");
  const int spare = has_suffix(path, ".spare");
  if (!wal && !spare) return 0;
  if (spare && active("enospc")) {
    note("enospc", call, path);
    errno = ENOSPC;
    return -1;
  }
  if (!wal) return 0;
  if (active("enospc-data")) {
    note("enospc-data", call, path);
    errno = ENOSPC;
    return -1;
  }
  if (active("eagain") && (atomic_fetch_add(&eagain_toggle, 1) % 2 == 0)) {
    note("eagain", call, path);
    errno = EAGAIN;
    return -1;
  }
  if (active("eintr") && (atomic_fetch_add(&eintr_toggle, 1) % 2 == 0)) {
    note("eintr", call, path);
    errno = EINTR;
    return -1;
  }
  if (*len > 4096 && active("short")) {
    size_t half = (*len / 2) / 4096 * 4096;
    *len = half < 4096 ? 4096 : half;
    note("short", call, path);
  }
  return 0;
}

ssize_t write(int fd, const void* buf, size_t len) {
  static write_fn real;
  if (real == NULL) real = (write_fn)next_sym("write");
  if (write_fault(fd, &len, "write") != 0) return -1;
  return real(fd, buf, len);
}

ssize_t pwrite(int fd, const void* buf, size_t len, off_t off) {
  static pwrite_fn real;
  if (real == NULL) real = (pwrite_fn)next_sym("pwrite");
  if (write_fault(fd, &len, "pwrite") != 0) return -1;
  return real(fd, buf, len, off);
}

ssize_t pwrite64(int fd, const void* buf, size_t len, off_t off) {
  static pwrite_fn real;
  if (real == NULL) real = (pwrite_fn)next_sym("pwrite64");
  if (write_fault(fd, &len, "pwrite64") != 0) return -1;
  return real(fd, buf, len, off);
}

/* Vectored writes: a fault fails the whole call; "short" keeps whole
 * iovecs only (never splits one), which is still a short write. */
static int vec_fault(int fd, const struct iovec* iov, int* cnt, const char* call) {
  size_t total = 0;
  for (int i = 0; i < *cnt; ++i) total += iov[i].iov_len;
  size_t want = total;
  if (write_fault(fd, &want, call) != 0) return -1;
  if (want < total) {
    size_t kept = 0;
    int n = 0;
    while (n < *cnt && kept + iov[n].iov_len <= want) kept += iov[n++].iov_len;
    if (n > 0) *cnt = n;
  }
  return 0;
}

ssize_t pwritev(int fd, const struct iovec* iov, int cnt, off_t off) {
  static pwritev_fn real;
  if (real == NULL) real = (pwritev_fn)next_sym("pwritev");
  if (vec_fault(fd, iov, &cnt, "pwritev") != 0) return -1;
  return real(fd, iov, cnt, off);
}

ssize_t pwritev2(int fd, const struct iovec* iov, int cnt, off_t off, int flags) {
  static pwritev2_fn real;
  if (real == NULL) real = (pwritev2_fn)next_sym("pwritev2");
  if (vec_fault(fd, iov, &cnt, "pwritev2") != 0) return -1;
  return real(fd, iov, cnt, off, flags);
}

static int sync_fault(int fd, const char* call) {
  if (control_dir() == NULL || !active("fdatasync-eio")) return 0;
  char path[PATH_MAX];
  fd_path(fd, path, sizeof path);
  if (!has_suffix(path, ".wal")) return 0;
  note("fdatasync-eio", call, path);
  errno = EIO;
  return -1;
}

int fdatasync(int fd) {
  static sync_fn real;
  if (real == NULL) real = (sync_fn)next_sym("fdatasync");
  if (sync_fault(fd, "fdatasync") != 0) return -1;
  return real(fd);
}

int fsync(int fd) {
  static sync_fn real;
  if (real == NULL) real = (sync_fn)next_sym("fsync");
  if (sync_fault(fd, "fsync") != 0) return -1;
  return real(fd);
}

static int alloc_fault(int fd, const char* call) {
  if (control_dir() == NULL || !active("enospc")) return 0;
  char path[PATH_MAX];
  fd_path(fd, path, sizeof path);
  note("enospc", call, path);
  return ENOSPC;
}

int fallocate(int fd, int mode, off_t off, off_t len) {
  static fallocate_fn real;
  if (real == NULL) real = (fallocate_fn)next_sym("fallocate");
  int e = alloc_fault(fd, "fallocate");
  if (e != 0) {
    errno = e;
    return -1;
  }
  return real(fd, mode, off, len);
}

int fallocate64(int fd, int mode, off_t off, off_t len) {
  static fallocate_fn real;
  if (real == NULL) real = (fallocate_fn)next_sym("fallocate64");
  int e = alloc_fault(fd, "fallocate64");
  if (e != 0) {
    errno = e;
    return -1;
  }
  return real(fd, mode, off, len);
}

/* posix_fallocate returns the error instead of setting errno. */
int posix_fallocate(int fd, off_t off, off_t len) {
  static posix_fallocate_fn real;
  if (real == NULL) real = (posix_fallocate_fn)next_sym("posix_fallocate");
  int e = alloc_fault(fd, "posix_fallocate");
  return e != 0 ? e : real(fd, off, len);
}

int posix_fallocate64(int fd, off_t off, off_t len) {
  static posix_fallocate_fn real;
  if (real == NULL) real = (posix_fallocate_fn)next_sym("posix_fallocate64");
  int e = alloc_fault(fd, "posix_fallocate64");
  return e != 0 ? e : real(fd, off, len);
}
