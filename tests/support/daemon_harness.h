// Harness for the integration tests: runs the real build/bin/sidewald on a
// temp directory, talks to it over raw protocol frames (src/proto) and over
// HTTP, and waits on real conditions (daemon output, HTTP answers, waitpid)
// with deadlines; never by sleeping.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "proto/protocol.h"
#include "tests/support/child_process.h"
#include "tests/support/temp_dir.h"

namespace sidewal::it {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

// Scratch directories and child processes: tests/support.
using test::TempDir;
using RunResult = test::ChildProcess::Output;
using test::run_program;

// ---- HTTP (admin port).
struct HttpResponse {
  int status = 0;  // 0: no answer (connection refused, timeout)
  std::string body;
};
HttpResponse http_get(uint16_t port, const std::string& path, milliseconds timeout = seconds(5));

// ---- Raw protocol client over the Unix socket.
struct Frame {
  proto::FrameHeader header;
  std::vector<uint8_t> body;
  proto::Opcode opcode() const { return static_cast<proto::Opcode>(header.opcode); }
};

// One record as the tests hold it (owning its payload).
struct TestRecord {
  uint64_t lsn = 0;
  uint16_t type = 0;
  uint32_t tenant = 0;
  std::vector<uint8_t> payload;
};

class RawClient {
 public:
  // Connects; throws std::runtime_error when the socket does not accept.
  explicit RawClient(const std::string& socket_path);
  ~RawClient();
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  // Sends bytes exactly; false when the daemon closed the connection.
  bool send(const std::vector<uint8_t>& bytes);
  // Next frame; nullopt on EOF or reset. Throws on timeout.
  std::optional<Frame> read_frame(milliseconds timeout = seconds(20));
  // True when the daemon closes the connection (EOF/reset) within `timeout`
  // with no further frame; throws if a frame arrives instead.
  bool wait_closed(milliseconds timeout = seconds(10));
  void shutdown_write();
  int fd() const { return fd_; }

  // Request helpers; each returns the reply frame for its request id.
  uint64_t next_id() { return ++last_id_; }
  void send_append(uint64_t id, const std::vector<TestRecord>& records);
  Frame append(const std::vector<TestRecord>& records);  // sends and waits for the reply
  proto::StatusReply status();
  // READ (no follow) from `from` until END: every record; throws on ERROR.
  std::vector<TestRecord> read_all(uint64_t from, uint32_t max_bytes = 0);

 private:
  bool read_exact(uint8_t* p, size_t n, Clock::time_point deadline, bool* timed_out);
  int fd_ = -1;
  uint64_t last_id_ = 0;
};

// Decoders that throw on a malformed reply (the daemon must never send one).
proto::Ack expect_ack(const Frame& f);
proto::ErrorReply expect_error(const Frame& f);
std::string describe(const Frame& f);

// ---- The daemon process.
struct DaemonConfig {
  // Section -> key -> YAML value text. data_dir, socket.path and admin.listen
  // are filled in by Daemon; tests add or override anything else.
  std::map<std::string, std::map<std::string, std::string>> sections;
  std::string set(const std::string& section, const std::string& key, const std::string& v) {
    sections[section][key] = v;
    return v;
  }
};

class Daemon {
 public:
  // Uses `dir` for data (dir/data), the socket (dir/s.sock) and the config.
  Daemon(std::string dir, DaemonConfig config = {});
  ~Daemon();  // kills a still-running daemon (SIGKILL) and reaps it

  // Starts sidewald and waits for its "listening" line (admin port known).
  void start(std::vector<std::string> extra_args = {});
  // start() and then waits until /readyz answers 200.
  void start_ready(milliseconds timeout = seconds(60));
  void wait_ready(milliseconds timeout = seconds(60));

  void signal(int sig);
  // Waits for the process to exit; returns its exit code (128+sig if killed).
  int wait_exit(milliseconds timeout = seconds(60));
  void kill9() {
    signal(9);
    wait_exit();
  }
  bool running() const { return child_ && !child_->reaped(); }
  pid_t pid() const { return running() ? child_->pid() : -1; }

  const std::string& socket_path() const { return socket_; }
  const std::string& data_dir() const { return data_; }
  uint16_t admin_port() const { return admin_port_; }
  std::string output() const;  // everything it printed (stdout and stderr)

  // Waits until `pred` holds, re-checking whenever the daemon prints a line
  // and at least every 5 ms (a condition-variable wait, not a sleep).
  bool wait_until(const std::function<bool()>& pred, milliseconds timeout);

 private:
  void write_config();
  std::string dir_;
  std::string data_;
  std::string socket_;
  std::string config_path_;
  DaemonConfig config_;
  std::optional<test::ChildProcess> child_;
  int exit_code_ = -1;
  uint16_t admin_port_ = 0;
  std::thread pump_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string output_;      // guarded by mu_
  size_t output_seen_ = 0;  // output_ offset the current start() began at
};

// Runs sidewald to completion with `args` (for config errors): exit code and
// everything it printed on stdout and stderr.
RunResult run_sidewald(const std::vector<std::string>& args, milliseconds timeout = seconds(30));

// Deterministic payload for (stream, seq): lets a test recognise any record
// it reads back as one it sent, and regenerate its exact bytes.
std::vector<uint8_t> make_payload(uint32_t stream, uint64_t seq, size_t len);

}  // namespace sidewal::it
