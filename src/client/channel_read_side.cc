// Who holds a Channel's read side (channel.h "Caller reads"): when the idle
// reader thread parks, how submissions wake it, and its wait while parked.
// The two readers of the socket, the reader thread's loop and a blocking
// caller's read of its own reply, are channel_reader.cc.
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "client/channel.h"

namespace sidewal::client {

bool Channel::should_park_locked() const {
  return blocking_mode_ && wake_fd_ >= 0 && !broken_ && inflight_.empty() && reads_.empty() &&
         !reader_owns_write_ && !writing_ && rbegin_ == rend_;
}

void Channel::note_submission_locked(bool blocking) {
  if (is_reader_thread()) return;  // the reader is running: it sees the request
  blocking_mode_ = blocking;
  if (!blocking && read_side_ == ReadSide::kParked) {
    read_side_ = ReadSide::kReader;
    wake_reader_locked();
  }
}

void Channel::wake_reader_locked() {
  if (wake_fd_ < 0) return;
  const uint64_t one = 1;
  // Non-blocking: a full counter already wakes the reader.
  ssize_t w = ::write(wake_fd_, &one, sizeof one);
  (void)w;
}

void Channel::wait_parked() {
  // events 0 on the socket: poll() reports its hang-up or error only, and
  // is not woken by replies (a caller reading for itself takes those).
  pollfd ps[2] = {{fd_, 0, 0}, {wake_fd_, POLLIN, 0}};
  const int n = ::poll(ps, 2, -1);
  const int err = errno;
  if (n > 0 && (ps[1].revents & POLLIN)) {
    uint64_t count;
    ssize_t r = ::read(wake_fd_, &count, sizeof count);
    (void)r;
  }
  MutexLock lk(mu_);
  if (n < 0 && err != EINTR)
    fail_locked(Status::Closed(std::string("poll: ") + std::strerror(err)));
  const bool hung_up = n > 0 && (ps[0].revents & (POLLHUP | POLLERR | POLLNVAL)) != 0;
  if (hung_up || broken_) {
    // Read what the daemon said before it hung up, and break, once a caller
    // reading for itself has given the read side back.
    read_side_cv_.wait(mu_, [&]() REQUIRES(mu_) { return read_side_ != ReadSide::kCaller; });
    read_side_ = ReadSide::kReader;
  }
}

}  // namespace sidewal::client
