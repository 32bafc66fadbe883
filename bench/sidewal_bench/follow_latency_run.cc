// The client-driven part of --follow-latency (follow_latency.h); the pure
// pairing and payload code is in follow_latency.cc, in the tested library.
#include <chrono>
#include <cstdio>

#include "client/client.h"
#include "common/mutex.h"
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
  // Shared by this thread and the two clients' reader threads (a struct so
  // that the lock rule is an annotation: locals cannot carry GUARDED_BY).
  struct Shared {
    Mutex mu;
    CondVar cv;
    uint64_t delivered GUARDED_BY(mu) = 0;
    uint64_t acked GUARDED_BY(mu) = 0;
    Status failure GUARDED_BY(mu);
    bool ended GUARDED_BY(mu) = false;
  } sh;
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
        MutexLock lk(sh.mu);
        for (const auto& r : recs) {
          auto idx = follow_payload_index(r.payload);
          if (!idx.ok() || *idx >= o.records) {
            if (sh.failure.ok()) {
              sh.failure = Status::Corruption("follower got a foreign record at LSN " +
                                              std::to_string(r.lsn));
            }
            continue;
          }
          if (delivered_ns[*idx] == 0) {
            delivered_ns[*idx] = now;
            ++sh.delivered;
          }
        }
        sh.cv.notify_all();
      },
      [&](const Status& s, uint64_t) {
        MutexLock lk(sh.mu);
        if (!s.ok() && sh.failure.ok()) sh.failure = s;
        sh.ended = true;
        sh.cv.notify_all();
      },
      client::ReadOptions{.skip_dead = o.skip_dead});
  if (!read_id.ok()) return read_id.status();

  const auto deadline =
      t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.timeout_s));
  for (uint64_t i = 0; i < o.records; ++i) {
    const std::vector<uint8_t> payload = follow_payload(i, o.record_bytes);
    const client::RecordIn rec{.type = 1, .flags = 0, .tenant = 1, .payload = payload};
    Status sent =
        (*appender)->append_async(std::span(&rec, 1), [&, i](const Status& s, uint64_t, uint32_t) {
          const uint64_t now = since_t0();
          MutexLock lk(sh.mu);
          if (s.ok()) {
            ack_ns[i] = now;
          } else if (sh.failure.ok()) {
            sh.failure = s;
          }
          ++sh.acked;
          sh.cv.notify_all();
        });
    if (!sent.ok()) return sent;
    MutexLock lk(sh.mu);
    // One APPEND in flight: the next is sent once this one is ACKed.
    if (!sh.cv.wait_until(sh.mu, deadline, [&]() REQUIRES(sh.mu) {
          return sh.acked == i + 1 || !sh.failure.ok();
        })) {
      return Status::Failed("follow-latency: no ACK for record " + std::to_string(i) +
                            " before the deadline");
    }
    if (!sh.failure.ok()) return sh.failure;
  }
  {
    MutexLock lk(sh.mu);
    sh.cv.wait_until(sh.mu, deadline,
                     [&]() REQUIRES(sh.mu) { return sh.delivered == o.records || sh.ended; });
  }
  (void)(*follower)->cancel(*read_id);
  {
    MutexLock lk(sh.mu);
    sh.cv.wait_until(sh.mu, deadline, [&]() REQUIRES(sh.mu) { return sh.ended; });
    if (!sh.failure.ok()) return sh.failure;
  }
  const FollowLatency f = pair_follow_times(ack_ns, delivered_ns);
  const LatencyHistogram& h = f.histogram;
  std::string out = "follow latency (ACK -> delivery), " + std::to_string(h.count()) +
                    " records of " + std::to_string(o.record_bytes) + " bytes, one in flight" +
                    (o.skip_dead ? ", follower with SKIP_DEAD" : "") + "\n";
  out += "  p50 " + us(h.value_at_percentile(50)) + "  p90 " + us(h.value_at_percentile(90)) +
         "  p99 " + us(h.value_at_percentile(99)) + "  p99.9 " + us(h.value_at_percentile(99.9)) +
         "  max " + us(h.max()) + "\n";
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
