#include "archive/uploader.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "archive/archive_names.h"
#include "archive/chain.h"
#include "archive/local_generation.h"
#include "common/thread_name.h"
#include "wal/codecs/format.h"

namespace sidewal::archive {

namespace fmt = wal::format;

Uploader::Uploader(ObjectStore* store, wal::Wal* wal, wal::IoBackend* io, UploaderOptions options)
    : store_(store),
      wal_(wal),
      io_(io),
      opts_(std::move(options)),
      limiter_(opts_.max_bytes_per_second) {
  SW_ASSERT(opts_.part_bytes >= (5u << 20) || opts_.part_bytes % 4096 == 0);
}

Uploader::~Uploader() { stop(); }

void Uploader::start() {
  {
    MutexLock g(run_mu_);
    if (thread_.joinable()) return;
    stopping_ = false;
  }
  limiter_.resume();
  thread_ = std::thread([this] {
    MutexLock l(run_mu_);
    while (!stopping_) {
      l.unlock();
      (void)step();  // the error is in stats() and retried next interval
      l.lock();
      run_cv_.wait_for(run_mu_, opts_.interval, [this]() REQUIRES(run_mu_) { return stopping_; });
    }
  });
  name_thread(thread_, "sw-archiver");
}

void Uploader::stop() {
  {
    MutexLock g(run_mu_);
    stopping_ = true;
  }
  limiter_.cancel();  // an upload waiting for bandwidth gives up
  run_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

UploaderStats Uploader::stats() const {
  MutexLock g(stats_mu_);
  UploaderStats s = stats_;
  if (behind_) {
    s.lag_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - behind_since_).count();
  }
  return s;
}

std::vector<Uploader::LocalSegment> Uploader::local_segments() const {
  std::vector<LocalSegment> out;
  for (const std::string& path : wal_->status().segment_paths) {
    const size_t slash = path.find_last_of('/');
    LocalSegment s;
    s.path = path;
    if (fmt::parse_segment_file_name(slash == std::string::npos ? path : path.substr(slash + 1),
                                     &s.first_lsn)) {
      out.push_back(std::move(s));
    }
  }
  return out;
}

void Uploader::set_archived(uint64_t lsn) {
  archived_ = lsn;
  if (opts_.floor) opts_.floor->set_keep_from(lsn + 1);
  MutexLock g(stats_mu_);
  stats_.archived_lsn = lsn;
  stats_.generation = gen_;
}

Result<SegmentReader*> Uploader::reader_for(const std::string& path) {
  if (align_ == 0) {
    auto a = io_->direct_alignment(opts_.dir);
    if (!a.ok()) return a.status();
    align_ = a.value();
  }
  if (!reader_ || reader_->path() != path) {
    reader_.reset();
    auto r = SegmentReader::open(io_, path, align_, opts_.part_bytes + align_);
    if (!r.ok()) return r.status();
    reader_ = std::move(r.value());
  }
  reader_->invalidate();
  return reader_.get();
}

Status Uploader::step() {
  const uint64_t durable = wal_->durable_lsn();
  Status s;
  if (!synced_) s = sync();
  if (s.ok()) s = ship();
  while (s.ok() && !compactions_.empty()) {
    s = compact(compactions_.front());
    if (s.ok()) compactions_.pop_front();
  }
  if (!s.ok()) synced_ = false;
  measure_lag();
  std::string event, detail;
  {
    MutexLock g(stats_mu_);
    stats_.durable_lsn = std::max(stats_.durable_lsn, durable);
    stats_.lag_records = stats_.durable_lsn > archived_ ? stats_.durable_lsn - archived_ : 0;
    stats_.requests = requests_;
    if (stats_.lag_records == 0) {
      behind_ = false;
    } else if (!behind_) {
      behind_ = true;
      behind_since_ = std::chrono::steady_clock::now();
    }
    if (s.ok()) {
      if (!stats_.last_error.empty()) event = "recovered";
      stats_.last_error.clear();
    } else {
      ++stats_.failures;
      if (stats_.last_error != s.ToString()) event = "failing";
      stats_.last_error = s.ToString();
    }
    detail = stats_.last_error;
  }
  bool stopping = false;
  {
    MutexLock g(run_mu_);
    stopping = stopping_;  // a pass cut short by stop() is not an outage
  }
  if (!event.empty() && opts_.on_event && !(stopping && event == "failing")) {
    opts_.on_event(event, detail);
  }
  return s;
}

Status Uploader::start_generation(const std::string& why) {
  {
    MutexLock g(stats_mu_);
    stats_.generation_reason = why;
  }
  std::string id;
  for (int attempt = 0;; ++attempt) {
    auto g = new_generation_id();
    if (!g.ok()) return g.status();
    std::vector<ObjectInfo> existing;
    count_request();
    SIDEWAL_RETURN_IF_ERROR(store_->list(generation_prefix(opts_.prefix, g.value()), &existing));
    if (existing.empty()) {
      id = g.value();
      break;
    }
    if (attempt >= 8) return Status::IoError("no unused generation id after 8 draws");
  }
  const auto segs = local_segments();
  char host[256] = {0};
  (void)::gethostname(host, sizeof host - 1);
  const std::string marker = "sidewal-archive 1\ngeneration " + id + "\ncreated " +
                             format_stamp(now_stamp_us()) + "\nfirst_lsn " +
                             std::to_string(segs.empty() ? 1 : segs.front().first_lsn) + "\nhost " +
                             host + "\n";
  count_request();
  SIDEWAL_RETURN_IF_ERROR(
      store_->put(generation_marker_key(opts_.prefix, id),
                  std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(marker.data()),
                                           marker.size())));
  SIDEWAL_RETURN_IF_ERROR(write_generation_file(opts_.dir, id));
  gen_ = id;
  cur_ = Cursor{};
  if (!segs.empty()) {
    cur_.seg_first = segs.front().first_lsn;
    cur_.next_lsn = segs.front().first_lsn;
  }
  compactions_.clear();
  set_archived(0);
  {
    MutexLock g(stats_mu_);
    ++stats_.generations_started;
  }
  if (opts_.on_event) opts_.on_event("generation", id + ": " + why);
  synced_ = true;
  return Status::Ok();
}

