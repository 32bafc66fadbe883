// The read side of WalImpl: read() through the sparse index with O_DIRECT
// aligned buffers, truncate_before(), status().
#include <algorithm>

#include "wal/file_window.h"
#include "wal/format.h"
#include "wal/wal_impl.h"

namespace sidewal::wal {
namespace {

constexpr size_t kReadWindowBytes = 256 * 1024;

}  // namespace

Status WalImpl::read(uint64_t from_lsn, const ReadLimits& limits, std::vector<Record>* out,
                     uint64_t* next_lsn) {
  out->clear();
  *next_lsn = from_lsn;
  if (from_lsn == 0) return Status::InvalidArgument("read from lsn 0: LSNs start at 1");
  const uint64_t durable = durable_lsn();
  uint64_t lsn = from_lsn;
  uint64_t bytes = 0;
  bool full = false;
  while (!full && lsn <= durable) {
    // Find the segment and the closest index entry at or below `lsn`.
    std::string path;
    uint64_t seg_id = 0, seg_next_first = UINT64_MAX;
    IndexEntry start;
    {
      std::lock_guard<std::mutex> t(table_mu_);
      if (segs_.empty() || lsn < segs_.front().first_lsn) {
        return Status::Truncated("lsn " + std::to_string(lsn) +
                                 " was truncated; the log starts at lsn " +
                                 std::to_string(segs_.empty() ? 0 : segs_.front().first_lsn));
      }
      auto it = std::upper_bound(segs_.begin(), segs_.end(), lsn,
                                 [](uint64_t v, const Segment& s) { return v < s.first_lsn; });
      --it;
      path = it->path;
      seg_id = it->id;
      if (it + 1 != segs_.end()) seg_next_first = (it + 1)->first_lsn;
      start = IndexEntry{it->first_lsn, format::kPreambleBytes};
      auto ie = std::upper_bound(it->index.begin(), it->index.end(), lsn,
                                 [](uint64_t v, const IndexEntry& e) { return v < e.lsn; });
      if (ie != it->index.begin()) start = *(ie - 1);
    }

    OpenOptions o;
    o.writable = false;
    o.direct = true;
    Result<FileHandle> f = io_->open(path, o);
    if (!f.ok()) {
      std::lock_guard<std::mutex> t(table_mu_);
      if (!segs_.empty() && lsn < segs_.front().first_lsn) {
        return Status::Truncated("lsn " + std::to_string(lsn) +
                                 " was truncated while being read; the log starts at lsn " +
                                 std::to_string(segs_.front().first_lsn));
      }
      return f.status();
    }
    struct Closer {
      IoBackend* io;
      FileHandle f;
      ~Closer() { (void)io->close(f); }
    } closer{io_, *f};
    Result<uint64_t> size = io_->file_size(*f);
    if (!size.ok()) return size.status();
    FileWindow w(io_, *f, path, *size, align_, kReadWindowBytes);

    uint64_t pos = start.offset;
    uint64_t expected = start.lsn;
    while (expected <= durable && expected < seg_next_first) {
      format::RecordCheck r;
      format::RecordHeader h;
      const uint8_t* rec = nullptr;
      std::string why;
      SIDEWAL_RETURN_IF_ERROR(check_record_at(w, pos, seg_id, expected, &r, &h, &rec, &why));
      if (r != format::RecordCheck::kValid) {
        return Status::Corruption("segment " + path + " offset " + std::to_string(pos) +
                                  ": reading durable lsn " + std::to_string(expected) + ": " +
                                  (r == format::RecordCheck::kEnd ? "records end here" : why));
      }
      if (expected >= lsn) {
        if (!out->empty() &&
            ((limits.max_records && out->size() >= limits.max_records) ||
             (limits.max_bytes && bytes + h.payload_len > limits.max_bytes))) {
          full = true;
          break;
        }
        Record& rec_out = out->emplace_back();
        rec_out.lsn = h.lsn;
        rec_out.type = h.type;
        rec_out.flags = h.flags;
        rec_out.tenant = h.tenant;
        const uint8_t* payload = rec + format::kHeaderBytes;
        rec_out.payload.assign(payload, payload + h.payload_len);
        bytes += h.payload_len;
      }
      pos += format::record_bytes(h.payload_len);
      ++expected;
    }
    lsn = expected;
  }
  *next_lsn = lsn;
  return Status::Ok();
}

Result<uint64_t> WalImpl::truncate_before(uint64_t lsn) {
  std::lock_guard<std::mutex> g(truncate_mu_);
  const uint64_t durable = durable_lsn();
  std::vector<std::string> doomed;
  uint64_t first = 0;
  {
    std::lock_guard<std::mutex> t(table_mu_);
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
  s.state = static_cast<LogState>(state_.load());
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (!failed_.ok()) s.failure = failed_.ToString();
    s.next_segment_ready = spare_ready_;
    if (!spare_status_.ok()) s.next_segment_problem = spare_status_.ToString();
  }
  std::lock_guard<std::mutex> t(table_mu_);
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
