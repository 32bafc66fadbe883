// The Unix-socket round-trip floor (sidewal-bench --uds-rtt, issue 16): what
// one request and its reply cost through the kernel between two threads
// when nothing is done in between: no daemon, no disk.
//
// The path mirrors a client of sidewald's: a SOCK_STREAM socket listening in
// a fresh temporary directory, one connection; the client thread send()s an
// APPEND frame of one record (src/proto: 16-byte header + 12-byte record
// header + the payload: 128 B for 100 B) and recv()s until the whole reply
// is in; the server thread read()s into a 64 KiB buffer (grown for a larger
// frame) until it has the whole frame (header, then body_len) and write()s
// an ACK frame (16 + 16 = 32 B). Both ends block in the kernel (no epoll):
// the floor of a round trip, closed loop, one in flight. Latency is send()
// to the last reply byte.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"
#include "histogram.h"

namespace sidewal::bench {

struct UdsRttOptions {
  uint32_t record_bytes = 100;  // the APPEND's one record
  double duration_s = 10;       // measured window (extended to at least one round trip)
  double warmup_s = 2;          // round trips before the window, not measured
  // Where the listening socket's temporary directory is made; empty:
  // $TMPDIR, else /tmp.
  std::string tmp_dir;
};

struct UdsRttResult {
  UdsRttOptions options;
  uint64_t request_bytes = 0;  // the APPEND frame sent
  uint64_t reply_bytes = 0;    // the ACK frame returned
  double window_s = 0;         // measured, from the first to the last round trip's end
  uint64_t round_trips = 0;    // inside the window
  double round_trips_per_s = 0;
  LatencyHistogram latency;  // ns, send() to the whole reply received
};

// The frames the round trip carries: an APPEND of one record of
// `record_bytes` and the ACK for it, encoded by src/proto.
uint64_t uds_rtt_request_bytes(uint32_t record_bytes);
uint64_t uds_rtt_reply_bytes();

// Fails only when it cannot set up the socket or a send/recv fails.
Result<UdsRttResult> run_uds_rtt(const UdsRttOptions& options);

}  // namespace sidewal::bench