Status Uploader::sync() {
  if (gen_.empty()) {
    std::string id;
    Status r = read_generation_file(opts_.dir, &id);
    if (r.code() == Code::kNotFound) return start_generation("no GENERATION file");
    SIDEWAL_RETURN_IF_ERROR(r);
    gen_ = id;
  }
  const std::string seg_prefix = segments_prefix(opts_.prefix, gen_);
  std::vector<ObjectInfo> listing;
  count_request();
  SIDEWAL_RETURN_IF_ERROR(store_->list(seg_prefix, &listing));
  SIDEWAL_RETURN_IF_ERROR(drop_cut_short(seg_prefix, &listing));
  Chain chain;
  Status b = build_chain(listing, seg_prefix, UINT64_MAX, &chain);
  if (!b.ok()) return start_generation("the generation's objects are damaged: " + b.message());
  if (!chain.gap.ok()) return start_generation(chain.gap.message());
  for (const Piece& p : chain.superseded) {
    count_request();
    SIDEWAL_RETURN_IF_ERROR(store_->remove(p.key));
  }
  const auto segs = local_segments();
  const uint64_t durable = wal_->durable_lsn();
  const uint64_t local_first = wal_->status().first_lsn;
  compactions_.clear();
  cur_ = Cursor{};
  if (chain.empty()) {
    if (!segs.empty()) {
      cur_.seg_first = segs.front().first_lsn;
      cur_.next_lsn = segs.front().first_lsn;
    }
    set_archived(0);
    synced_ = true;
    return Status::Ok();
  }
  const uint64_t a = chain.durable_lsn;
  if (a > durable) {
    return start_generation("the archive holds lsn " + std::to_string(a) +
                            ", past the log's durable lsn " + std::to_string(durable));
  }
  if (a + 1 < local_first) {
    return start_generation("the log starts at lsn " + std::to_string(local_first) +
                            ", after the archive's end " + std::to_string(a));
  }
  const ChainSegment& last = chain.segments.back();
  size_t i = 0;
  while (i < segs.size() && segs[i].first_lsn != last.first_lsn) ++i;
  if (i < segs.size()) {
    auto r = reader_for(segs[i].path);
    if (!r.ok()) return r.status();
    SegmentReader* rd = r.value();
    if (rd->preamble().segment_id != last.segment_id || rd->file_bytes() != last.file_bytes) {
      return start_generation("local segment " + segs[i].path + " is not the archived one");
    }
    const bool sealed_here = i + 1 < segs.size() && segs[i + 1].first_lsn == a + 1;
    if (sealed_here) {
      cur_.seg_first = a + 1;
      cur_.next_lsn = a + 1;
    } else if (a < durable) {
      // The next local record must be LSN a + 1 exactly where the archive's
      // copy ends.
      WalkResult w;
      Status c = walk_records(rd->viewer(), last.end, rd->records_end(), last.segment_id, a + 1,
                              a + 1, 0, rd->path(), &w);
      if (!c.ok()) {
        // Diverged (the archive's last piece is not what the log holds
        // there), or damaged here (it is, and the next record is bad): only
        // the first starts a new generation; the second is the log's
        // problem and must not make a generation per step.
        const Piece& lp = last.cover.back();
        std::string body;
        count_request();
        SIDEWAL_RETURN_IF_ERROR(store_->get(lp.key, &body));
        auto local = rd->view(lp.name.begin, lp.name.end - lp.name.begin);
        if (!local.ok()) return local.status();
        if (body.size() == lp.name.end - lp.name.begin &&
            std::memcmp(body.data(), local.value(), body.size()) == 0) {
          return c;
        }
        return start_generation("the log does not continue the archive at lsn " +
                                std::to_string(a + 1) + ": " + c.message());
      }
    }
    if (!sealed_here) {
      cur_.seg_first = last.first_lsn;
      cur_.seg_id = last.segment_id;
      cur_.offset = last.end;
      cur_.next_lsn = a + 1;
      for (const Piece& p : last.cover) cur_.pieces.push_back(p.key);
    }
  } else {
    size_t j = 0;
    while (j < segs.size() && segs[j].first_lsn != a + 1) ++j;
    if (j == segs.size()) {
      return start_generation("no local segment continues the archive after lsn " +
                              std::to_string(a));
    }
    cur_.seg_first = a + 1;
    cur_.next_lsn = a + 1;
  }
  // Sealed segments archived as several tail pieces: compact them while
  // the local copy is there.
  for (size_t k = 0; k < chain.segments.size(); ++k) {
    const ChainSegment& cs = chain.segments[k];
    const bool complete = k + 1 < chain.segments.size() || (cur_.seg_first != cs.first_lsn);
    if (!complete || cs.cover.size() < 2) continue;
    Compaction c;
    c.seg_first = cs.first_lsn;
    c.seg_id = cs.segment_id;
    c.last_lsn = cs.last_lsn;
    c.stamp_us = cs.stamp_us;
    for (const Piece& p : cs.cover) c.pieces.push_back(p.key);
    compactions_.push_back(std::move(c));
  }
  set_archived(a);
  synced_ = true;
  return Status::Ok();
}

