// A child process of a test: another program (fork + execv) or a function run
// in a fork of the test process; its output collected through pipes, waited
// for with a deadline, and killed (SIGKILL) and reaped if the test ends first.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace sidewal::test {

// The shell's convention: the exit status, or 128 + the signal that ended it.
int exit_code_of(int wait_status);

class ChildProcess {
 public:
  struct Options {
    bool capture_output = true;  // stdout and stderr to pipes; else inherited
    bool merge_stderr = false;   // stderr into the stdout pipe
    bool pipe_stdin = false;     // stdin from a pipe that communicate() feeds
  };
  struct Output {
    int exit_code = -1;  // exit_code_of(); for a killed run, 128 + SIGKILL
    std::string out;
    std::string err;
    bool timed_out = false;  // communicate()'s deadline passed: it was killed
  };

  // Starts `bin` (argv[0]) with `args`; throws std::runtime_error when it
  // cannot fork (an exec failure is exit code 127).
  ChildProcess(const std::string& bin, const std::vector<std::string>& args);
  ChildProcess(const std::string& bin, const std::vector<std::string>& args, Options options);
  // Runs `body` in a fork of this process, which exits with its result. The
  // test process may have threads: `body` should do little beyond the system
  // calls under test.
  static ChildProcess fork_and_run(const std::function<int()>& body);

  ~ChildProcess();  // kills (SIGKILL) and reaps a child still running
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&&) = delete;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool reaped() const { return pid_ <= 0; }
  void signal(int sig);  // nothing once reaped

  // The read end of the stdout pipe, now the caller's to read and close.
  int release_stdout();

  // The exit code once the child has exited (it is then reaped); nullopt
  // while it runs. Never blocks.
  std::optional<int> try_wait();
  // Blocks until the child exits; its exit code.
  int wait();
  // Writes `stdin_text` (with pipe_stdin), reads stdout and stderr until the
  // child closes both, and reaps it. When `timeout` passes first the child is
  // killed and reaped, and the output so far returned with timed_out set.
  Output communicate(std::chrono::milliseconds timeout, const std::string& stdin_text = "");

 private:
  ChildProcess() = default;
  pid_t pid_ = -1;
  int exit_code_ = -1;
  int in_ = -1, out_ = -1, err_ = -1;
};

// Runs `bin` with `args` to completion (communicate()): stdout and stderr
// apart, killed after `timeout`.
ChildProcess::Output run_program(const std::string& bin, const std::vector<std::string>& args,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(60));

}  // namespace sidewal::test
