// The uploader's transfers (one PUT, or a multipart upload with parallel
// parts, both under the bandwidth cap) and its lag in bytes. The rest of the
// uploader is in uploader.cc.
#include <algorithm>
#include <thread>

#include "archive/uploader.h"
#include "common/thread_name.h"

namespace sidewal::archive {

namespace {
Status stopping() { return Status::IoError("the uploader is stopping"); }
}  // namespace

Status Uploader::upload_range(SegmentReader* rd, uint64_t begin, uint64_t end,
                              const std::string& key) {
  const uint64_t total = end - begin;
  if (total <= opts_.part_bytes) {
    auto v = rd->view(begin, total);
    if (!v.ok()) return v.status();
    if (!limiter_.acquire(total)) return stopping();
    count_request();
    return store_->put(key, std::span<const uint8_t>(v.value(), total));
  }
  std::string upload_id;
  count_request();
  SIDEWAL_RETURN_IF_ERROR(store_->create_multipart(key, &upload_id));
  std::vector<std::string> etags;
  Status s = upload_parts(rd, begin, end, key, upload_id, &etags);
  if (s.ok()) {
    count_request();
    s = store_->complete_multipart(key, upload_id, etags);
  }
  if (!s.ok()) {
    count_request();
    (void)store_->abort_multipart(key, upload_id);  // best effort; a lifecycle rule does the rest
  }
  return s;
}

Status Uploader::upload_parts(SegmentReader* rd, uint64_t begin, uint64_t end,
                              const std::string& key, const std::string& upload_id,
                              std::vector<std::string>* etags) {
  const uint64_t part = opts_.part_bytes;
  const uint64_t parts = (end - begin + part - 1) / part;
  const uint64_t conc = std::max<uint32_t>(1, opts_.concurrency);
  // Waves of `conc` parts: each part is copied out of the reader's window
  // (one window at a time) and sent by a thread of its own.
  for (uint64_t first = 0; first < parts; first += conc) {
    const uint64_t n = std::min(conc, parts - first);
    if (n == 1) {
      const uint64_t off = begin + first * part;
      const uint64_t len = std::min(part, end - off);
      auto v = rd->view(off, len);
      if (!v.ok()) return v.status();
      if (!limiter_.acquire(len)) return stopping();
      std::string etag;
      count_request();
      SIDEWAL_RETURN_IF_ERROR(store_->upload_part(key, upload_id, static_cast<int>(first + 1),
                                                  std::span<const uint8_t>(v.value(), len), &etag));
      etags->push_back(std::move(etag));
      continue;
    }
    std::vector<std::vector<uint8_t>> bodies(n);
    for (uint64_t i = 0; i < n; ++i) {
      const uint64_t off = begin + (first + i) * part;
      const uint64_t len = std::min(part, end - off);
      auto v = rd->view(off, len);
      if (!v.ok()) return v.status();
      bodies[i].assign(v.value(), v.value() + len);
    }
    std::vector<std::string> tags(n);
    std::vector<Status> results(n);
    std::vector<std::thread> senders;
    for (uint64_t i = 0; i < n; ++i) {
      senders.emplace_back([&, i] {
        if (!limiter_.acquire(bodies[i].size())) {
          results[i] = stopping();
          return;
        }
        results[i] = store_->upload_part(key, upload_id, static_cast<int>(first + i + 1), bodies[i],
                                         &tags[i]);
      });
      name_thread(senders.back(), "sw-upload-part");
    }
    for (std::thread& t : senders) t.join();
    for (uint64_t i = 0; i < n; ++i) {
      count_request();
      SIDEWAL_RETURN_IF_ERROR(results[i]);
      etags->push_back(std::move(tags[i]));
    }
  }
  return Status::Ok();
}

void Uploader::measure_lag() {
  // From the archive's end (the cursor; before the first listing, the
  // local log's start) to the durable end, walking only what became
  // durable since the last measurement.
  const auto segs = local_segments();
  uint64_t seg = cur_.seg_first, off = cur_.offset, lsn = cur_.next_lsn;
  if (lsn == 0 && !segs.empty()) {
    seg = lsn = segs.front().first_lsn;
    off = 0;
  }
  if (seg != lag_.base_seg || off != lag_.base_offset || lsn != lag_.base_lsn) {
    lag_ = LagWalk{seg, off, lsn, seg, off, lsn, 0};
  }
  const uint64_t durable = wal_->durable_lsn();
  if (align_ == 0) {
    auto a = io_->direct_alignment(opts_.dir);
    if (a.ok()) align_ = a.value();
  }
  while (lsn != 0 && align_ != 0 && lag_.next_lsn <= durable) {
    size_t i = 0;
    while (i < segs.size() && segs[i].first_lsn != lag_.seg_first) ++i;
    if (i == segs.size()) break;  // truncated under the archive: counted up to here
    const uint64_t seg_last = i + 1 < segs.size() ? segs[i + 1].first_lsn - 1 : UINT64_MAX;
    if (lag_.next_lsn > seg_last) {
      lag_.seg_first = segs[i + 1].first_lsn;
      lag_.offset = 0;
      continue;
    }
    if (!lag_reader_ || lag_reader_->path() != segs[i].path) {
      lag_reader_.reset();
      auto r = SegmentReader::open(io_, segs[i].path, align_, (1u << 20) + align_);
      if (!r.ok()) break;
      lag_reader_ = std::move(r.value());
    }
    SegmentReader* rd = lag_reader_.get();
    rd->invalidate();
    const uint64_t pos = lag_.offset == 0 ? rd->records_begin() : lag_.offset;
    WalkResult w;
    Status s = walk_records(rd->viewer(), pos, rd->records_end(), rd->preamble().segment_id,
                            lag_.next_lsn, std::min(durable, seg_last), 0, rd->path(), &w);
    if (!s.ok() || w.batch_last_lsn < lag_.next_lsn) break;
    lag_.bytes += w.batch_end - (lag_.offset == 0 ? 0 : pos);  // a piece at 0 has the preamble
    lag_.offset = w.batch_end;
    lag_.next_lsn = w.batch_last_lsn + 1;
  }
  MutexLock g(stats_mu_);
  stats_.lag_bytes = archived_ >= durable ? 0 : lag_.bytes;
}

}  // namespace sidewal::archive
