#include "wal/io/io_uring_backend.h"

#include <sched.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace sidewal::wal {
namespace {

constexpr unsigned kRingEntries = 8;  // at most 2 SQEs in flight per call (a flush's two writes)
constexpr int kMaxFruitlessRetries = 1000;
// An SQE's length is 32 bits; larger writes go in 1 GiB pieces.
constexpr size_t kMaxSqeBytes = 1u << 30;

std::string at(const posix::FileInfo& info, uint64_t offset, size_t len) {
  return info.path + " offset " + std::to_string(offset) + " length " + std::to_string(len);
}

Status init_ring(UringBackend::Ring& r) REQUIRES(r.mu) {
  int ret = io_uring_queue_init(kRingEntries, &r.ring, 0);
  if (ret < 0) return Status::FromErrno(-ret, "io_uring_setup");
  r.initialised = true;
  return Status::Ok();
}

Status check_opcodes(struct io_uring* ring) {
  struct io_uring_probe* probe = io_uring_get_probe_ring(ring);
  if (probe == nullptr) return Status::Unsupported("io_uring: the kernel cannot list opcodes");
  std::string missing;
  for (auto [op, name] : {std::pair{IORING_OP_NOP, "NOP"}, std::pair{IORING_OP_READ, "READ"},
                          std::pair{IORING_OP_WRITE, "WRITE"}}) {
    if (!io_uring_opcode_supported(probe, op)) missing += std::string(" ") + name;
  }
  io_uring_free_probe(probe);
  if (!missing.empty()) return Status::Unsupported("io_uring lacks opcodes:" + missing);
  return Status::Ok();
}

struct io_uring_sqe* next_sqe(UringBackend::Ring& r) REQUIRES(r.mu) {
  struct io_uring_sqe* sqe = io_uring_get_sqe(&r.ring);
  // Every call reaps all it submitted before releasing the ring, so the SQ
  // ring is empty here.
  SW_ASSERT_MSG(sqe != nullptr, "io_uring submission queue unexpectedly full");
  return sqe;
}

// Submits the `n` prepared SQEs without waiting for them. Returns 0, or the
// errno of a failed io_uring_enter (then the ring is marked broken).
int submit(UringBackend::Ring& r, unsigned n) REQUIRES(r.mu) {
  unsigned submitted = 0;
  int fruitless = 0;
  while (submitted < n) {
    int ret = io_uring_submit(&r.ring);
    if (ret > 0) {
      submitted += static_cast<unsigned>(ret);
      fruitless = 0;
      continue;
    }
    int err = ret < 0 ? -ret : EAGAIN;
    if ((err == EINTR || err == EAGAIN || err == EBUSY) && ++fruitless < kMaxFruitlessRetries) {
      sched_yield();
      continue;
    }
    r.broken = "io_uring_enter failed: " + std::string(std::strerror(err));
    return err;
  }
  return 0;
}

// Waits for one completion and reaps it: its user_data and res. Returns 0,
// or the errno of a failed wait (then the ring is marked broken).
int reap_one(UringBackend::Ring& r, uint64_t* data, int* res) REQUIRES(r.mu) {
  struct io_uring_cqe* cqe = nullptr;
  int ret;
  do {
    ret = io_uring_wait_cqe(&r.ring, &cqe);
  } while (ret == -EINTR);
  if (ret < 0) {
    r.broken = "io_uring wait failed: " + std::string(std::strerror(-ret));
    return -ret;
  }
  *data = io_uring_cqe_get_data64(cqe);
  *res = cqe->res;
  io_uring_cqe_seen(&r.ring, cqe);
  return 0;
}

// Submits the `n` prepared SQEs (user_data 0..n-1) and waits for all their
// completions; results[i] is the res of SQE i. Returns 0, or the errno of a
// failed io_uring_enter/wait (callers build the message only then: no string
// is built on the I/O path). After such a failure the ring may still hold our
// SQEs or unreaped completions, so it is marked broken and never used again.
int run(UringBackend::Ring& r, unsigned n, int* results) REQUIRES(r.mu) {
  if (int err = submit(r, n)) return err;
  for (unsigned i = 0; i < n; ++i) {
    uint64_t slot = 0;
    int res = 0;
    if (int err = reap_one(r, &slot, &res)) return err;
    SW_ASSERT_MSG(slot < n, "io_uring completion for an SQE this call did not submit");
    results[slot] = res;
  }
  return 0;
}

Status usable(const UringBackend::Ring& r) REQUIRES(r.mu) {
  if (!r.broken.empty()) return Status::IoError("io_uring ring unusable: " + r.broken);
  return Status::Ok();
}

Status nop(UringBackend::Ring& r) REQUIRES(r.mu) {
  struct io_uring_sqe* sqe = next_sqe(r);
  io_uring_prep_nop(sqe);
  io_uring_sqe_set_data64(sqe, 0);
  int res = -1;
  if (int err = run(r, 1, &res)) return Status::FromErrno(err, "io_uring_enter (NOP probe)");
  if (res < 0) return Status::FromErrno(-res, "io_uring NOP probe");
  return Status::Ok();
}

bool disabled_by_env() {
  const char* v = std::getenv(kDisableIoUringEnv);
  return v != nullptr && std::strcmp(v, "1") == 0;
}

}  // namespace

