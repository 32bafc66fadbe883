// kill -9 under load, then restart: every acknowledged record is back byte
// for byte, and the log is a prefix of what was sent: contiguous LSNs from
// the first, each record one that a client really sent, in its order.
#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <deque>
#include <map>
#include <random>

#include "common/endian.h"
#include "tests/support/daemon_harness.h"

namespace sidewal::it {
namespace {

struct Sent {
  uint16_t type = 0;
  uint32_t tenant = 0;
  std::vector<uint8_t> payload;
};

// One loaded connection: pipelines APPENDs until the daemon dies, recording
// every record it sent (by stream seq) and every ACK.
struct Loader {
  uint32_t stream = 0;
  std::map<uint64_t, Sent> sent;       // seq -> record
  std::map<uint64_t, uint64_t> acked;  // lsn -> seq
  std::string error;
};

void load(const std::string& socket, Loader* l, std::atomic<uint64_t>* total_acked) {
  try {
    RawClient c(socket);
    std::mt19937 rng(l->stream * 7919 + 1);
    std::deque<std::pair<uint64_t, std::vector<uint64_t>>> outstanding;  // id -> seqs
    uint64_t seq = 0;
    for (;;) {
      while (outstanding.size() < 16) {
        std::vector<TestRecord> batch(1 + rng() % 3);
        std::vector<uint64_t> seqs;
        for (auto& r : batch) {
          r.type = static_cast<uint16_t>(rng() % 100);
          r.tenant = l->stream;
          r.payload = make_payload(l->stream, seq, 12 + rng() % 3000);
          l->sent[seq] = Sent{r.type, r.tenant, r.payload};
          seqs.push_back(seq++);
        }
        const uint64_t id = c.next_id();
        c.send_append(id, batch);  // throws once the daemon is gone
        outstanding.emplace_back(id, std::move(seqs));
      }
      auto f = c.read_frame();
      if (!f) return;  // killed
      if (f->header.request_id != outstanding.front().first) {
        throw std::runtime_error("ACK out of order");
      }
      const proto::Ack a = expect_ack(*f);
      const auto& seqs = outstanding.front().second;
      if (a.count != seqs.size()) throw std::runtime_error("ACK count mismatch");
      for (size_t i = 0; i < seqs.size(); ++i) l->acked[a.first_lsn + i] = seqs[i];
      total_acked->fetch_add(seqs.size());
      outstanding.pop_front();
    }
  } catch (const std::exception& e) {
    // Sending to a killed daemon fails; that is the expected end.
    const std::string what = e.what();
    if (what.find("connection closed") == std::string::npos &&
        what.find("closed mid-frame") == std::string::npos) {
      l->error = what;
    }
  }
}

TEST(Crash, KillNineUnderLoadKeepsEveryAckedRecordAndAPrefix) {
  TempDir dir;
  DaemonConfig cfg;
  cfg.set("wal", "segment_bytes", "1MiB");  // several rollovers per round
  cfg.set("wal", "max_record_bytes", "64KiB");
  Daemon d(dir.path(), cfg);

  constexpr int kRounds = 3;
  constexpr uint32_t kConns = 4;
  std::vector<Loader> all;  // every round's loaders
  for (int round = 0; round < kRounds; ++round) {
    d.start_ready();
    std::atomic<uint64_t> acked{0};
    std::vector<Loader> loaders(kConns);
    std::vector<std::thread> threads;
    for (uint32_t i = 0; i < kConns; ++i) {
      loaders[i].stream = static_cast<uint32_t>(round * kConns + i);
      threads.emplace_back(load, d.socket_path(), &loaders[i], &acked);
    }
    // Kill once the load is well under way (records in flight at any time).
    ASSERT_TRUE(d.wait_until([&] { return acked.load() >= 2000; }, seconds(60)));
    d.kill9();
    for (auto& t : threads) t.join();
    for (auto& l : loaders) {
      ASSERT_EQ(l.error, "") << "stream " << l.stream;
      all.push_back(std::move(l));
    }
  }

  d.start_ready();
  RawClient c(d.socket_path());
  const proto::StatusReply st = c.status();
  const auto back = c.read_all(st.first_lsn);
  ASSERT_EQ(st.first_lsn, 1u);
  ASSERT_EQ(back.size(), st.durable_lsn);

  std::map<uint32_t, const Loader*> by_stream;
  for (const auto& l : all) by_stream[l.stream] = &l;
  std::map<uint32_t, uint64_t> last_seq;  // per stream: records appear in send order
  uint64_t expect_lsn = 1;
  for (const TestRecord& r : back) {
    ASSERT_EQ(r.lsn, expect_lsn++) << "LSNs are not contiguous";
    ASSERT_GE(r.payload.size(), 12u);
    const uint32_t stream = get_u32(r.payload.data());
    const uint64_t seq = get_u64(r.payload.data() + 4);
    auto l = by_stream.find(stream);
    ASSERT_NE(l, by_stream.end()) << "lsn " << r.lsn << ": unknown stream";
    auto s = l->second->sent.find(seq);
    ASSERT_NE(s, l->second->sent.end()) << "lsn " << r.lsn << ": never sent";
    ASSERT_EQ(r.payload, s->second.payload) << "lsn " << r.lsn;
    ASSERT_EQ(r.type, s->second.type);
    ASSERT_EQ(r.tenant, s->second.tenant);
    auto prev = last_seq.find(stream);
    if (prev != last_seq.end()) {
      ASSERT_GT(seq, prev->second) << "lsn " << r.lsn;
    }
    last_seq[stream] = seq;
  }
  // Every ACKed record is there, at the LSN its ACK named.
  uint64_t acked_total = 0;
  for (const auto& l : all) {
    for (const auto& [lsn, seq] : l.acked) {
      ASSERT_LE(lsn, back.size()) << "ACKed lsn " << lsn << " lost";
      ASSERT_EQ(back[lsn - 1].payload, l.sent.at(seq).payload) << "lsn " << lsn;
      ++acked_total;
    }
  }
  EXPECT_GE(acked_total, 3u * 2000u);
}

}  // namespace
}  // namespace sidewal::it
