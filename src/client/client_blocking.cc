// The blocking API: the async calls plus a Waiter the reader thread fills
// (an append on an idle connection fills its own: Channel "Caller reads").
#include "client/client.h"

#include <functional>
#include <memory>
#include <utility>

namespace sidewal::client {
namespace {

// The result of one blocking call, handed from the reader thread.
template <typename T>
class Waiter {
 public:
  void set(const Status& status, T value) EXCLUDES(mu_) {
    MutexLock lk(mu_);
    status_ = status;
    value_ = std::move(value);
    done_ = true;
    cv_.notify_one();
  }
  bool done() const EXCLUDES(mu_) {
    MutexLock lk(mu_);
    return done_;
  }
  Result<T> wait() EXCLUDES(mu_) {
    MutexLock lk(mu_);
    cv_.wait(mu_, [&]() REQUIRES(mu_) { return done_; });
    if (!status_.ok()) return status_;
    return std::move(value_);
  }

 private:
  mutable Mutex mu_;
  CondVar cv_;
  bool done_ GUARDED_BY(mu_) = false;
  Status status_ GUARDED_BY(mu_);
  T value_ GUARDED_BY(mu_){};
};

Status blocking_on_reader_thread() {
  return Status::Busy(
      "blocking sidewal client call from a completion callback would wait for its own thread; "
      "use the async API there");
}

}  // namespace

Result<proto::HelloOk> Client::hello(const std::string& name) {
  if (on_reader_thread()) return blocking_on_reader_thread();
  auto w = std::make_shared<Waiter<proto::HelloOk>>();
  SIDEWAL_RETURN_IF_ERROR(
      hello_async(name, [w](const Status& s, const proto::HelloOk& r) { w->set(s, r); }));
  return w->wait();
}

Result<uint64_t> Client::append(std::span<const RecordIn> records) {
  if (on_reader_thread()) return blocking_on_reader_thread();
  auto w = std::make_shared<Waiter<uint64_t>>();
  // When the connection is idle this thread reads the ACK itself (no
  // hand-off from the reader thread, Channel "Caller reads").
  const std::function<bool()> done = [&w] { return w->done(); };
  SIDEWAL_RETURN_IF_ERROR(queue_append(
      records, [w](const Status& s, uint64_t first_lsn, uint32_t) { w->set(s, first_lsn); },
      &done));
  return w->wait();
}

Result<proto::StatusReply> Client::status() {
  if (on_reader_thread()) return blocking_on_reader_thread();
  auto w = std::make_shared<Waiter<proto::StatusReply>>();
  SIDEWAL_RETURN_IF_ERROR(
      status_async([w](const Status& s, const proto::StatusReply& r) { w->set(s, r); }));
  return w->wait();
}

Result<uint64_t> Client::truncate(uint64_t before_lsn) {
  if (on_reader_thread()) return blocking_on_reader_thread();
  auto w = std::make_shared<Waiter<uint64_t>>();
  SIDEWAL_RETURN_IF_ERROR(truncate_async(before_lsn, [w](const Status& s, uint64_t first_lsn) {
    w->set(s, first_lsn);
  }));
  return w->wait();
}

Result<ReadResult> Client::read(uint64_t from_lsn, uint32_t max_records, uint32_t max_bytes,
                                const ReadOptions& options) {
  if (on_reader_thread()) return blocking_on_reader_thread();
  auto w = std::make_shared<Waiter<ReadResult>>();
  // Filled only on the reader thread, handed over by on_end.
  auto acc = std::make_shared<ReadResult>();
  proto::ReadRequest r;
  r.from_lsn = from_lsn;
  r.max_records = max_records;
  r.max_bytes = max_bytes;
  r.flags = options.flags();
  auto id = read_async(
      r,
      [acc](std::span<const proto::ReadRecord> recs) {
        for (const proto::ReadRecord& rec : recs) {
          acc->records.push_back(Record{rec.lsn,
                                        rec.type,
                                        rec.flags,
                                        rec.tenant,
                                        {rec.payload.begin(), rec.payload.end()},
                                        rec.payload_len});
        }
      },
      [w, acc](const Status& s, uint64_t next_lsn) {
        acc->next_lsn = next_lsn;
        w->set(s, std::move(*acc));
      });
  if (!id.ok()) return id.status();
  return w->wait();
}

Result<uint64_t> Client::tail(
    uint64_t from_lsn, const std::function<bool(std::span<const proto::ReadRecord>)>& on_records,
    const ReadOptions& options) {
  if (on_reader_thread()) return blocking_on_reader_thread();
  auto w = std::make_shared<Waiter<uint64_t>>();
  // Touched only by the reader thread's callbacks until on_end hands the
  // resume LSN over through the waiter.
  struct TailState {
    bool stopped = false;
    uint64_t resume = 0;  // the LSN after the last record delivered
  };
  auto state = std::make_shared<TailState>();
  state->resume = from_lsn;
  // The id is chosen before the READ is sent so the callback can cancel it
  // even if it runs before start_read() returns.
  const uint64_t id = next_id_.fetch_add(1);
  proto::ReadRequest r;
  r.from_lsn = from_lsn;
  r.follow = 1;
  r.flags = options.flags();
  auto started = start_read(
      id, r,
      [this, id, state, &on_records](std::span<const proto::ReadRecord> recs) {
        // Records already on their way after a stop are dropped.
        if (state->stopped || recs.empty()) return;
        state->resume = recs.back().lsn + 1;
        if (!on_records(recs)) {
          state->stopped = true;
          (void)cancel(id);
        }
      },
      [w, state](const Status& s, uint64_t) { w->set(s, state->resume); });
  if (!started.ok()) return started.status();
  return w->wait();
}

}  // namespace sidewal::client