Status Uploader::drop_cut_short(const std::string& seg_prefix, std::vector<ObjectInfo>* listing) {
  // A piece whose size is not E - O is an upload cut short on a store that
  // keeps what it received of a PUT (s3rver does when the client dies
  // mid-body; S3 does not). It holds no byte the log lacks, so it is deleted and
  // the range shipped again from the end of the chain (docs/archive.md "Why
  // uploads are idempotent").
  for (auto it = listing->begin(); it != listing->end();) {
    PieceName n;
    if (it->key.size() > seg_prefix.size() && it->key.back() != '/' &&
        parse_piece_suffix(it->key.substr(seg_prefix.size()), &n) && it->size != n.end - n.begin) {
      count_request();
      SIDEWAL_RETURN_IF_ERROR(store_->remove(it->key));
      if (opts_.on_event) {
        opts_.on_event("cut_short", it->key + " holds " + std::to_string(it->size) + " bytes of " +
                                        std::to_string(n.end - n.begin));
      }
      it = listing->erase(it);
    } else {
      ++it;
    }
  }
  return Status::Ok();
}

Status Uploader::ship() {
  const uint64_t durable = wal_->durable_lsn();
  const uint64_t stamp = now_stamp_us();
  {
    MutexLock g(stats_mu_);
    stats_.durable_lsn = durable;
  }
  if (cur_.next_lsn == 0 || cur_.next_lsn > durable) return Status::Ok();
  const auto segs = local_segments();
  for (;;) {
    if (cur_.next_lsn > durable) return Status::Ok();
    size_t i = 0;
    while (i < segs.size() && segs[i].first_lsn != cur_.seg_first) ++i;
    if (i == segs.size()) {
      return Status::Truncated("segment " + fmt::segment_file_name(cur_.seg_first) +
                               " is gone from the log before the archive holds it");
    }
    const uint64_t seg_last = i + 1 < segs.size() ? segs[i + 1].first_lsn - 1 : UINT64_MAX;
    if (cur_.next_lsn > seg_last) {
      cur_ = Cursor{};
      cur_.seg_first = segs[i + 1].first_lsn;
      cur_.next_lsn = segs[i + 1].first_lsn;
      continue;
    }
    const uint64_t target = std::min(durable, seg_last);
    auto r = reader_for(segs[i].path);
    if (!r.ok()) return r.status();
    SegmentReader* rd = r.value();
    if (cur_.offset == 0) {
      cur_.seg_id = rd->preamble().segment_id;
    } else if (rd->preamble().segment_id != cur_.seg_id) {
      return Status::Corruption("segment " + rd->path() + " has id " +
                                std::to_string(rd->preamble().segment_id) + ", the archive's " +
                                std::to_string(cur_.seg_id));
    }
    const bool whole = cur_.offset == 0 && target == seg_last;
    const uint64_t pos = cur_.offset == 0 ? rd->records_begin() : cur_.offset;
    WalkResult w;
    SIDEWAL_RETURN_IF_ERROR(walk_records(rd->viewer(), pos, rd->records_end(), cur_.seg_id,
                                         cur_.next_lsn, target, whole ? 0 : opts_.part_bytes,
                                         rd->path(), &w));
    if (w.batch_last_lsn < cur_.next_lsn || (whole && w.batch_last_lsn != seg_last)) {
      return Status::Corruption("segment " + rd->path() + ": no batch end between lsn " +
                                std::to_string(cur_.next_lsn) + " and " + std::to_string(target));
    }
    PieceName n;
    n.segment_first_lsn = cur_.seg_first;
    n.begin = cur_.offset;
    n.end = w.batch_end;
    n.first_lsn = cur_.next_lsn;
    n.last_lsn = w.batch_last_lsn;
    n.segment_id = cur_.seg_id;
    n.file_bytes = rd->file_bytes();
    n.stamp_us = stamp;
    const std::string key = piece_key(opts_.prefix, gen_, n);
    SIDEWAL_RETURN_IF_ERROR(upload_range(rd, n.begin, n.end, key));
    cur_.offset = n.end;
    cur_.next_lsn = n.last_lsn + 1;
    cur_.pieces.push_back(key);
    set_archived(n.last_lsn);
    {
      MutexLock g(stats_mu_);
      ++stats_.pieces_uploaded;
      stats_.bytes_uploaded += n.end - n.begin;
    }
    if (n.last_lsn == seg_last && cur_.pieces.size() > 1) {
      Compaction c;
      c.seg_first = cur_.seg_first;
      c.seg_id = cur_.seg_id;
      c.last_lsn = seg_last;
      c.stamp_us = stamp;
      c.pieces = cur_.pieces;
      compactions_.push_back(std::move(c));
    }
  }
}

