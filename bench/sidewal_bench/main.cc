// sidewal-bench: drives a running sidewald over its Unix socket with the
// client library and reports throughput, latency, records per flush and the
// page-cache figures; then reads a sample of what it wrote back and checks it.
//
//   sidewal-bench --socket ./var/sidewal.sock --connections 64 --pipeline 16
//   sidewal-bench --rate 100000 --duration 60 --data-dir ./var/data --json
//   sidewal-bench --follow-latency 5000 --record-bytes 256   (ACK -> follower delivery)
//   sidewal-bench --rate 10000 --wake-probe     (and how late the machine wakes a thread)
//   sidewal-bench --uds-rtt --duration 10       (no daemon: one Unix-socket round trip)
//   sidewal-bench --sync-floor --rate 10000     (no daemon: the open loop's durable-ACK floor)
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "follow_latency.h"
#include "report.h"
#include "runner.h"
#include "uds_rtt.h"

namespace {

// A mode without a daemon (--uds-rtt, --sync-floor): its result printed by
// `format`, or its error; the exit code.
template <typename R>
int print_result(const sidewal::Result<R>& r, std::string (*format)(const R&)) {
  if (!r.ok()) {
    std::fprintf(stderr, "sidewal-bench: %s\n", r.status().ToString().c_str());
    return 2;
  }
  std::fputs(format(r.value()).c_str(), stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  sidewal::bench::BenchOptions o;
  bool json = false;
  CLI::App app{"sidewal-bench: closed- or open-loop append benchmark against a running sidewald"};
  app.add_option("--socket", o.socket, "sidewald's Unix socket")->capture_default_str();
  app.add_option("--connections", o.connections, "client connections")
      ->capture_default_str()
      ->check(CLI::Range(1u, 4096u));
  app.add_option("--pipeline", o.pipeline, "APPENDs in flight per connection")
      ->capture_default_str()
      ->check(CLI::Range(1u, 65536u));
  app.add_option("--batch", o.batch, "records per APPEND")
      ->capture_default_str()
      ->check(CLI::Range(1u, 65536u));
  app.add_option("--record-bytes", o.record_bytes, "payload bytes per record")
      ->capture_default_str()
      ->check(CLI::Range(1u, 16u << 20));
  app.add_option("--duration", o.duration_s, "measured seconds")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--warmup", o.warmup_s, "unmeasured seconds before the window")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--rate", o.rate,
                 "open-loop target in APPENDs/s over all connections (latency from the scheduled "
                 "send time); 0 = closed-loop")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--send-tick-us", o.send_tick_us,
                 "open-loop: the sender wakes at most once per tick and sends every request due, "
                 "one send() per connection (never early: the tick counts in the latency); 0 = "
                 "wake for every request")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--admin", o.admin,
                 "sidewald's admin host:port; /metrics gives records per flush (empty: skip)")
      ->capture_default_str();
  app.add_option("--data-dir", o.data_dir,
                 "sidewald's data directory, to measure its .wal files' page-cache residency")
      ->capture_default_str();
  app.add_option("--verify-sample", o.verify_sample,
                 "ACKed records read back and compared at the end")
      ->capture_default_str();
  app.add_option("--drain-timeout", o.drain_timeout_s, "seconds to wait for the last ACKs")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_flag("--json", json, "print the result as JSON");
  app.add_flag("--wake-probe", o.wake_probe,
               "through the measured window, one more thread sleeps 1 ms at a time and records "
               "how late it wakes (p50/p99/p99.9/max, stalls over 2 ms): a noisy machine shows "
               "beside the figures it disturbs");
  app.add_flag("--blocking", o.blocking,
               "closed loop through the blocking Client::append: one thread per connection, "
               "one APPEND at a time, as a database commits synchronously (needs --pipeline 1, "
               "no --rate)");
  app.add_flag("--event-loop", o.event_loop,
               "closed loop from one thread over epoll, raw protocol frames, as redis-benchmark "
               "drives Redis, instead of the client library's reader thread per connection "
               "(no --rate, no --blocking)");
  bool uds_rtt = false;
  app.add_flag("--uds-rtt", uds_rtt,
               "instead of the append benchmark, no daemon: two threads over a Unix stream "
               "socket in a temp directory, one sends an APPEND frame of one --record-bytes "
               "record, the other reads it and answers with an ACK frame, blocking send/recv, 1 "
               "in flight, for --duration s after --warmup s; prints round trips/s and latency "
               "percentiles (the round-trip floor)");
  bool sync_floor = false;
  app.add_flag("--sync-floor", sync_floor,
               "instead of the append benchmark, no daemon: one thread writes 4 KiB with O_DIRECT "
               "and fdatasyncs, back to back, in a temporary file in --data-dir (else $TMPDIR or "
               "/tmp), for --duration s after --warmup s; requests scheduled at --rate are each "
               "acknowledged at the end of the first cycle that starts after them (a group commit "
               "with no CPU cost); prints cycles/s and the latency percentiles from the scheduled "
               "time (the open loop's durable-ACK floor)");
  uint64_t follow_records = 0;
  app.add_option("--follow-latency", follow_records,
                 "instead of the append benchmark: append N records one at a time while a "
                 "follow READ on another connection receives them; print ACK -> delivery "
                 "latency percentiles (uses --socket and --record-bytes)");
  bool follow_skip_dead = false;
  app.add_flag("--follow-skip-dead", follow_skip_dead,
               "with --follow-latency: the follower's READ sets SKIP_DEAD");
  CLI11_PARSE(app, argc, argv);

  ::signal(SIGPIPE, SIG_IGN);
  if (uds_rtt) {
    return print_result(sidewal::bench::run_uds_rtt(
                            sidewal::bench::UdsRttOptions{.record_bytes = o.record_bytes,
                                                          .duration_s = o.duration_s,
                                                          .warmup_s = o.warmup_s}),
                        json ? sidewal::bench::format_uds_rtt_json
                             : sidewal::bench::format_uds_rtt_text);
  }
  if (sync_floor) {
    return print_result(sidewal::bench::run_sync_floor(
                            sidewal::bench::SyncFloorOptions{.rate = o.rate > 0 ? o.rate : 10000,
                                                             .duration_s = o.duration_s,
                                                             .warmup_s = o.warmup_s,
                                                             .dir = o.data_dir}),
                        json ? sidewal::bench::format_sync_floor_json
                             : sidewal::bench::format_sync_floor_text);
  }
  if (follow_records > 0) {
    auto f = sidewal::bench::run_follow_latency(
        sidewal::bench::FollowLatencyOptions{.socket = o.socket,
                                             .records = follow_records,
                                             .record_bytes = o.record_bytes,
                                             .skip_dead = follow_skip_dead});
    if (!f.ok()) {
      std::fprintf(stderr, "sidewal-bench: %s\n", f.status().ToString().c_str());
      return 2;
    }
    std::fputs(f.value().c_str(), stdout);
    return 0;
  }
  if (o.blocking && (o.pipeline != 1 || o.rate > 0)) {
    std::fprintf(stderr, "sidewal-bench: --blocking needs --pipeline 1 and no --rate\n");
    return 2;
  }
  if (o.event_loop && (o.blocking || o.rate > 0)) {
    std::fprintf(stderr,
                 "sidewal-bench: --event-loop needs a closed loop: no --rate, no --blocking\n");
    return 2;
  }
  auto r = sidewal::bench::run_bench(o);
  if (!r.ok()) {
    std::fprintf(stderr, "sidewal-bench: %s\n", r.status().ToString().c_str());
    return 2;
  }
  const std::string out =
      json ? sidewal::bench::format_json(r.value()) : sidewal::bench::format_text(r.value());
  std::fputs(out.c_str(), stdout);
  return r.value().ok() ? 0 : 1;
}
