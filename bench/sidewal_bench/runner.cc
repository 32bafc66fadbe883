#include "runner.h"

#include <sys/prctl.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "client/client.h"
#include "clock.h"
#include "common/mutex.h"
#include "event_loop.h"
#include "host_memory.h"
#include "metrics_scrape.h"
#include "open_loop.h"
#include "payload.h"

namespace sidewal::bench {

namespace {

uint64_t seconds_to_ns(double s) { return static_cast<uint64_t>(s * 1e9); }

// An ACKed record kept for the read-back check.
struct Sample {
  uint64_t lsn = 0;
  uint32_t connection = 0;
  uint64_t sequence = 0;
};

// One connection and everything its requests touch.
struct Conn {
  uint32_t id = 0;
  std::unique_ptr<client::Client> client;

  // Shared by the scheduler thread and this connection's reader thread.
  Mutex mu;
  uint64_t next_k GUARDED_BY(mu) = 0;    // next request number to send
  uint32_t inflight GUARDED_BY(mu) = 0;  // sent, not yet completed
  bool failed GUARDED_BY(mu) = false;    // an APPEND failed: send no more
  uint64_t k_limit = 0;                  // open-loop: requests scheduled before the window's end
  // End-of-run snapshot taken: record and send nothing more.
  bool frozen GUARDED_BY(mu) = false;

  // Updated by callbacks under mu; read by the main thread after the client
  // is closed.
  LatencyHistogram latency;
  uint64_t window_appends = 0;
  uint64_t last_lsn = 0;
  uint64_t order_violations = 0;
  uint64_t errors = 0;
  std::string first_error;
  std::vector<Sample> reservoir;  // Algorithm R over this connection's ACKs
  uint64_t reservoir_seen = 0;
  std::mt19937_64 rng;

  std::atomic<uint64_t> max_send_lag_ns{0};
};

class Run {
 public:
  explicit Run(const BenchOptions& o) : o_(o), open_loop_(o.rate > 0) {}

  Result<BenchResult> execute();

 private:
  void pump(Conn& c, uint64_t now);
  // The records of request k of connection c, in this thread's scratch area.
  std::span<const client::RecordIn> records_for(const Conn& c, uint64_t k);
  // BenchOptions::blocking: connection c's thread, until stop_ or a failure.
  void blocking_loop(Conn& c);
  void send(Conn& c, uint64_t k, uint64_t scheduled);
  void on_ack(Conn& c, uint64_t k, uint64_t scheduled, const Status& s, uint64_t first_lsn,
              uint32_t count);
  void scheduler_loop();
  bool drained();
  // Waits until `deadline` (steady ns) or until every connection failed.
  void wait_until_time(uint64_t deadline);
  void verify(BenchResult* r);

  const BenchOptions o_;
  const bool open_loop_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::unique_ptr<OpenLoopSchedule> schedule_;
  // Scheduler thread only: the open SendBatch of each connection in a tick.
  std::unique_ptr<std::optional<client::Client::SendBatch>[]> send_batches_;
  const uint64_t tick_ns_ = static_cast<uint64_t>(o_.send_tick_us * 1000);
  uint64_t window_start_ = 0, window_end_ = 0;
  std::atomic<bool> stop_{false};      // closed-loop: window over, send no more
  std::vector<std::thread> blockers_;  // BenchOptions::blocking: one per connection
  // BenchOptions::event_loop: every connection, driven from loop_thread_
  // (pump, send and on_ack run there; conns_ have no client).
  std::unique_ptr<EventLoop> loop_;
  std::thread loop_thread_;