Status Uploader::compact(const Compaction& c) {
  const auto segs = local_segments();
  size_t i = 0;
  while (i < segs.size() && segs[i].first_lsn != c.seg_first) ++i;
  if (i == segs.size()) return Status::Ok();  // truncated: the tail pieces stay
  // A separate reader: the cursor's may be on another segment.
  if (align_ == 0) {
    auto a = io_->direct_alignment(opts_.dir);
    if (!a.ok()) return a.status();
    align_ = a.value();
  }
  auto r = SegmentReader::open(io_, segs[i].path, align_, opts_.part_bytes + align_);
  if (r.status().code() == Code::kNotFound) return Status::Ok();
  if (!r.ok()) return r.status();
  SegmentReader* rd = r.value().get();
  if (rd->preamble().segment_id != c.seg_id) return Status::Ok();  // not the archived file
  WalkResult w;
  SIDEWAL_RETURN_IF_ERROR(walk_records(rd->viewer(), rd->records_begin(), rd->records_end(),
                                       c.seg_id, c.seg_first, c.last_lsn, 0, rd->path(), &w));
  if (w.batch_last_lsn != c.last_lsn) {
    return Status::Corruption("segment " + rd->path() + " does not end with a batch at lsn " +
                              std::to_string(c.last_lsn));
  }
  PieceName n;
  n.segment_first_lsn = c.seg_first;
  n.begin = 0;
  n.end = w.batch_end;
  n.first_lsn = c.seg_first;
  n.last_lsn = c.last_lsn;
  n.segment_id = c.seg_id;
  n.file_bytes = rd->file_bytes();
  n.stamp_us = c.stamp_us;
  const std::string key = piece_key(opts_.prefix, gen_, n);
  SIDEWAL_RETURN_IF_ERROR(upload_range(rd, 0, n.end, key));
  for (const std::string& k : c.pieces) {
    if (k == key) continue;
    count_request();
    SIDEWAL_RETURN_IF_ERROR(store_->remove(k));
  }
  MutexLock g(stats_mu_);
  ++stats_.compactions;
  stats_.bytes_uploaded += n.end;
  return Status::Ok();
}

}  // namespace sidewal::archive
