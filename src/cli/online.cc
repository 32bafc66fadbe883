// Subcommands that talk to sidewald through the client library.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "client/client.h"

namespace sidewal::cli {
namespace {

// An APPEND from stdin carries at most this many lines or payload bytes, far
// below the daemon's default frame limit (4 MiB).
constexpr size_t kStdinBatchRecords = 1024;
constexpr size_t kStdinBatchBytes = 1u << 20;

int fail(const char* what, const Status& s) {
  std::fprintf(stderr, "sidewal %s: %s\n", what, s.ToString().c_str());
  return kExitFailed;
}

// Polls STATUS until the daemon has finished recovery (ready or failed) or
// the deadline passes: a command run right after sidewald starts waits for
// it instead of failing with NOT_READY.
Status wait_until_ready(client::Client& client, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    auto st = client.status();
    if (!st.ok()) return st.status();
    if (st->state != 0) return Status::Ok();
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status::Busy("sidewald is still recovering its log (waited for --connect-timeout-ms)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// Connects; with `ready`, also waits for recovery to finish. Both share the
// --connect-timeout-ms budget.
Result<std::unique_ptr<client::Client>> connect(const ConnectArgs& c, bool ready = true) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(c.connect_timeout_ms);
  client::ClientOptions o;
  o.socket_path = c.socket_path;
  o.name = "sidewal-cli";
  o.connect_timeout = std::chrono::milliseconds(c.connect_timeout_ms);
  auto client = client::Client::connect(o);
  if (!client.ok() || !ready) return client;
  Status s = wait_until_ready(**client, deadline);
  if (!s.ok()) return s;
  return client;
}

std::span<const uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Appends `lines` as one atomic APPEND and prints one LSN per record.
Status append_batch(client::Client& client, const AppendArgs& a,
                    const std::vector<std::string>& lines) {
  std::vector<client::RecordIn> recs;
  recs.reserve(lines.size());
  for (const std::string& l : lines) recs.push_back({a.type, 0, a.tenant, bytes_of(l)});
  Result<uint64_t> first = client.append(recs);
  if (!first.ok()) return first.status();
  for (size_t i = 0; i < lines.size(); ++i) {
    std::printf("%llu\n", static_cast<unsigned long long>(*first + i));
  }
  std::fflush(stdout);
  return Status::Ok();
}

}  // namespace

int run_append(const ConnectArgs& c, const AppendArgs& a) {
  auto client = connect(c);
  if (!client.ok()) return fail("append", client.status());
  if (!a.records.empty()) {
    // Arguments are one APPEND: committed atomically, contiguous LSNs.
    Status s = append_batch(**client, a, a.records);
    return s.ok() ? kExitOk : fail("append", s);
  }
  std::vector<std::string> batch;
  size_t bytes = 0;
  std::string line;
  while (std::getline(std::cin, line)) {
    bytes += line.size();
    batch.push_back(std::move(line));
    if (batch.size() >= kStdinBatchRecords || bytes >= kStdinBatchBytes) {
      Status s = append_batch(**client, a, batch);
      if (!s.ok()) return fail("append", s);
      batch.clear();
      bytes = 0;
    }
  }
  if (!batch.empty()) {
    Status s = append_batch(**client, a, batch);
    if (!s.ok()) return fail("append", s);
  }
  return kExitOk;
}

int run_read(const ConnectArgs& c, const ReadArgs& a) {
  auto client = connect(c);
  if (!client.ok()) return fail("read", client.status());
  // The end is fixed when the command starts, so reading a busy log ends.
  auto st = (*client)->status();
  if (!st.ok()) return fail("read", st.status());
  uint64_t from = a.from.value_or(st->first_lsn);
  const uint64_t end = st->durable_lsn;
  const client::ReadOptions options{.skip_dead = a.skip_dead, .header_only = a.header_only};
  uint64_t printed = 0;
  while (from <= end && (a.max == 0 || printed < a.max)) {
    uint64_t want = a.max == 0 ? 0 : a.max - printed;
    want = std::min<uint64_t>(want, std::numeric_limits<uint32_t>::max());
    auto r = (*client)->read(from, static_cast<uint32_t>(want), 0, options);
    if (!r.ok()) return fail("read", r.status());
    // With --skip-dead a READ that found only dead records still moves on.
    if (r->records.empty() && r->next_lsn <= from) break;
    for (const client::Record& rec : r->records) {
      if (rec.lsn > end || (a.max != 0 && printed >= a.max)) break;
      if (a.header_only) {
        print_header(stdout, rec.lsn, rec.type, rec.tenant, rec.payload_len);
      } else {
        print_record(stdout, a.style, rec.lsn, rec.type, rec.tenant, rec.payload);
      }
      ++printed;
    }
    from = r->next_lsn;
  }
  std::fflush(stdout);
  return kExitOk;
}

int run_tail(const ConnectArgs& c, const ReadArgs& a) {
  if (!a.follow) return run_read(c, a);
  auto client = connect(c);
  if (!client.ok()) return fail("tail", client.status());
  uint64_t from = 0;
  if (a.from) {
    from = *a.from;
  } else {
    // Like tail -f: only records that become durable from now on.
    auto st = (*client)->status();
    if (!st.ok()) return fail("tail", st.status());
    from = st->durable_lsn + 1;
  }
  uint64_t printed = 0;
  auto r = (*client)->tail(
      from,
      [&](std::span<const proto::ReadRecord> recs) {
        for (const proto::ReadRecord& rec : recs) {
          if (a.max != 0 && printed >= a.max) break;
          if (a.header_only) {
            print_header(stdout, rec.lsn, rec.type, rec.tenant, rec.payload_len);
          } else {
            print_record(stdout, a.style, rec.lsn, rec.type, rec.tenant, rec.payload);
          }
          ++printed;
        }
        std::fflush(stdout);  // a pipe reader sees each record as it arrives
        return a.max == 0 || printed < a.max;
      },
      client::ReadOptions{.skip_dead = a.skip_dead, .header_only = a.header_only});
  if (!r.ok()) return fail("tail", r.status());
  return kExitOk;
}

int run_status(const ConnectArgs& c) {
  auto client = connect(c, /*ready=*/false);
  if (!client.ok()) return fail("status", client.status());
  auto st = (*client)->status();
  if (!st.ok()) return fail("status", st.status());
  static const char* const kStates[] = {"recovering", "ready", "failed"};
  std::printf(
      "state: %s\nfirst_lsn: %llu\ndurable_lsn: %llu\nsegments: %llu\nbytes_on_disk: %llu\n",
      st->state < 3 ? kStates[st->state] : "unknown",
      static_cast<unsigned long long>(st->first_lsn),
      static_cast<unsigned long long>(st->durable_lsn),
      static_cast<unsigned long long>(st->segments),
      static_cast<unsigned long long>(st->bytes_on_disk));
  return kExitOk;
}

int run_truncate(const ConnectArgs& c, uint64_t before) {
  auto client = connect(c);
  if (!client.ok()) return fail("truncate", client.status());
  auto first = (*client)->truncate(before);
  if (!first.ok()) return fail("truncate", first.status());
  std::printf("first_lsn: %llu\n", static_cast<unsigned long long>(*first));
  return kExitOk;
}

}  // namespace sidewal::cli
