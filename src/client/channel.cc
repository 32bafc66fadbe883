// Channel's socket and its sending side (channel.h): connecting, the
// writer that sends what submitters queue, breaking the connection, and the
// channel's lifecycle. The reader thread is channel_reader.cc, the limits
// HELLO channel_limits.cc.
#include "client/channel.h"

#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace sidewal::client {
namespace {

// A reader thread sends what its callbacks queued right away once this much
// has accumulated, instead of at the end of the batch.
constexpr size_t kDeferredFlushBytes = 256u << 10;

}  // namespace

Result<int> connect_unix(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return Status::InvalidArgument("socket path '" + path + "' must be 1.." +
                                   std::to_string(sizeof(addr.sun_path) - 1) + " bytes");
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno(errno, "socket(AF_UNIX)");
  while (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (errno == EINTR) continue;
    int err = errno;
    ::close(fd);
    return Status::FromErrno(err, "connect " + path);
  }
  return fd;
}

Channel::Channel(int fd, const ClientOptions& options, const void* owner,
                 std::atomic<uint64_t>* ids)
    : fd_(fd),
      options_(options),
      owner_(owner),
      ids_(ids != nullptr ? ids : &own_ids_),
      max_reply_body_(options.max_reply_body),
      wake_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      rbuf_(std::max<size_t>(options.read_buffer_bytes, proto::kHeaderSize)) {}

Channel::~Channel() {
  SW_ASSERT_MSG(!reader_.joinable(), "Channel destroyed with its reader thread running");
  ::close(fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void Channel::start() {
  reader_ = std::thread([this] { reader_loop(); });
}

bool Channel::broken() const {
  MutexLock lk(mu_);
  return broken_;
}

Status Channel::broken_status() const {
  MutexLock lk(mu_);
  return broken_ ? why_broken_ : Status::Ok();
}

size_t Channel::in_flight() const {
  MutexLock lk(mu_);
  return inflight_.size() + reads_.size();
}

void Channel::shutdown(const Status& why) {
  MutexLock lk(mu_);
  fail_locked(why);
}

void Channel::join() {
  SW_ASSERT_MSG(!is_reader_thread(), "a reader thread cannot join itself");
  if (reader_.joinable()) reader_.join();
}

void Channel::fail_locked(Status why) {
  if (broken_) return;
  broken_ = true;
  why_broken_ = std::move(why);
  out_.clear();
  // Wakes the reader's poll() (it sees EOF and fails everything in flight),
  // a caller reading for itself and a writer blocked in send(); and a
  // parked reader through its eventfd.
  ::shutdown(fd_, SHUT_RDWR);
  wake_reader_locked();
  room_cv_.notify_all();
  limits_cv_.notify_all();
}

void Channel::wait_for_room() {
  // The reader thread must never wait here: the daemon may be waiting for us
  // to read its replies before it reads more requests.
  if (is_reader_thread()) return;
  room_cv_.wait(mu_,
                [&]() REQUIRES(mu_) { return broken_ || out_.size() < options_.max_queued_bytes; });
}

bool Channel::submit(Pending pending, const std::function<void(std::vector<uint8_t>*)>& encode) {
  MutexLock lk(mu_);
  wait_for_room();
  if (broken_) return false;
  note_submission_locked(/*blocking=*/false);
  encode(&out_);
  inflight_.push_back(std::move(pending));
  maybe_flush();
  return true;
}

bool Channel::submit_blocking(Pending pending,
                              const std::function<void(std::vector<uint8_t>*)>& encode,
                              const std::function<bool()>& done) {
  const uint64_t id = pending.id;
  {
    MutexLock lk(mu_);
    wait_for_room();
    if (broken_) return false;
    // Nothing else in flight and nobody reading: the reply will be the next
    // frame (an unsolicited one aside), so this thread may read it.
    const bool self_read = read_side_ == ReadSide::kParked && inflight_.empty() && reads_.empty();
    note_submission_locked(/*blocking=*/true);
    encode(&out_);
    inflight_.push_back(std::move(pending));
    if (self_read) read_side_ = ReadSide::kCaller;
    maybe_flush();
    if (!self_read) return true;
  }
  caller_read(id, done);
  return true;
}

bool Channel::submit_read(std::shared_ptr<ReadStream> stream,
                          const std::function<void(std::vector<uint8_t>*)>& encode) {
  MutexLock lk(mu_);
  wait_for_room();
  if (broken_) return false;
  note_submission_locked(/*blocking=*/false);
  encode(&out_);
  uint64_t id = stream->id;
  reads_.emplace(id, std::move(stream));
  maybe_flush();
  return true;
}

void Channel::cancel(uint64_t read_id) {
  MutexLock lk(mu_);
  if (broken_ || reads_.find(read_id) == reads_.end()) return;
  proto::encode_cancel(read_id, &out_);
  maybe_flush();
}

void Channel::maybe_flush() {
  if (writing_) return;  // the current writer (or the parked reader) sends what we queued
  const bool reader = is_reader_thread();
  // Deferred to the end of the callback batch (reader) or to the last
  // release_sends() (others), unless the queue is already large enough that
  // waiting gains nothing. The bound also keeps a holder from ever waiting
  // in wait_for_room() for bytes that only its own release would send.
  const bool deferred = reader ? in_callbacks_ : send_holds_ > 0;
  const size_t limit = std::min(kDeferredFlushBytes, options_.max_queued_bytes / 2);
  if (deferred && out_.size() < limit) return;
  flush(reader);
}

void Channel::hold_sends() {
  MutexLock lk(mu_);
  ++send_holds_;
}

void Channel::release_sends() {
  MutexLock lk(mu_);
  SW_ASSERT(send_holds_ > 0);
  if (--send_holds_ > 0 || out_.empty() || broken_) return;
  maybe_flush();
}

void Channel::flush(bool from_reader) {
  writing_ = true;
  for (;;) {
    if (sent_off_ == sending_.size()) {
      sending_.clear();
      sent_off_ = 0;
      if (out_.empty() || broken_) break;
      std::swap(out_, sending_);
      room_cv_.notify_all();
    }
    // MSG_NOSIGNAL: a daemon that went away is an error to report, not a
    // SIGPIPE that kills the database. The reader thread never blocks in
    // send (see reader_owns_write_).
    const int flags = MSG_NOSIGNAL | (from_reader ? MSG_DONTWAIT : 0);
    mu_.unlock();
    ssize_t w = ::send(fd_, sending_.data() + sent_off_, sending_.size() - sent_off_, flags);
    const int err = errno;
    mu_.lock();
    if (w > 0) {
      sent_off_ += static_cast<size_t>(w);
      continue;
    }
    if (w < 0 && err == EINTR) continue;
    if (w < 0 && (err == EAGAIN || err == EWOULDBLOCK) && from_reader) {
      reader_owns_write_ = true;  // writing_ stays set: the reader resumes on POLLOUT
      return;
    }
    fail_locked(Status::Closed(std::string("send to sidewald: ") + std::strerror(err)));
    sending_.clear();
    sent_off_ = 0;
    break;
  }
  writing_ = false;
  reader_owns_write_ = false;
}

}  // namespace sidewal::client
