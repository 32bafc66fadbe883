// The client-driven part of --follow-latency (follow_latency.h); the pure
// pairing and payload code is in follow_latency.cc, in the tested library.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>

#include "client/client.h"
#include "follow_latency.h"

namespace sidewal::bench {

namespace {

using Clock = std::chrono::steady_clock;

std::string us(uint64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f us", static_cast<double>(ns) / 1000.0);
  return buf;
}

}  // namespace

Result<std::string> run_follow_latency(const FollowLatencyOptions& o) {
  if (o.records == 0) return Status::InvalidArgument("--follow-latency needs at least 1 record");
  // Declared before the clients: their callbacks use it until the clients
  // are destroyed (closing them completes what is still in flight).
  std::vector<uint64_t> ack_ns(o.records, 0), delivered_ns(o.records, 0);
  std::mutex mu;
  std::condition_variable cv;
  uint64_t delivered = 0;  // guarded by mu
  uint64_t acked = 0;      // guarded by mu
  Status failure;          // guarded by mu
  bool ended = false;      // guarded by mu
  auto appender = client::Client::connect(o.socket);
  if (!appender.ok()) return appender.status();
  auto follower = client::Client::connect(o.socket);
  if (!follower.ok()) return follower.status();
  auto st = (*appender)->status();
  if (!st.ok()) return st.status();
  const uint64_t first = st->durable_lsn + 1;  // only records of this run

  const Clock::time_point t0 = Clock::now();
  // Closes both clients on every return before the locals their callbacks
  // use go away (close() completes, with Closed, whatever is in flight).
  struct CloseClients {
    client::Client* a;
    client::Client* b;
    ~CloseClients() {
      a->close();
      b->close();
    }
  } close_clients{appender->get(), follower->get()};
  auto since_t0 = [t0] {
    // +1 so that 0 keeps meaning "never".
    return static_cast<uint64_t>(
               std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count()) +
           1;
  };

  auto read_id = (*follower)->follow(
      first,
      [&](std::span<const proto::ReadRecord> recs) {
        const uint64_t now = since_t0();  // one time for the frame: that is when it arrived
        std::lock_guard lk(mu);
        for (const auto& r : recs) {
          auto idx = follow_payload_index(r.payload);
          if (!idx.ok() || *idx >= o.records) {
            if (failure.ok()) failure = Status::Corruption("follower got a foreign record at LSN " +
                                                           std::to_string(r.lsn));
            continue;
          }
          if (delivered_ns[*idx] == 0) {
            delivered_ns[*idx] = now;
            ++delivered;
          }
        }
        cv.notify_all();
      },
      [&](const Status& s, uint64_t) {
        std::lock_guard lk(mu);
        if (!s.ok() && failure.ok()) failure = s;
        ended = true;
        cv.notify_all();
      },
      client::ReadOptions{.skip_dead = o.skip_dead});
  if (!read_id.ok()) return read_id.status();

  const auto deadline = t0 + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(o.timeout_s));
  for (uint64_t i = 0; i < o.records; ++i) {
    const std::vector<uint8_t> payload = follow_payload(i, o.record_bytes);
    const client::RecordIn rec{.type = 1, .flags = 0, .tenant = 1, .payload = payload};
    Status sent = (*appender)->append_async(
        std::span(&rec, 1), [&, i](const Status& s, uint64_t, uint32_t) {
          const uint64_t now = since_t0();
          std::lock_guard lk(mu);
          if (s.ok()) {
            ack_ns[i] = now;
          } else if (failure.ok()) {
            failure = s;
          }
          ++acked;
          cv.notify_all();
        });
    if (!sent.ok()) return sent;
    std::unique_lock lk(mu);
    // One APPEND in flight: the next is sent once this one is ACKed.
    if (!cv.wait_until(lk, deadline, [&] { return acked == i + 1 || !failure.ok(); })) {
      return Status::Failed("follow-latency: no ACK for record " + std::to_string(i) +
                            " before the deadline");
    }
    if (!failure.ok()) return failure;
  }
  {
    std::unique_lock lk(mu);
    cv.wait_until(lk, deadline, [&] { return delivered == o.records || ended; });
  }
  (void)(*follower)->cancel(*read_id);
  {
    std::unique_lock lk(mu);
    cv.wait_until(lk, deadline, [&] { return ended; });
    if (!failure.ok()) return failure;
  }
  const FollowLatency f = pair_follow_times(ack_ns, delivered_ns);
  const LatencyHistogram& h = f.histogram;
  std::string out = "follow latency (ACK -> delivery), " + std::to_string(h.count()) +
                    " records of " + std::to_string(o.record_bytes) + " bytes, one in flight" +
                    (o.skip_dead ? ", follower with SKIP_DEAD" : "") + "\n";
  out += "  p50 " + us(h.value_at_percentile(50)) + "  p90 " + us(h.value_at_percentile(90)) +
         "  p99 " + us(h.value_at_percentile(99)) + "  p99.9 " +
         us(h.value_at_percentile(99.9)) + "  max " + us(h.max()) + "\n";
  out += "  delivered before the ACK callback ran: " + std::to_string(f.delivered_before_ack) +
         " (counted as 0)\n";
  out += "  missing: " + std::to_string(f.missing) + "\n";
  if (f.missing != 0) {
    return Status::Failed("follow-latency: " + std::to_string(f.missing) +
                          " records were never delivered\n" + out);
  }
  return out;
}

}  // namespace sidewal::bench