  Mutex done_mu_;
  CondVar done_cv_;  // a connection failed, or went idle after stop_
};

std::span<const client::RecordIn> Run::records_for(const Conn& c, uint64_t k) {
  // One scratch area per sending thread: the client copies the records into
  // the connection's send buffer before append_async (or append) returns.
  thread_local std::vector<uint8_t> buf;
  thread_local std::vector<client::RecordIn> recs;
  buf.resize(static_cast<size_t>(o_.batch) * o_.record_bytes);
  recs.resize(o_.batch);
  for (uint32_t j = 0; j < o_.batch; ++j) {
    std::span<uint8_t> p(buf.data() + static_cast<size_t>(j) * o_.record_bytes, o_.record_bytes);
    fill_payload(c.id, k * o_.batch + j, p);
    recs[j] = client::RecordIn{.type = 1, .flags = 0, .tenant = c.id, .payload = p};
  }
  return recs;
}

void Run::blocking_loop(Conn& c) {
  for (;;) {
    uint64_t k;
    {
      MutexLock lock(c.mu);
      if (c.failed || c.frozen || stop_.load()) return;
      k = c.next_k++;
      ++c.inflight;
    }
    const std::span<const client::RecordIn> recs = records_for(c, k);
    const uint64_t t0 = now_ns();
    auto lsn = c.client->append(recs);
    if (lsn.ok()) {
      on_ack(c, k, t0, Status::Ok(), *lsn, static_cast<uint32_t>(recs.size()));
    } else {
      on_ack(c, k, t0, lsn.status(), 0, 0);
    }
  }
}

void Run::send(Conn& c, uint64_t k, uint64_t scheduled) {
  const std::span<const client::RecordIn> recs = records_for(c, k);
  const uint64_t now = now_ns();
  if (open_loop_ && now > scheduled) {
    uint64_t seen = c.max_send_lag_ns.load(std::memory_order_relaxed);
    const uint64_t lag = now - scheduled;
    while (lag > seen && !c.max_send_lag_ns.compare_exchange_weak(seen, lag)) {
    }
  }
  // Closed-loop latency starts at the send; open-loop at the schedule.
  const uint64_t t0 = open_loop_ ? scheduled : now;
  if (loop_ != nullptr) {
    loop_->append(c.id, recs,
                  [this, &c, k, t0](const Status& st, uint64_t first_lsn, uint32_t count) {
                    on_ack(c, k, t0, st, first_lsn, count);
                  });
    return;
  }
  Status s = c.client->append_async(recs, [this, &c, k, t0](const Status& st, uint64_t first_lsn,
                                                            uint32_t count) {
    on_ack(c, k, t0, st, first_lsn, count);
  });
  if (!s.ok()) on_ack(c, k, t0, s, 0, 0);
}

void Run::pump(Conn& c, uint64_t now) {
  if (o_.blocking) return;  // blocking_loop sends the next one itself
  for (;;) {
    uint64_t k;
    uint64_t scheduled = 0;
    {
      MutexLock lock(c.mu);
      if (c.failed || c.frozen || c.inflight >= o_.pipeline) return;
      if (open_loop_) {
        const uint64_t due = std::min(schedule_->due_count(c.id, now), c.k_limit);
        if (c.next_k >= due) return;
        scheduled = schedule_->send_time(c.id, c.next_k);
      } else if (stop_.load(std::memory_order_relaxed)) {
        return;
      }
      k = c.next_k++;
      ++c.inflight;
    }
    send(c, k, scheduled);
  }
}

void Run::on_ack(Conn& c, uint64_t k, uint64_t t0, const Status& s, uint64_t first_lsn,
                 uint32_t count) {
  const uint64_t now = now_ns();
  bool idle;
  {
    // Under mu: a synchronous failure of append_async lands here on the
    // sending thread rather than the reader thread, and the end-of-run
    // snapshot (frozen) must see each completion either fully or not at all.
    MutexLock lock(c.mu);
    --c.inflight;
    idle = c.inflight == 0;
    if (c.frozen) {
      // After the snapshot: this request is already counted as unfinished,
      // and the Closed errors of close() are ours, not the daemon's.
    } else if (!s.ok()) {
      if (c.errors++ == 0) c.first_error = s.ToString();
      c.failed = true;
    } else {
      if (count != o_.batch || first_lsn <= c.last_lsn) ++c.order_violations;
      c.last_lsn = first_lsn + count - 1;
      const bool in_window = now >= window_start_ && now < window_end_;
      if (in_window) ++c.window_appends;
      // Open-loop: every request scheduled inside the window counts, however
      // late its ACK; closed-loop: the ACKs that arrive inside the window.
      const bool measured = open_loop_ ? (t0 >= window_start_ && t0 < window_end_)
                                       : (in_window && t0 >= window_start_);
      if (measured) c.latency.record(now - t0);
      // Keep one record of this APPEND in the reservoir, with probability
      // verify_sample / seen once the reservoir is full.
      if (o_.verify_sample > 0) {
        const uint32_t j = static_cast<uint32_t>(c.rng() % o_.batch);
        const Sample sample{first_lsn + j, c.id, k * o_.batch + j};
        ++c.reservoir_seen;
        if (c.reservoir.size() < o_.verify_sample) {
          c.reservoir.push_back(sample);
        } else {
          const uint64_t slot = c.rng() % c.reservoir_seen;
          if (slot < o_.verify_sample) c.reservoir[slot] = sample;
        }
      }
    }
  }
  if (s.ok()) pump(c, now);
  // The main thread waits for a failure (wait_until_time) and, once stop_ is
  // set, for every connection to drain. An idle connection before stop_ is
  // nobody's business: waking the main thread for it cost one wake-up per
  // ACK at one request per client (CPU the daemon shares on a small machine).
  // stop_ is read after inflight was updated under c.mu, and the main thread
  // sets stop_ before it checks drained() under the same locks, so the last
  // idle connection of a drain always sees stop_ and wakes it.
  if (!s.ok() || (idle && stop_.load())) {
    MutexLock lock(done_mu_);
    done_cv_.notify_all();
  }
}

void Run::scheduler_loop() {
  // Wake-ups within a microsecond of the due time instead of the default
  // 50 µs timer slack: lateness here would show up as latency.
  ::prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  uint64_t sent_through = 0;  // global requests already handed to pump()
  const uint64_t n = conns_.size();
  for (;;) {
    const uint64_t now = now_ns();
    if (now >= window_end_) {
      // Requests that fell due since the last wake-up, up to the window's
      // end (pump() bounds each connection at k_limit); later ones are sent
      // by ACKs as pipeline slots free up.
      for (auto& c : conns_) pump(*c, now);
      break;
    }
    const uint64_t due = schedule_->due_count(now);
    {
      // Everything due goes out in one send() per connection.
      std::optional<client::Client::SendBatch>* const batches = send_batches_.get();
      if (due - sent_through >= n) {
        for (auto& c : conns_) {
          batches[c->id].emplace(*c->client);
          pump(*c, now);
        }
      } else {
        for (uint64_t i = sent_through; i < due; ++i) {
          Conn& c = *conns_[i % n];
          if (!batches[c.id]) batches[c.id].emplace(*c.client);
          pump(c, now);
        }
      }
      for (uint64_t i = 0; i < n; ++i) batches[i].reset();
    }
    sent_through = due;
    // The fixed clock of the open loop: wait for the next request's time,
    // and at least one tick (requests falling due meanwhile wait for it,
    // and their latency counts from their own scheduled time).
    const uint64_t next = std::max(schedule_->send_time(due), now + tick_ns_);
    const timespec ts{static_cast<time_t>(next / 1'000'000'000),
                      static_cast<long>(next % 1'000'000'000)};
    ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
  }
}

bool Run::drained() {
  for (auto& c : conns_) {
    MutexLock lock(c->mu);
    if (c->failed) {
      if (c->inflight > 0) return false;
      continue;
    }
    if (c->inflight > 0) return false;
    if (open_loop_ && c->next_k < c->k_limit) return false;
  }
  return true;
}

void Run::wait_until_time(uint64_t deadline) {
  MutexLock lock(done_mu_);
  const auto until = std::chrono::steady_clock::time_point(std::chrono::nanoseconds(deadline));
  done_cv_.wait_until(done_mu_, until, [&] {
    for (auto& c : conns_) {
      MutexLock cl(c->mu);
      if (!c->failed) return false;
    }
    return true;  // every connection failed: nothing left to wait for
  });
}

void Run::verify(BenchResult* r) {
  std::vector<Sample> all;
  for (auto& c : conns_) all.insert(all.end(), c->reservoir.begin(), c->reservoir.end());
  std::mt19937_64 rng(42);
  std::shuffle(all.begin(), all.end(), rng);
  if (all.size() > o_.verify_sample) all.resize(o_.verify_sample);
  std::sort(all.begin(), all.end(), [](const Sample& a, const Sample& b) { return a.lsn < b.lsn; });
  if (all.empty()) return;

  client::ClientOptions co;
  co.socket_path = o_.socket;
  co.name = "sidewal-bench-verify";
  auto cl = client::Client::connect(co);
  auto mismatch = [&](const std::string& what) {
    if (r->verify_mismatches++ == 0) r->first_mismatch = what;
  };
  if (!cl.ok()) {
    mismatch("cannot connect to verify: " + cl.status().ToString());
    return;
  }
  for (const Sample& s : all) {
    ++r->verify_checked;
    auto got = cl.value()->read(s.lsn, 1);
    if (!got.ok()) {
      // The daemon is gone or refuses reads: every further READ would fail
      // the same way (after a reconnect timeout each), so stop here.
      mismatch("READ of LSN " + std::to_string(s.lsn) + ": " + got.status().ToString() +
               "; verification stopped");
      return;
    }
    const auto& recs = got.value().records;
    if (recs.empty() || recs.front().lsn != s.lsn) {
      mismatch(
          "READ of LSN " + std::to_string(s.lsn) + " returned " +
          (recs.empty() ? std::string("no record") : "LSN " + std::to_string(recs.front().lsn)));
      continue;
    }
    if (recs.front().tenant != s.connection) {
      mismatch("LSN " + std::to_string(s.lsn) + ": tenant " + std::to_string(recs.front().tenant) +
               ", expected " + std::to_string(s.connection));
      continue;
    }
    if (auto bad = check_payload(s.connection, s.sequence, recs.front().payload, o_.record_bytes)) {
      mismatch("LSN " + std::to_string(s.lsn) + ": " + *bad);
    }
  }
}

Result<BenchResult> Run::execute() {
  BenchResult r;
  r.options = o_;

  CachedSampler cached(100);
  cached.start();
  if (!o_.data_dir.empty()) {
    auto res = wal_resident_bytes(o_.data_dir, &r.wal_files);
    if (res.ok()) r.residency_before = res.value();
  }

  if (o_.event_loop) {
    auto loop = EventLoop::connect(o_.socket, o_.connections);
    if (!loop.ok()) return loop.status();
    loop_ = std::move(loop.value());
  }
  for (uint32_t i = 0; i < o_.connections; ++i) {
    auto c = std::make_unique<Conn>();
    c->id = i;
    c->rng.seed(0x5EED0000ull + i);
    if (loop_ != nullptr) {
      conns_.push_back(std::move(c));
      continue;
    }
    client::ClientOptions co;
    co.socket_path = o_.socket;
    auto cl = client::Client::connect(co);
    if (!cl.ok()) return cl.status();
    c->client = std::move(cl.value());
    conns_.push_back(std::move(c));
  }

  const uint64_t start = now_ns() + 1'000'000;  // 1 ms to set up the clock
  window_start_ = start + seconds_to_ns(o_.warmup_s);
  window_end_ = window_start_ + seconds_to_ns(o_.duration_s);
  r.window_s = o_.duration_s;

  std::thread scheduler;
  if (open_loop_) {
    schedule_ = std::make_unique<OpenLoopSchedule>(start, o_.rate, o_.connections);
    for (auto& c : conns_) c->k_limit = schedule_->due_count(c->id, window_end_ - 1);
    send_batches_ = std::make_unique<std::optional<client::Client::SendBatch>[]>(conns_.size());
    scheduler = std::thread([this] { scheduler_loop(); });
  } else if (o_.blocking) {
    for (auto& c : conns_) blockers_.emplace_back([this, &c] { blocking_loop(*c); });
  } else if (loop_ != nullptr) {
    loop_thread_ = std::thread([this] {
      loop_->run([this] {
        for (auto& c : conns_) pump(*c, now_ns());
      });
    });
  } else {
    for (auto& c : conns_) pump(*c, now_ns());
  }

  // The probe sleeps and records through the window only, beside the load.
  WakeProbe probe;
  if (o_.wake_probe) probe.start(window_start_);

  std::string metrics_before, metrics_after;
  wait_until_time(window_start_);
  if (!o_.admin.empty()) {
    auto m = admin_get(o_.admin, "/metrics");
    if (m.ok())
      metrics_before = m.value();
    else
      r.metrics_error = m.status().ToString();
  }
  wait_until_time(window_end_);
  if (o_.wake_probe) {
    probe.stop();
    r.wake_probe = probe.summary();
  }
  if (!o_.admin.empty() && r.metrics_error.empty()) {
    auto m = admin_get(o_.admin, "/metrics");
    if (m.ok())
      metrics_after = m.value();
    else
      r.metrics_error = m.status().ToString();
  }
  stop_ = true;
  if (scheduler.joinable()) scheduler.join();

  {
    MutexLock lock(done_mu_);
    done_cv_.wait_until(done_mu_,
                        std::chrono::steady_clock::now() +
                            std::chrono::nanoseconds(seconds_to_ns(o_.drain_timeout_s)),
                        [&] { return drained(); });
  }
  // What the drain did not finish: requests in flight and, open-loop, those
  // scheduled in the window but never sent (the pipeline stayed full).
  // Replies on one connection come in request order, so the unanswered ones
  // are the last `inflight` sent.
  struct Unfinished {
    uint32_t conn;
    uint64_t from_k, to_k;
  };
  std::vector<Unfinished> unfinished;
  const uint64_t drain_end = now_ns();
  for (auto& c : conns_) {
    MutexLock lock(c->mu);
    c->frozen = true;
    r.unacked += c->inflight;
    if (open_loop_ && !c->failed) {
      unfinished.push_back({c->id, c->next_k - c->inflight, c->k_limit});
      r.unsent += c->k_limit - c->next_k;
    }
  }
  // Closing joins each reader thread: after this no callback runs, and the
  // per-connection figures are ours to read.
  for (auto& c : conns_) {
    if (c->client) c->client->close();
  }
  if (loop_ != nullptr) {
    loop_->stop();
    loop_thread_.join();
  }
  // A blocking call still waiting got Closed from close() (and was not
  // counted: frozen); its thread ends now.
  for (auto& t : blockers_) t.join();
  cached.stop();

  for (auto& c : conns_) {
    r.latency.merge(c->latency);
    r.appends += c->window_appends;
    r.order_violations += c->order_violations;
    r.errors += c->errors;
    if (r.first_error.empty()) r.first_error = c->first_error;
    r.max_send_lag_ns = std::max(r.max_send_lag_ns, c->max_send_lag_ns.load());
  }
  // Open-loop: a request the daemon never answered is not left out of the
  // latency figures (that would flatter an overloaded run). It counts with
  // the latency it had reached when we stopped waiting: a lower bound.
  for (const Unfinished& u : unfinished) {
    for (uint64_t k = u.from_k; k < u.to_k; ++k) {
      const uint64_t t = schedule_->send_time(u.conn, k);
      if (t >= window_start_ && t < window_end_) r.latency.record(drain_end - t);
    }
  }
  r.records = r.appends * o_.batch;
  r.appends_per_s = static_cast<double>(r.appends) / r.window_s;
  r.records_per_s = static_cast<double>(r.records) / r.window_s;
  r.mb_per_s = r.records_per_s * o_.record_bytes / 1e6;
  if (!metrics_before.empty() && !metrics_after.empty()) {
    r.records_per_flush = records_per_flush(metrics_before, metrics_after);
    if (!r.records_per_flush)
      r.metrics_error = "no sidewal_group_commit_records samples in /metrics";
  }
  r.cached_before = cached.first();
  r.cached_after = cached.last();
  r.cached_max = cached.max();
  if (!o_.data_dir.empty()) {
    auto res = wal_resident_bytes(o_.data_dir, &r.wal_files);
    if (res.ok()) r.residency_after = res.value();
  }
  verify(&r);
  return r;
}

}  // namespace

Result<BenchResult> run_bench(const BenchOptions& options) {
  if (options.connections == 0 || options.pipeline == 0 || options.batch == 0) {
    return Status::InvalidArgument("connections, pipeline and batch must be at least 1");
  }
  if (options.duration_s <= 0 || options.warmup_s < 0 || options.rate < 0) {
    return Status::InvalidArgument("duration must be > 0, warmup and rate >= 0");
  }
  Run run(options);
  return run.execute();
}

}  // namespace sidewal::bench
