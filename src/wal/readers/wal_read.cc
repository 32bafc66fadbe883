// The read side of WalImpl: read() and read_headers() (a SequentialReader,
// full or headers-only, over the segment table and its sparse index, O_DIRECT
// aligned buffers), truncate_before(), status().
#include <algorithm>

#include "wal/codecs/format.h"
#include "wal/readers/sequential_reader.h"
#include "wal/truncation_floor.h"
#include "wal/wal_impl.h"

namespace sidewal::wal {
namespace {

constexpr size_t kReadWindowBytes = 256 * 1024;

}  // namespace

Status WalImpl::read(uint64_t from_lsn, const ReadLimits& limits, std::vector<Record>* out,
                     uint64_t* next_lsn) {
  return read_records(from_lsn, limits, out, nullptr, next_lsn);
}

Status WalImpl::read_headers(uint64_t from_lsn, const ReadLimits& limits,
                             std::vector<RecordHeaderInfo>* out, uint64_t* next_lsn) {
  return read_records(from_lsn, limits, nullptr, out, next_lsn);
}

Status WalImpl::read_records(uint64_t from_lsn, const ReadLimits& limits,
                             std::vector<Record>* records, std::vector<RecordHeaderInfo>* headers,
                             uint64_t* next_lsn) {
  SW_ASSERT((records == nullptr) != (headers == nullptr));
  if (records != nullptr) records->clear();
  if (headers != nullptr) headers->clear();
  *next_lsn = from_lsn;
  if (from_lsn == 0) return Status::InvalidArgument("read from lsn 0: LSNs start at 1");
  const uint64_t durable = durable_lsn();
  // The segment table is the locator: segment by first LSN, then the closest
  // sparse-index entry at or below the LSN.
  auto locate = [this](uint64_t lsn, SegmentRef* ref) -> Status {
    MutexLock t(table_mu_);
    if (segs_.empty() || lsn < segs_.front().first_lsn) {
      return Status::Truncated("lsn " + std::to_string(lsn) +
                               " was truncated; the log starts at lsn " +
                               std::to_string(segs_.empty() ? 0 : segs_.front().first_lsn));
    }
    auto it = std::upper_bound(segs_.begin(), segs_.end(), lsn,
                               [](uint64_t v, const Segment& s) { return v < s.first_lsn; });
    --it;
    *ref = SegmentRef{};
    ref->path = it->path;
    ref->id = it->id;
    ref->first_lsn = it->first_lsn;
    if (it + 1 != segs_.end()) ref->next_first_lsn = (it + 1)->first_lsn;
    ref->have_preamble = true;
    ref->preamble = it->preamble;
    ref->start = IndexEntry{it->first_lsn, format::records_offset(it->preamble)};
    auto ie = std::upper_bound(it->index.begin(), it->index.end(), lsn,
                               [](uint64_t v, const IndexEntry& e) { return v < e.lsn; });
    if (ie != it->index.begin()) ref->start = *(ie - 1);
    return Status::Ok();
  };
  {
    // Below the log's first LSN is Truncated, wherever the records still are.
    MutexLock t(table_mu_);
    if (!segs_.empty() && from_lsn < segs_.front().first_lsn) {
      return Status::Truncated("lsn " + std::to_string(from_lsn) +
                               " was truncated; the log starts at lsn " +
                               std::to_string(segs_.front().first_lsn));
    }
  }
  if (from_lsn > durable) {
    // Nothing to read; still say Truncated for an LSN below the log.
    SegmentRef ignored;
    Status st = locate(from_lsn, &ignored);
    return st.code() == Code::kTruncated ? st : Status::Ok();
  }
  // Near the head: from memory, no disk read. The truncation check above
  // comes first (the window may still hold records of a deleted segment).
  if (records != nullptr && tail_.read(from_lsn, durable, limits, records, next_lsn)) {
    return Status::Ok();
  }
  if (headers != nullptr) {
    std::vector<Record> in_memory;
    if (tail_.read(from_lsn, durable, limits, &in_memory, next_lsn)) {
      for (const Record& r : in_memory) {
        headers->push_back(
            RecordHeaderInfo{.lsn = r.lsn,
                             .type = r.type,
                             .flags = r.flags,
                             .tenant = r.tenant,
                             .payload_len = static_cast<uint32_t>(r.payload.size())});
      }
      return Status::Ok();
    }
  }
  SequentialReaderOptions o;
  o.window_bytes = kReadWindowBytes;
  o.keys = keys_;
  o.headers_only = headers != nullptr;
  SequentialReader reader(io_, align_, locate, o);
  SIDEWAL_RETURN_IF_ERROR(reader.seek(from_lsn, durable));
  if (records != nullptr) {
    SIDEWAL_RETURN_IF_ERROR(reader.read(limits, records));
  } else {
    SIDEWAL_RETURN_IF_ERROR(reader.read_headers(limits, headers));
  }
  *next_lsn = reader.next_lsn();
  return Status::Ok();
}

Result<uint64_t> WalImpl::truncate_before(uint64_t lsn) {
  MutexLock g(truncate_mu_);
  if (opts_.truncation_floor) lsn = std::min(lsn, opts_.truncation_floor->keep_from());
  const uint64_t durable = durable_lsn();
  std::vector<std::string> doomed;
  uint64_t first = 0;
  {
    MutexLock t(table_mu_);
    // segs_[0] holds [segs_[0].first_lsn, segs_[1].first_lsn - 1]. It goes when
    // all of that is below `lsn` and durable, and a later segment is on disk
    // (so the directory always names the next LSN).
    while (segs_.size() >= 2 && segs_[1].first_lsn <= lsn && segs_[1].first_lsn - 1 <= durable &&
           segs_[1].on_disk) {
      doomed.push_back(segs_.front().path);
      segs_.pop_front();
    }
    first = segs_.front().first_lsn;
  }
  for (const std::string& p : doomed) SIDEWAL_RETURN_IF_ERROR(io_->remove(p));
  if (!doomed.empty()) SIDEWAL_RETURN_IF_ERROR(io_->sync_dir(dir_));
  return first;
}

WalStatus WalImpl::status() const {
  WalStatus s;
  s.durable_lsn = durable_lsn();
  s.state = state();
  {
    MutexLock lk(mu_);
    if (!failed_.ok()) s.failure = failed_.ToString();
    s.next_segment_ready = spare_ready_;
    s.overlapped_flushes = overlapped_flushes_;
    if (!spare_status_.ok()) s.next_segment_problem = spare_status_.ToString();
  }
  MutexLock t(table_mu_);
  s.first_lsn = segs_.empty() ? 1 : segs_.front().first_lsn;
  for (const Segment& seg : segs_) {
    if (!seg.on_disk) continue;
    ++s.segments;
    s.bytes_on_disk += seg.size;
    s.segment_paths.push_back(seg.path);
  }
  return s;
}

}  // namespace sidewal::wal
