#include "report.h"

#include <fmt/format.h>

#include "common/json.h"

namespace sidewal::bench {

namespace {

double us(uint64_t ns) { return static_cast<double>(ns) / 1e3; }
double mib(uint64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }
double signed_mib(uint64_t after, uint64_t before) {
  return (static_cast<double>(after) - static_cast<double>(before)) / (1024.0 * 1024.0);
}

std::string json_string(const std::string& s) { return json_text(Json(s)); }

template <typename T>
std::string json_opt(const std::optional<T>& v) {
  return v ? fmt::format("{}", *v) : "null";
}

}  // namespace

std::string format_text(const BenchResult& r) {
  const auto& o = r.options;
  const auto& h = r.latency;
  std::string s;
  s += fmt::format(
      "mode          {}  ({} connections x {} in flight, {} record(s) of {} B per APPEND)\n",
      o.rate > 0
          ? fmt::format("open-loop at {:.0f} appends/s, send tick {:g} us", o.rate, o.send_tick_us)
          : (o.blocking     ? "closed-loop, blocking append()"
             : o.event_loop ? "closed-loop, one epoll thread"
                            : "closed-loop"),
      o.connections, o.pipeline, o.batch, o.record_bytes);
  s += fmt::format("window        {:.1f} s after {:.1f} s warm-up\n", r.window_s, o.warmup_s);
  s += fmt::format("throughput    {:.0f} appends/s, {:.0f} records/s, {:.2f} MB/s\n",
                   r.appends_per_s, r.records_per_s, r.mb_per_s);
  s += fmt::format(
      "latency (us)  p50 {:.1f}  p90 {:.1f}  p99 {:.1f}  p99.9 {:.1f}  max {:.1f}  ({} "
      "samples{})\n",
      us(h.value_at_percentile(50)), us(h.value_at_percentile(90)), us(h.value_at_percentile(99)),
      us(h.value_at_percentile(99.9)), us(h.max()), h.count(),
      o.rate > 0 ? ", from the scheduled send time" : "");
  if (o.rate > 0)
    s += fmt::format("send lag      max {:.1f} us behind schedule\n", us(r.max_send_lag_ns));
  if (const auto& w = r.wake_probe) {
    s += fmt::format(
        "wake probe    oversleep of a {:g} ms sleep (us) p50 {:.1f}  p99 {:.1f}  p99.9 {:.1f}  max "
        "{:.1f}  "
        "({} stalls over {:g} ms in {} samples)\n",
        us(WakeProbe::kPeriodNs) / 1e3, us(w->p50_ns), us(w->p99_ns), us(w->p999_ns), us(w->max_ns),
        w->stalls, us(w->stall_ns) / 1e3, w->samples);
  }
  s += fmt::format("per flush     {}\n",
                   r.records_per_flush
                       ? fmt::format("{:.1f} records", *r.records_per_flush)
                       : "n/a" + (r.metrics_error.empty() ? "" : " (" + r.metrics_error + ")"));
  s += fmt::format(
      "host Cached   before {:.1f} MiB, after {:.1f} MiB ({:+.1f}), max {:.1f} MiB ({:+.1f})\n",
      mib(r.cached_before), mib(r.cached_after), signed_mib(r.cached_after, r.cached_before),
      mib(r.cached_max), signed_mib(r.cached_max, r.cached_before));
  if (r.residency_before || r.residency_after) {
    s += fmt::format("log resident  before {} B, after {} B ({} .wal files)\n",
                     json_opt(r.residency_before), json_opt(r.residency_after), r.wal_files);
  }
  s += fmt::format("verify        {} of {} sampled records read back {}\n",
                   r.verify_checked - r.verify_mismatches, r.verify_checked,
                   r.verify_mismatches ? "MISMATCH: " + r.first_mismatch : "identical");
  if (r.errors || r.unacked || r.unsent || r.order_violations) {
    s += fmt::format(
        "PROBLEMS      {} failed APPENDs{}, {} unacknowledged and {} never sent when the drain "
        "timed out, {} out-of-order ACKs\n",
        r.errors, r.first_error.empty() ? "" : " (first: " + r.first_error + ")", r.unacked,
        r.unsent, r.order_violations);
  }
  return s;
}

std::string format_json(const BenchResult& r) {
  const auto& o = r.options;
  const auto& h = r.latency;
  std::string s = "{\n";
  s += fmt::format("  \"mode\": \"{}\",\n", o.rate > 0     ? "open"
                                            : o.blocking   ? "closed_blocking"
                                            : o.event_loop ? "closed_event_loop"
                                                           : "closed");
  s +=
      fmt::format("  \"connections\": {}, \"pipeline\": {}, \"batch\": {}, \"record_bytes\": {},\n",
                  o.connections, o.pipeline, o.batch, o.record_bytes);
  s += fmt::format(
      "  \"target_rate\": {}, \"send_tick_us\": {}, \"warmup_s\": {}, \"window_s\": {},\n", o.rate,
      o.send_tick_us, o.warmup_s, r.window_s);
  s += fmt::format("  \"appends\": {}, \"records\": {},\n", r.appends, r.records);
  s +=
      fmt::format("  \"appends_per_s\": {:.1f}, \"records_per_s\": {:.1f}, \"mb_per_s\": {:.3f},\n",
                  r.appends_per_s, r.records_per_s, r.mb_per_s);
  s += fmt::format(
      "  \"latency_us\": {{\"count\": {}, \"min\": {:.1f}, \"mean\": {:.1f}, \"p50\": {:.1f}, "
      "\"p90\": {:.1f}, "
      "\"p99\": {:.1f}, \"p999\": {:.1f}, \"max\": {:.1f}}},\n",
      h.count(), us(h.min()), h.mean() / 1e3, us(h.value_at_percentile(50)),
      us(h.value_at_percentile(90)), us(h.value_at_percentile(99)), us(h.value_at_percentile(99.9)),
      us(h.max()));
  s += fmt::format("  \"max_send_lag_us\": {:.1f},\n", us(r.max_send_lag_ns));
  if (const auto& w = r.wake_probe) {
    // Keys of their own (p50_us, not p50): a reader taking the first "p50"
    // gets the requests' latency, as before.
    s += fmt::format(
        "  \"wake_probe\": {{\"period_us\": {:.0f}, \"samples\": {}, \"p50_us\": {:.1f}, "
        "\"p99_us\": {:.1f}, "
        "\"p999_us\": {:.1f}, \"max_us\": {:.1f}, \"stalls_over_2ms\": {}}},\n",
        us(WakeProbe::kPeriodNs), w->samples, us(w->p50_ns), us(w->p99_ns), us(w->p999_ns),
        us(w->max_ns), w->stalls);
  } else {
    s += "  \"wake_probe\": null,\n";
  }
  s += fmt::format("  \"records_per_flush\": {},\n",
                   r.records_per_flush ? fmt::format("{:.2f}", *r.records_per_flush) : "null");
  s += fmt::format("  \"metrics_error\": {},\n", json_string(r.metrics_error));
  s += fmt::format("  \"cached_bytes\": {{\"before\": {}, \"after\": {}, \"max\": {}}},\n",
                   r.cached_before, r.cached_after, r.cached_max);
  s += fmt::format("  \"residency_bytes\": {{\"before\": {}, \"after\": {}, \"wal_files\": {}}},\n",
                   json_opt(r.residency_before), json_opt(r.residency_after), r.wal_files);
  s += fmt::format(
      "  \"verify\": {{\"checked\": {}, \"mismatches\": {}, \"first_mismatch\": {}}},\n",
      r.verify_checked, r.verify_mismatches, json_string(r.first_mismatch));
  s += fmt::format(
      "  \"errors\": {}, \"first_error\": {}, \"unacked\": {}, \"unsent\": {}, "
      "\"order_violations\": {},\n",
      r.errors, json_string(r.first_error), r.unacked, r.unsent, r.order_violations);
  s += fmt::format("  \"ok\": {}\n", r.ok() ? "true" : "false");
  return s + "}\n";
}

std::string format_uds_rtt_text(const UdsRttResult& r) {
  const auto& h = r.latency;
  std::string s;
  s += fmt::format(
      "mode          Unix-socket round trip, no-op server, 1 client x 1 in flight, blocking "
      "send/recv "
      "(request {} B: APPEND of one {} B record; reply {} B: ACK)\n",
      r.request_bytes, r.options.record_bytes, r.reply_bytes);
  s += fmt::format("window        {:.1f} s after {:.1f} s warm-up\n", r.window_s,
                   r.options.warmup_s);
  s += fmt::format("throughput    {:.0f} round trips/s\n", r.round_trips_per_s);
  s += fmt::format(
      "latency (us)  p50 {:.1f}  p90 {:.1f}  p99 {:.1f}  p99.9 {:.1f}  max {:.1f}  ({} samples)\n",
      us(h.value_at_percentile(50)), us(h.value_at_percentile(90)), us(h.value_at_percentile(99)),
      us(h.value_at_percentile(99.9)), us(h.max()), h.count());
  return s;
}

std::string format_uds_rtt_json(const UdsRttResult& r) {
  const auto& h = r.latency;
  std::string s = "{\n";
  s += "  \"mode\": \"uds_rtt\",\n";
  s += fmt::format("  \"record_bytes\": {}, \"request_bytes\": {}, \"reply_bytes\": {},\n",
                   r.options.record_bytes, r.request_bytes, r.reply_bytes);
  s += fmt::format("  \"warmup_s\": {}, \"window_s\": {:.3f},\n", r.options.warmup_s, r.window_s);
  s += fmt::format("  \"round_trips\": {}, \"round_trips_per_s\": {:.1f},\n", r.round_trips,
                   r.round_trips_per_s);
  s += fmt::format(
      "  \"latency_us\": {{\"count\": {}, \"min\": {:.1f}, \"mean\": {:.1f}, \"p50\": {:.1f}, "
      "\"p90\": {:.1f}, "
      "\"p99\": {:.1f}, \"p999\": {:.1f}, \"max\": {:.1f}}}\n",
      h.count(), us(h.min()), h.mean() / 1e3, us(h.value_at_percentile(50)),
      us(h.value_at_percentile(90)), us(h.value_at_percentile(99)), us(h.value_at_percentile(99.9)),
      us(h.max()));
  return s + "}\n";
}

namespace {

std::string percentiles_json(const LatencyHistogram& h) {
  return fmt::format(
      "{{\"count\": {}, \"min\": {:.1f}, \"mean\": {:.1f}, \"p50\": {:.1f}, \"p90\": {:.1f}, "
      "\"p99\": {:.1f}, \"p999\": {:.1f}, \"max\": {:.1f}}}",
      h.count(), us(h.min()), h.mean() / 1e3, us(h.value_at_percentile(50)),
      us(h.value_at_percentile(90)), us(h.value_at_percentile(99)), us(h.value_at_percentile(99.9)),
      us(h.max()));
}

std::string percentiles_text(const LatencyHistogram& h) {
  return fmt::format("p50 {:.1f}  p90 {:.1f}  p99 {:.1f}  p99.9 {:.1f}  max {:.1f}  ({} samples)",
                     us(h.value_at_percentile(50)), us(h.value_at_percentile(90)),
                     us(h.value_at_percentile(99)), us(h.value_at_percentile(99.9)), us(h.max()),
                     h.count());
}

}  // namespace

std::string format_sync_floor_text(const SyncFloorResult& r) {
  std::string s;
  s += fmt::format(
      "mode          durable-ACK floor, no daemon: {} B O_DIRECT write + fdatasync back to back; "
      "requests at {:.0f}/s, each acknowledged at the end of the first cycle that starts after "
      "it\n",
      kSyncFloorWriteBytes, r.options.rate);
  s += fmt::format("window        {:.1f} s after {:.1f} s warm-up\n", r.window_s,
                   r.options.warmup_s);
  s += fmt::format("cycles        {:.0f}/s; one cycle (us) {}\n", r.cycles_per_s,
                   percentiles_text(r.cycle));
  s += fmt::format("latency (us)  {}  (from the scheduled time)\n", percentiles_text(r.ack));
  return s;
}

std::string format_sync_floor_json(const SyncFloorResult& r) {
  std::string s = "{\n";
  s += "  \"mode\": \"sync_floor\",\n";
  s += fmt::format("  \"rate\": {:.1f}, \"write_bytes\": {},\n", r.options.rate,
                   kSyncFloorWriteBytes);
  s += fmt::format("  \"warmup_s\": {}, \"window_s\": {:.3f},\n", r.options.warmup_s, r.window_s);
  s += fmt::format("  \"cycles\": {}, \"cycles_per_s\": {:.1f},\n", r.cycles, r.cycles_per_s);
  s += fmt::format("  \"cycle_us\": {},\n", percentiles_json(r.cycle));
  s += fmt::format("  \"latency_us\": {}\n", percentiles_json(r.ack));
  return s + "}\n";
}

}  // namespace sidewal::bench
