// The checker every reliability test uses on a log read back after a crash
// or a fault: LSNs contiguous, every record one that was really sent (its
// self-describing payload intact), batches whole, each sender's records in
// the order it sent them with none skipped, and every acknowledged record at
// the LSN its ACK named.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "tagged_payload.h"

namespace sidewal::reliability {

struct ReadBack {
  uint64_t lsn = 0;
  uint16_t type = 0;
  uint32_t tenant = 0;
  std::span<const uint8_t> payload;
};

class LogChecker {
 public:
  using Sender = std::pair<uint32_t, uint32_t>;  // (round, client)

  // `records` were sent by `sender` (seq < records), in order.
  void note_sent(Sender sender, uint64_t records) {
    uint64_t& n = sent_[sender];
    if (records > n) n = records;
  }
  // An ACK named `lsn` for the record with this tag.
  void note_acked(uint64_t lsn, uint32_t round, uint32_t client, uint64_t seq) {
    acked_[lsn] = Acked{round, client, seq};
  }
  uint64_t acked_count() const { return acked_.size(); }

  // Checks records [from, ...) read in LSN order; `from` must be the first
  // LSN of a batch (1, or one past what an earlier check() covered). Returns
  // an empty string when every promise holds, else what broke, at which LSN.
  // State (per-sender progress) carries over to the next call.
  std::string check(uint64_t from, std::span<const ReadBack> records) {
    std::ostringstream err;
    uint64_t expect = from;
    for (const ReadBack& r : records) {
      if (r.lsn != expect) {
        err << "lsn " << r.lsn << ": expected " << expect << " (LSNs not contiguous)";
        return err.str();
      }
      ++expect;
      const auto tag = decode_tagged_payload(r.payload);
      if (!tag) {
        err << "lsn " << r.lsn << ": payload of " << r.payload.size()
            << " bytes is not one any client sent (damaged or invented)";
        return err.str();
      }
      if (r.type != static_cast<uint16_t>(tag->client) || r.tenant != tag->round) {
        err << "lsn " << r.lsn << ": type/tenant " << r.type << "/" << r.tenant
            << " do not match the payload's client/round " << tag->client << "/" << tag->round;
        return err.str();
      }
      const Sender s{tag->round, tag->client};
      auto sent = sent_.find(s);
      if (sent == sent_.end() || tag->seq >= sent->second) {
        err << "lsn " << r.lsn << ": round " << tag->round << " client " << tag->client << " seq "
            << tag->seq << " was never sent";
        return err.str();
      }
      Progress& p = progress_[s];
      if (tag->seq != p.next_seq) {
        err << "lsn " << r.lsn << ": round " << tag->round << " client " << tag->client << " seq "
            << tag->seq << " but the sender's next record is seq " << p.next_seq
            << " (a record skipped, duplicated or reordered)";
        return err.str();
      }
      ++p.next_seq;
      // Batches: index 0 opens one, the next count-1 records of the log
      // must be the rest of it.
      if (open_) {
        if (!(open_->round == tag->round && open_->client == tag->client &&
              open_->batch == tag->batch && open_->count == tag->count &&
              tag->index == open_->index + 1)) {
          err << "lsn " << r.lsn << ": batch " << open_->batch << " of round " << open_->round
              << " client " << open_->client << " broken after index " << open_->index;
          return err.str();
        }
        open_ = *tag;
      } else {
        if (tag->index != 0 || tag->batch != p.next_batch) {
          err << "lsn " << r.lsn << ": expected the start of batch " << p.next_batch << " of round "
              << tag->round << " client " << tag->client << ", got batch " << tag->batch
              << " index " << tag->index;
          return err.str();
        }
        open_ = *tag;
      }
      if (open_->index + 1 == open_->count) {
        open_.reset();
        ++p.next_batch;
      }
      ++verified_;
    }
    if (open_) {
      err << "log ends inside batch " << open_->batch << " of round " << open_->round << " client "
          << open_->client << " (index " << open_->index << " of " << open_->count << ")";
      return err.str();
    }
    // Every ACKed LSN in this range names the record found there; none beyond.
    const uint64_t end = expect;  // one past the last LSN checked
    for (auto it = acked_.lower_bound(from); it != acked_.end(); ++it) {
      if (it->first >= end) {
        err << "ACKed lsn " << it->first << " lost (log ends at " << end - 1 << "); "
            << count_acked_from(it->first) << " ACKed records missing";
        return err.str();
      }
      const ReadBack& r = records[it->first - from];
      const auto tag = decode_tagged_payload(r.payload);
      if (tag->round != it->second.round || tag->client != it->second.client ||
          tag->seq != it->second.seq) {
        err << "ACKed lsn " << it->first << " holds round " << tag->round << " client "
            << tag->client << " seq " << tag->seq << ", the ACK was for round " << it->second.round
            << " client " << it->second.client << " seq " << it->second.seq;
        return err.str();
      }
    }
    return "";
  }

  uint64_t verified_records() const { return verified_; }
  // Forget per-sender progress, to check the whole log again from LSN 1.
  void restart_scan() {
    progress_.clear();
    open_.reset();
    verified_ = 0;
  }

 private:
  struct Acked {
    uint32_t round = 0;
    uint32_t client = 0;
    uint64_t seq = 0;
  };
  struct Progress {
    uint64_t next_seq = 0;
    uint64_t next_batch = 0;
  };
  uint64_t count_acked_from(uint64_t lsn) const {
    uint64_t n = 0;
    for (auto it = acked_.lower_bound(lsn); it != acked_.end(); ++it) ++n;
    return n;
  }
  std::map<Sender, uint64_t> sent_;
  std::map<uint64_t, Acked> acked_;
  std::map<Sender, Progress> progress_;
  std::optional<PayloadTag> open_;
  uint64_t verified_ = 0;
};

}  // namespace sidewal::reliability
