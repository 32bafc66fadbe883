// sidewal-bench --event-loop: the load generator in the shape of
// redis-benchmark. One thread drives every connection: non-blocking Unix
// sockets, one epoll set, APPEND frames written straight from the protocol
// codec (no client library, no reader thread per connection). When a flush
// answers many connections at once, the thread wakes once for all of their
// ACKs, where the client library's reader threads wake once each.
//
// Why the bench has it: on a 2-vCPU machine the load generator's CPU and its
// wake-ups are the daemon's too (each wake of a thread on the other CPU is
// paid partly by the sender: an inter-processor interrupt, a VM exit here).
// redis-benchmark drives Redis this way; this mode lets sidewal be measured
// with a load generator of the same shape. The default mode (the client
// library) stays what a database linking it sees.
//
// Threads: connect() on any thread; everything else, append() included, on
// the thread inside run() (its start hook and the ACK callbacks run there),
// except stop().
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "client/client.h"
#include "common/status.h"

namespace sidewal::bench {

class EventLoop {
 public:
  // The outcome of one APPEND: OK with its first LSN and record count, or
  // the daemon's ERROR, or Closed/IoError when the connection broke.
  using AckFn = std::function<void(const Status&, uint64_t first_lsn, uint32_t count)>;

  static Result<std::unique_ptr<EventLoop>> connect(const std::string& socket_path,
                                                    uint32_t connections);
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Loop thread only. Queues one APPEND of `records` on connection `conn`
  // and writes it when this turn of run() has handled its events (what the
  // socket does not take then is written when it has room). `done` runs once, on the loop thread: from a later
  // run() turn, never from inside append().
  void append(uint32_t conn, std::span<const client::RecordIn> records, AckFn done);

  // Runs `start` on this thread, then serves the connections until stop().
  // A broken connection fails what it has in flight and takes no more.
  void run(const std::function<void()>& start);
  // Any thread: run() returns soon after; callbacks not yet run never run.
  void stop();

 private:
  struct Connection {
    int fd = -1;
    bool broken = false;
    uint64_t next_request_id = 1;
    std::vector<uint8_t> out;  // frames not yet taken by the socket
    size_t out_sent = 0;       // bytes of `out` already written
    bool want_out = false;     // EPOLLOUT registered
    bool dirty = false;        // in dirty_: frames queued this turn
    std::vector<uint8_t> in;   // [0, in_len): bytes read, not yet a whole frame
    size_t in_len = 0;
    std::deque<AckFn> waiting;  // in request order: replies come in that order
  };

  EventLoop() = default;
  void write_some(uint32_t conn);
  void write_dirty();  // one send() per connection that queued frames this turn
  void read_some(uint32_t conn);
  void fail(uint32_t conn, const Status& why);
  void watch(uint32_t conn, bool want_out);

  int epoll_fd_ = -1;
  int stop_fd_ = -1;  // eventfd: stop()
  std::vector<Connection> conns_;
  std::vector<proto::AppendRecord> scratch_;
  std::vector<uint32_t> dirty_;  // connections with frames queued this turn
};

}  // namespace sidewal::bench
