// The checker the reliability tests rely on must itself catch every broken
// promise: a lost ACK, a damaged or invented record, a torn batch, a
// reordered or skipped record, an LSN gap.
#include <gtest/gtest.h>

#include "../reliability/log_checker.h"

namespace sidewal::reliability {
namespace {

struct Built {
  std::vector<std::vector<uint8_t>> payloads;
  std::vector<ReadBack> view;
};

// Batches of `sizes` records from sender (round 0, client 3), at LSN 1...
Built build(const std::vector<uint16_t>& sizes, LogChecker* c, bool ack_all) {
  Built b;
  uint64_t seq = 0;
  for (uint64_t batch = 0; batch < sizes.size(); ++batch) {
    for (uint16_t i = 0; i < sizes[batch]; ++i) {
      b.payloads.push_back(make_tagged_payload(PayloadTag{3, 0, seq, batch, i, sizes[batch]}, 60));
      if (ack_all) c->note_acked(seq + 1, 0, 3, seq);
      ++seq;
    }
  }
  c->note_sent({0, 3}, seq);
  for (size_t k = 0; k < b.payloads.size(); ++k) {
    b.view.push_back(ReadBack{k + 1, 3, 0, b.payloads[k]});
  }
  return b;
}

TEST(LogChecker, AcceptsAnIntactLog) {
  LogChecker c;
  Built b = build({1, 3, 2}, &c, true);
  EXPECT_EQ(c.check(1, b.view), "");
}

TEST(LogChecker, ReportsALostAck) {
  LogChecker c;
  Built b = build({1, 3, 2}, &c, true);
  b.view.resize(4);  // the last batch is gone, but it was ACKed
  EXPECT_NE(c.check(1, b.view).find("lost"), std::string::npos);
}

TEST(LogChecker, ReportsADamagedByte) {
  LogChecker c;
  Built b = build({2, 2}, &c, false);
  b.payloads[2][50] ^= 1;
  EXPECT_NE(c.check(1, b.view).find("not one any client sent"), std::string::npos);
}

TEST(LogChecker, ReportsATornBatch) {
  LogChecker c;
  Built b = build({1, 3}, &c, false);
  b.view.resize(3);  // batch 1 ends after 2 of its 3 records
  EXPECT_NE(c.check(1, b.view).find("inside batch"), std::string::npos);
}

TEST(LogChecker, ReportsAReorderedRecordAndAGap) {
  LogChecker c1;
  Built b = build({1, 1, 1}, &c1, false);
  std::swap(b.view[1].payload, b.view[2].payload);
  EXPECT_NE(c1.check(1, b.view), "");
  LogChecker c2;
  Built g = build({1, 1, 1}, &c2, false);
  g.view[2].lsn = 4;
  EXPECT_NE(c2.check(1, g.view).find("not contiguous"), std::string::npos);
}

TEST(LogChecker, ReportsARecordNeverSent) {
  LogChecker c;
  Built b = build({1}, &c, false);
  const auto extra = make_tagged_payload(PayloadTag{3, 0, 1, 1, 0, 1}, 60);  // seq 1: never sent
  b.view.push_back(ReadBack{2, 3, 0, extra});
  EXPECT_NE(c.check(1, b.view).find("never sent"), std::string::npos);
}

}  // namespace
}  // namespace sidewal::reliability