Status probe_io_uring() {
  auto backend = UringBackend::create();
  return backend.ok() ? Status::Ok() : backend.status();
}

UringBackend::UringBackend(size_t max_bytes_per_submission)
    : max_bytes_per_submission_(max_bytes_per_submission) {
  SW_ASSERT(max_bytes_per_submission_ > 0);
}

UringBackend::~UringBackend() {
  files_.close_all();
  for (Ring* r : {&write_ring_, &read_ring_, &async_ring_}) {
    MutexLock lock(r->mu);
    if (r->initialised) io_uring_queue_exit(&r->ring);
  }
}

Result<std::unique_ptr<UringBackend>> UringBackend::create(size_t max_bytes_per_submission) {
  if (disabled_by_env()) {
    return Status::Unsupported(std::string("disabled by ") + kDisableIoUringEnv + "=1");
  }
  std::unique_ptr<UringBackend> b(new UringBackend(max_bytes_per_submission));
  // Nothing else sees the rings yet; their mutexes are taken all the same,
  // as every other use of a ring does.
  for (Ring* r : {&b->write_ring_, &b->read_ring_, &b->async_ring_}) {
    MutexLock lock(r->mu);
    SIDEWAL_RETURN_IF_ERROR(init_ring(*r));
  }
  {
    MutexLock lock(b->write_ring_.mu);
    SIDEWAL_RETURN_IF_ERROR(check_opcodes(&b->write_ring_.ring));
  }
  // Setup alone is not enough: seccomp may block io_uring_enter.
  for (Ring* r : {&b->write_ring_, &b->read_ring_, &b->async_ring_}) {
    MutexLock lock(r->mu);
    SIDEWAL_RETURN_IF_ERROR(nop(*r));
  }
  return b;
}

Status UringBackend::lookup(FileHandle file, const char* op, posix::FileRef* info) const {
  if (!files_.get(file, info)) {
    return Status::InvalidArgument(std::string(op) + ": file handle " + std::to_string(file) +
                                   " is not open through the io_uring backend");
  }
  return Status::Ok();
}

Result<size_t> UringBackend::direct_alignment(const std::string& dir) {
  auto probe = posix::probe_direct_alignment(dir);
  if (!probe.ok()) return probe.status();
  return probe->alignment;
}

Result<FileHandle> UringBackend::open(const std::string& path, const OpenOptions& options) {
  return posix::open_file(files_, path, options);
}

Status UringBackend::close(FileHandle file) { return posix::close_file(files_, file); }

