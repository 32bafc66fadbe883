#include "wal/readers/tail_window.h"

#include <algorithm>

#include "wal/codecs/format.h"

namespace sidewal::wal {

TailWindow::Prepared::Prepared() = default;
TailWindow::Prepared::~Prepared() = default;
TailWindow::Prepared::Prepared(Prepared&&) noexcept = default;
TailWindow::Prepared& TailWindow::Prepared::operator=(Prepared&&) noexcept = default;

void TailWindow::add_flush(uint64_t first_lsn, uint64_t last_lsn,
                           std::span<const uint8_t> records) {
  publish(prepare(first_lsn, last_lsn, records));
}

TailWindow::Prepared TailWindow::prepare(uint64_t first_lsn, uint64_t last_lsn,
                                         std::span<const uint8_t> records, uint32_t tag_bytes) {
  Prepared out;
  if (capacity_ == 0 || last_lsn < first_lsn) return out;
  auto c = std::make_unique<Chunk>();
  {
    MutexLock g(mu_);
    if (dormant_locked()) {
      ++skipped_;
      return out;
    }
    // The largest spare: its capacity most likely fits this flush.
    if (!spare_.empty()) {
      auto best =
          std::max_element(spare_.begin(), spare_.end(), [](const Chunk& a, const Chunk& b) {
            return a.bytes.capacity() < b.bytes.capacity();
          });
      *c = std::move(*best);
      spare_.erase(best);
    }
  }
  c->first_lsn = first_lsn;
  c->tag_bytes = tag_bytes;
  c->bytes.clear();
  c->offsets.clear();
  c->offsets.reserve(last_lsn - first_lsn + 1);
  // Index the records (and find their end) before copying, so the copy is
  // exactly their bytes.
  uint64_t pos = 0;
  for (uint64_t lsn = first_lsn; lsn <= last_lsn; ++lsn) {
    SW_ASSERT(pos + format::kHeaderBytes <= records.size());
    const format::RecordHeader h = format::decode_header(records.data() + pos);
    SW_ASSERT_MSG(h.lsn == lsn, "tail window: flush bytes out of LSN order");
    SW_ASSERT(h.payload_len >= tag_bytes);
    c->offsets.push_back(static_cast<uint32_t>(pos));
    pos += format::record_bytes(h.payload_len);
  }
  pos = std::min<uint64_t>(pos, records.size());
  if (pos + c->offsets.size() * sizeof(uint32_t) > capacity_) {
    // A flush larger than the whole window: nothing older can stay either
    // (the window must stay contiguous up to the head), so it empties.
    out.too_big_ = true;
    return out;
  }
  c->bytes.assign(records.begin(), records.begin() + static_cast<ptrdiff_t>(pos));
  out.chunk_ = std::move(c);
  return out;
}

void TailWindow::publish(Prepared&& p) {
  MutexLock g(mu_);
  if (p.too_big_) {
    chunks_.clear();
    bytes_ = 0;
    unread_bytes_ = capacity_;  // nobody can read it from here: dormant until a read()
    return;
  }
  if (p.chunk_ == nullptr) return;
  Chunk& c = *p.chunk_;
  if (!chunks_.empty() && chunks_.back().last_lsn() + 1 != c.first_lsn) {
    chunks_.clear();
    bytes_ = 0;
  }
  bytes_ += c.footprint();
  unread_bytes_ += c.footprint();
  chunks_.push_back(std::move(c));
  while (bytes_ > capacity_) {
    bytes_ -= chunks_.front().footprint();
    if (spare_.size() < kMaxSpareChunks) spare_.push_back(std::move(chunks_.front()));
    chunks_.pop_front();
  }
}

bool TailWindow::read(uint64_t from_lsn, uint64_t up_to, const ReadLimits& limits,
                      std::vector<Record>* out, uint64_t* next_lsn) {
  out->clear();
  MutexLock g(mu_);
  unread_bytes_ = 0;  // someone reads: copy the next flushes in (again)
  if (chunks_.empty() || from_lsn < chunks_.front().first_lsn ||
      from_lsn > chunks_.back().last_lsn() || from_lsn > up_to) {
    ++misses_;
    return false;
  }
  ++hits_;
  auto it = std::upper_bound(chunks_.begin(), chunks_.end(), from_lsn,
                             [](uint64_t v, const Chunk& c) { return v < c.first_lsn; });
  --it;
  uint64_t lsn = from_lsn;
  uint64_t bytes = 0;
  for (; it != chunks_.end(); ++it) {
    const Chunk& c = *it;
    for (; lsn <= c.last_lsn() && lsn <= up_to; ++lsn) {
      const uint8_t* rec = c.bytes.data() + c.offsets[lsn - c.first_lsn];
      const format::RecordHeader h = format::decode_header(rec);
      const uint32_t len = h.payload_len - c.tag_bytes;  // plaintext length
      if (!out->empty() && ((limits.max_records && out->size() >= limits.max_records) ||
                            (limits.max_bytes && bytes + len > limits.max_bytes))) {
        *next_lsn = lsn;
        return true;
      }
      Record& r = out->emplace_back();
      r.lsn = h.lsn;
      r.type = h.type;
      r.flags = h.flags;
      r.tenant = h.tenant;
      const uint8_t* p = rec + format::kHeaderBytes;
      r.payload.assign(p, p + len);
      bytes += len;
    }
    if (lsn > up_to) break;
  }
  *next_lsn = lsn;
  return true;
}

TailWindowStats TailWindow::stats() const {
  MutexLock g(mu_);
  TailWindowStats s;
  if (!chunks_.empty()) {
    s.first_lsn = chunks_.front().first_lsn;
    s.last_lsn = chunks_.back().last_lsn();
  }
  s.bytes = bytes_;
  s.flushes = chunks_.size();
  s.hits = hits_;
  s.misses = misses_;
  s.skipped = skipped_;
  s.dormant = dormant_locked();
  return s;
}

}  // namespace sidewal::wal
