#include "tests/support/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace sidewal::test {

namespace {

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

}  // namespace

int exit_code_of(int wait_status) {
  return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
}

ChildProcess::ChildProcess(const std::string& bin, const std::vector<std::string>& args)
    : ChildProcess(bin, args, Options{}) {}

ChildProcess::ChildProcess(const std::string& bin, const std::vector<std::string>& args,
                           Options options) {
  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
  if (options.pipe_stdin && ::pipe2(in, O_CLOEXEC) != 0) fail("pipe2");
  if (options.capture_output && ::pipe2(out, O_CLOEXEC) != 0) fail("pipe2");
  if (options.capture_output && !options.merge_stderr && ::pipe2(err, O_CLOEXEC) != 0) {
    fail("pipe2");
  }
  // argv is built before fork: the child of a threaded process may only make
  // async-signal-safe calls (no malloc) before exec.
  std::vector<std::string> all = {bin};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ < 0) fail("fork");
  if (pid_ == 0) {
    if (in[0] >= 0) ::dup2(in[0], 0);
    if (out[1] >= 0) ::dup2(out[1], 1);
    if (err[1] >= 0) ::dup2(err[1], 2);
    if (out[1] >= 0 && options.merge_stderr) ::dup2(out[1], 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  close_fd(in[0]);
  close_fd(out[1]);
  close_fd(err[1]);
  in_ = in[1];
  out_ = out[0];
  err_ = err[0];
}

ChildProcess ChildProcess::fork_and_run(const std::function<int()>& body) {
  ChildProcess c;
  c.pid_ = ::fork();
  if (c.pid_ < 0) fail("fork");
  if (c.pid_ == 0) ::_exit(body());
  return c;
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      exit_code_(other.exit_code_),
      in_(std::exchange(other.in_, -1)),
      out_(std::exchange(other.out_, -1)),
      err_(std::exchange(other.err_, -1)) {}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    wait();
  }
  close_fd(in_);
  close_fd(out_);
  close_fd(err_);
}

void ChildProcess::signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

int ChildProcess::release_stdout() { return std::exchange(out_, -1); }

std::optional<int> ChildProcess::try_wait() {
  if (pid_ <= 0) return exit_code_;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) != pid_) return std::nullopt;
  pid_ = -1;
  exit_code_ = exit_code_of(status);
  return exit_code_;
}

int ChildProcess::wait() {
  if (pid_ <= 0) return exit_code_;
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, 0);
  } while (r < 0 && errno == EINTR);
  pid_ = -1;
  exit_code_ = r > 0 ? exit_code_of(status) : -1;
  return exit_code_;
}

ChildProcess::Output ChildProcess::communicate(std::chrono::milliseconds timeout,
                                               const std::string& stdin_text) {
  using Clock = std::chrono::steady_clock;
  // A child that exits before reading all of stdin must not kill the test.
  if (in_ >= 0) ::signal(SIGPIPE, SIG_IGN);
  Output o;
  const auto deadline = Clock::now() + timeout;
  size_t written = 0;
  if (in_ >= 0 && stdin_text.empty()) close_fd(in_);
  while (out_ >= 0 || err_ >= 0) {
    pollfd fds[3];
    int n = 0;
    if (out_ >= 0) fds[n++] = {out_, POLLIN, 0};
    if (err_ >= 0) fds[n++] = {err_, POLLIN, 0};
    if (in_ >= 0) fds[n++] = {in_, POLLOUT, 0};
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    const int r = left.count() <= 0 ? 0 : ::poll(fds, n, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      o.timed_out = true;
      signal(SIGKILL);
      break;
    }
    for (int i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == in_) {
        const ssize_t w = ::write(in_, stdin_text.data() + written, stdin_text.size() - written);
        if (w > 0) written += static_cast<size_t>(w);
        if (w < 0 || written == stdin_text.size()) close_fd(in_);
        continue;
      }
      char buf[16384];
      const ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      const bool is_out = fds[i].fd == out_;
      if (got > 0) {
        (is_out ? o.out : o.err).append(buf, static_cast<size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        close_fd(is_out ? out_ : err_);
      }
    }
  }
  close_fd(in_);
  close_fd(out_);
  close_fd(err_);
  o.exit_code = wait();
  return o;
}

ChildProcess::Output run_program(const std::string& bin, const std::vector<std::string>& args,
                                 std::chrono::milliseconds timeout) {
  return ChildProcess(bin, args).communicate(timeout);
}

}  // namespace sidewal::test