Status UringBackend::write_locked(const posix::FileInfo& info, int fd, uint64_t offset,
                                  const uint8_t* buf, size_t len) {
  size_t done = 0;
  int fruitless = 0;
  while (done < len) {
    SIDEWAL_RETURN_IF_ERROR(usable(write_ring_));
    size_t chunk = std::min({len - done, max_bytes_per_submission_, kMaxSqeBytes});
    struct io_uring_sqe* sqe = next_sqe(write_ring_);
    io_uring_prep_write(sqe, fd, buf + done, static_cast<unsigned>(chunk), offset + done);
    io_uring_sqe_set_data64(sqe, 0);
    int res = 0;
    if (int err = run(write_ring_, 1, &res)) {
      return Status::FromErrno(err, "io_uring_enter for write " + at(info, offset + done, chunk));
    }
    if (res < 0) {
      if ((res == -EINTR || res == -EAGAIN) && ++fruitless < kMaxFruitlessRetries) continue;
      return Status::FromErrno(-res, "write (io_uring) " + at(info, offset + done, chunk));
    }
    size_t before = done;
    done += static_cast<size_t>(res);
    // O_DIRECT cannot resume mid-block: rewrite the partial block.
    if (info.direct && done < len) done -= done % info.alignment;
    if (done > before) {
      fruitless = 0;
    } else if (++fruitless >= kMaxFruitlessRetries) {
      return Status::IoError("write (io_uring) " + at(info, offset + done, len - done) +
                             ": no progress after repeated short completions");
    }
  }
  return Status::Ok();
}

Status UringBackend::write(FileHandle file, uint64_t offset, const void* buf, size_t len) {
  posix::FileRef ref;
  SIDEWAL_RETURN_IF_ERROR(lookup(file, "write", &ref));
  const posix::FileInfo& info = *ref;
  SIDEWAL_RETURN_IF_ERROR(posix::check_direct(info, offset, buf, len, "write"));
  MutexLock lock(write_ring_.mu);
  return write_locked(info, file, offset, static_cast<const uint8_t*>(buf), len);
}

// The fdatasyncs here (sync(), and write_and_sync() through IoBackend's
// default write() + sync()) are plain fdatasync(2) calls on the calling thread,
// made after the writes they cover have completed (their completions are
// reaped first), never SQEs: an fsync SQE always blocks, so io_uring hands
// it to a kernel worker thread (iou-wrk), and waking that thread and being
// woken by it cost a lone commit ~5 context switches and 30-45 us of the
// daemon's CPU on this project's machines, a third of what the commit cost
// the daemon in all (BENCHMARKS.md "The fdatasync on the flushing thread"). The ring's lock is
// not held across them: nothing of the ring is in use by then.

// A flush and its double-write slot: two writes in one submission (one
// io_uring_enter), both completed (a short or interrupted one is finished),
// then one fdatasync: the bytes are never reported durable early.
Status UringBackend::write2_and_sync(FileHandle file, uint64_t offset, const void* buf, size_t len,
                                     uint64_t offset2, const void* buf2, size_t len2) {
  posix::FileRef ref;
  SIDEWAL_RETURN_IF_ERROR(lookup(file, "write2_and_sync", &ref));
  SIDEWAL_RETURN_IF_ERROR(write2_ref(*ref, file, offset, buf, len, offset2, buf2, len2));
  // Never retried (posix::datasync): the dirty pages may be gone after a failure.
  return posix::datasync(*ref, file);
}

Status UringBackend::write2(FileHandle file, uint64_t offset, const void* buf, size_t len,
                            uint64_t offset2, const void* buf2, size_t len2) {
  posix::FileRef ref;
  SIDEWAL_RETURN_IF_ERROR(lookup(file, "write2", &ref));
  return write2_ref(*ref, file, offset, buf, len, offset2, buf2, len2);
}

Status UringBackend::write2_ref(const posix::FileInfo& info, FileHandle file, uint64_t offset,
                                const void* buf, size_t len, uint64_t offset2, const void* buf2,
                                size_t len2) {
  SIDEWAL_RETURN_IF_ERROR(posix::check_direct(info, offset, buf, len, "write2"));
  SIDEWAL_RETURN_IF_ERROR(posix::check_direct(info, offset2, buf2, len2, "write2"));
  const uint64_t offs[2] = {offset, offset2};
  const uint8_t* bufs[2] = {static_cast<const uint8_t*>(buf), static_cast<const uint8_t*>(buf2)};
  const size_t lens[2] = {len, len2};
  {
    MutexLock lock(write_ring_.mu);
    SIDEWAL_RETURN_IF_ERROR(usable(write_ring_));
    // The two writes run side by side (their order does not matter: neither
    // is durable before the sync, and the page the data write may tear is
    // protected by the other slot, docs/format.md): one device round trip
    // for both instead of two.
    size_t firsts[2];
    for (int i = 0; i < 2; ++i) {
      firsts[i] = std::min({lens[i], max_bytes_per_submission_, kMaxSqeBytes});
      struct io_uring_sqe* w = next_sqe(write_ring_);
      io_uring_prep_write(w, file, bufs[i], static_cast<unsigned>(firsts[i]), offs[i]);
      io_uring_sqe_set_data64(w, static_cast<uint64_t>(i));
    }
    int res[2] = {0, 0};
    if (int err = run(write_ring_, 2, res)) {
      return Status::FromErrno(err, "io_uring_enter for write+write " + at(info, offset, len));
    }
    for (int i = 0; i < 2; ++i) {
      const int wres = res[i];
      if (wres < 0 && wres != -EINTR && wres != -EAGAIN) {
        return Status::FromErrno(-wres, "write (io_uring) " + at(info, offs[i], firsts[i]));
      }
    }
    for (int i = 0; i < 2; ++i) {
      size_t done = res[i] > 0 ? static_cast<size_t>(res[i]) : 0;
      if (done == lens[i]) continue;
      // Interrupted, short, or only the first chunk: finish it.
      if (info.direct) done -= done % info.alignment;
      SIDEWAL_RETURN_IF_ERROR(
          write_locked(info, file, offs[i] + done, bufs[i] + done, lens[i] - done));
    }
  }
  return Status::Ok();
}

// The bulk of an overlapped flush (docs/format.md "Overlapped flushes"): one
// SQE on a ring of its own, submitted and left running while the caller
// syncs the previous flush on its thread. The first piece (at most
// max_bytes_per_submission_) goes now; finish_writes() reaps it and writes
// what is left, if anything, through the write ring.
Status UringBackend::start_write(FileHandle file, uint64_t offset, const void* buf, size_t len) {
  posix::FileRef ref;
  SIDEWAL_RETURN_IF_ERROR(lookup(file, "start_write", &ref));
  SIDEWAL_RETURN_IF_ERROR(posix::check_direct(*ref, offset, buf, len, "start_write"));
  MutexLock lock(async_ring_.mu);
  SW_ASSERT_MSG(!started_.active, "start_write with a write already outstanding");
  SIDEWAL_RETURN_IF_ERROR(usable(async_ring_));
  const size_t chunk = std::min({len, max_bytes_per_submission_, kMaxSqeBytes});
  struct io_uring_sqe* sqe = next_sqe(async_ring_);
  io_uring_prep_write(sqe, file, buf, static_cast<unsigned>(chunk), offset);
  io_uring_sqe_set_data64(sqe, 0);
  if (int err = submit(async_ring_, 1)) {
    return Status::FromErrno(err, "io_uring_enter for write " + at(*ref, offset, chunk));
  }
  started_.active = true;
  started_.ref = std::move(ref);
  started_.fd = file;
  started_.offset = offset;
  started_.buf = static_cast<const uint8_t*>(buf);
  started_.len = len;
  started_.chunk = chunk;
  return Status::Ok();
}

Status UringBackend::finish_writes() {
  Started w;
  int res = 0;
  {
    MutexLock lock(async_ring_.mu);
    if (!started_.active) return Status::Ok();
    w = std::move(started_);
    started_ = Started{};
    uint64_t data = 0;
    if (int err = reap_one(async_ring_, &data, &res)) {
      return Status::FromErrno(err, "io_uring wait for write " + at(*w.ref, w.offset, w.chunk));
    }
    SW_ASSERT_MSG(data == 0, "io_uring completion this ring did not start");
  }
  if (res < 0 && res != -EINTR && res != -EAGAIN) {
    return Status::FromErrno(-res, "write (io_uring) " + at(*w.ref, w.offset, w.chunk));
  }
  size_t done = res > 0 ? static_cast<size_t>(res) : 0;
  if (done == w.len) return Status::Ok();
  // Interrupted, short, or only the first piece: finish it.
  if (w.ref->direct) done -= done % w.ref->alignment;
  MutexLock lock(write_ring_.mu);
  return write_locked(*w.ref, w.fd, w.offset + done, w.buf + done, w.len - done);
}

Status UringBackend::sync(FileHandle file) {
  posix::FileRef ref;
  SIDEWAL_RETURN_IF_ERROR(lookup(file, "sync", &ref));
  return posix::datasync(*ref, file);
}

Status UringBackend::preallocate_zeroed(FileHandle file, uint64_t bytes, ZeroFill fill) {
  posix::FileRef ref;
  SIDEWAL_RETURN_IF_ERROR(lookup(file, "preallocate", &ref));
  const posix::FileInfo& info = *ref;
  return posix::preallocate_zeroed(
      info, file, bytes, fill,
      [&](uint64_t off, const void* buf, size_t len) { return write(file, off, buf, len); },
      [&] { return sync(file); });
}

Status UringBackend::read(FileHandle file, uint64_t offset, void* buf, size_t len, size_t* got) {
  *got = 0;
  posix::FileRef ref;
  SIDEWAL_RETURN_IF_ERROR(lookup(file, "read", &ref));
  const posix::FileInfo& info = *ref;
  SIDEWAL_RETURN_IF_ERROR(posix::check_direct(info, offset, buf, len, "read"));
  auto* p = static_cast<uint8_t*>(buf);
  MutexLock lock(read_ring_.mu);
  size_t done = 0;
  int fruitless = 0;
  while (done < len) {
    SIDEWAL_RETURN_IF_ERROR(usable(read_ring_));
    size_t chunk = std::min({len - done, max_bytes_per_submission_, kMaxSqeBytes});
    struct io_uring_sqe* sqe = next_sqe(read_ring_);
    io_uring_prep_read(sqe, file, p + done, static_cast<unsigned>(chunk), offset + done);
    io_uring_sqe_set_data64(sqe, 0);
    int res = 0;
    if (int err = run(read_ring_, 1, &res)) {
      return Status::FromErrno(err, "io_uring_enter for read " + at(info, offset + done, chunk));
    }
    if (res < 0) {
      if ((res == -EINTR || res == -EAGAIN) && ++fruitless < kMaxFruitlessRetries) continue;
      return Status::FromErrno(-res, "read (io_uring) " + at(info, offset + done, chunk));
    }
    if (res == 0) break;  // end of file
    size_t before = done;
    done += static_cast<size_t>(res);
    if (static_cast<size_t>(res) < chunk) {
      // End of file, or a short completion to resume.
      struct stat st;
      if (::fstat(file, &st) != 0) return Status::FromErrno(errno, "fstat " + info.path);
      if (offset + done >= static_cast<uint64_t>(st.st_size)) break;
      if (info.direct) done -= done % info.alignment;
      if (done <= before && ++fruitless >= kMaxFruitlessRetries) {
        return Status::IoError("read (io_uring) " + at(info, offset + done, len - done) +
                               ": no progress after repeated short completions");
      }
    }
  }
  *got = done;
  return Status::Ok();
}

Result<uint64_t> UringBackend::file_size(FileHandle file) {
  posix::FileRef ref;
  SIDEWAL_RETURN_IF_ERROR(lookup(file, "file_size", &ref));
  const posix::FileInfo& info = *ref;
  return posix::file_size(info, file);
}

Status UringBackend::sync_dir(const std::string& dir) { return posix::sync_dir(dir); }
Status UringBackend::create_dir(const std::string& dir) { return posix::create_dir(dir); }
Status UringBackend::remove(const std::string& path) { return posix::remove_path(path); }
Status UringBackend::rename(const std::string& from, const std::string& to) {
  return posix::rename_path(from, to);
}
Result<std::vector<std::string>> UringBackend::list_dir(const std::string& dir) {
  return posix::list_dir(dir);
}

}  // namespace sidewal::wal
