// WalImpl's life: construction (staging buffers sized once), start() (takes
// over the repaired directory, starts the flusher, completer and preparer
// threads), fail-stop, and close(). The threads' work is in writer/.
#include <algorithm>
#include <cstring>

#include "common/thread_name.h"
#include "wal/codecs/format.h"
#include "wal/dwb.h"
#include "wal/segment_file.h"
#include "wal/wal_impl.h"

namespace sidewal::wal {
namespace {

// A staging buffer holds the largest batch plus the carried page and the
// rounding of its last page: WalOptions::staging_bytes, or two of the
// largest records if more. A batch never exceeds a segment, so small
// segments (tests) get small buffers.
size_t staging_capacity(uint64_t staging_bytes, uint64_t max_record_bytes, uint64_t segment_bytes,
                        size_t align) {
  uint64_t batch = std::max<uint64_t>(staging_bytes, 2 * format::record_bytes(max_record_bytes));
  batch = std::min<uint64_t>(batch, segment_bytes);
  return format::round_up(batch + 2 * align, align);
}

}  // namespace

WalImpl::WalImpl(const WalOptions& options, std::shared_ptr<IoBackend> io, size_t alignment)
    : opts_(options),
      io_owner_(std::move(io)),
      io_(io_owner_.get()),
      dir_(options.dir),
      align_(alignment),
      keys_(std::make_shared<SegmentKeys>(options.keys)),
      encrypt_(keys_->encrypts()),
      tag_bytes_(encrypt_ ? kTagBytes : 0),
      staging_bytes_(staging_capacity(options.staging_bytes,
                                      uint64_t{options.max_record_bytes} + tag_bytes_,
                                      options.segment_bytes, alignment)),
      max_batch_bytes_(
          std::min<uint64_t>(staging_bytes_ - 2 * alignment,
                             dwb::records_end(options.segment_bytes, alignment) -
                                 format::preamble_bytes(encrypt_ ? format::kCipherAes256Gcm
                                                                 : format::kCipherNone))) {
  for (Staging& s : bufs_) s.buf.reset(align_, staging_bytes_);
  dwb_slot_.reset(align_, dwb::kSlotPages * align_);
}

WalImpl::~WalImpl() { (void)close(); }

Status WalImpl::start(const DirScan& scan) {
  uint64_t next_id = scan.max_segment_id + 1;
  uint64_t pos = 0;
  std::shared_ptr<const SecureKey> active_key;
  {
    MutexLock t(table_mu_);
    for (size_t i = 0; i < scan.keep_segments; ++i) {
      const SegmentScan& s = scan.segments[i];
      Segment seg;
      seg.first_lsn = s.first_lsn;
      seg.id = s.preamble.segment_id;
      seg.path = s.path;
      seg.size = s.file_size;
      seg.preamble = s.preamble;
      seg.on_disk = true;
      for (const IndexEntry& e : s.index) {
        if (e.lsn < scan.next_lsn) seg.index.push_back(e);
      }
      segs_.push_back(std::move(seg));
    }
  }
  // Appends go into a new segment when the log is fresh, and after every
  // open of a log that encrypts or whose last segment is encrypted: a
  // segment takes records from one process lifetime only, so no
  // (segment key, nonce) pair is ever used twice (docs/encryption.md rule 2).
  // An empty last segment is replaced (same name, new salt), never reused:
  // recovery may have cut records that were sealed in it.
  bool start_new = scan.keep_segments == 0;
  bool replace_last = false;
  if (!start_new) {
    const SegmentScan& last = scan.segments[scan.keep_segments - 1];
    start_new = encrypt_ || last.preamble.cipher != format::kCipherNone;
    replace_last = start_new && scan.cut_offset == format::records_offset(last.preamble);
    pos = scan.cut_offset;
  }
  if (start_new) {
    // Born like every other segment, as a spare renamed into place.
    format::Preamble p;
    SIDEWAL_RETURN_IF_ERROR(new_segment_preamble(next_id, &p, &active_key));
    std::string spare = join_path(dir_, format::spare_file_name(next_id));
    SIDEWAL_RETURN_IF_ERROR(
        create_spare_segment(io_, spare, p, opts_.segment_bytes, align_,
                             opts_.preallocation == WalOptions::Preallocation::kReserve
                                 ? ZeroFill::kReserve
                                 : ZeroFill::kWrite));
    std::string path = join_path(dir_, format::segment_file_name(scan.next_lsn));
    SIDEWAL_RETURN_IF_ERROR(io_->rename(spare, path));
    SIDEWAL_RETURN_IF_ERROR(io_->sync_dir(dir_));
    Segment seg;
    seg.first_lsn = scan.next_lsn;
    seg.id = next_id++;
    seg.path = path;
    seg.size = opts_.segment_bytes;
    seg.preamble = p;
    seg.on_disk = true;
    pos = format::records_offset(p);
    MutexLock t(table_mu_);
    if (replace_last) {
      SW_ASSERT(segs_.back().path == path);
      segs_.back() = std::move(seg);
    } else {
      segs_.push_back(std::move(seg));
    }
  }

  // Nothing else runs until the threads start at the end; mu_ is held all
  // the same for what they will share (as everywhere else), and let go
  // before they start.
  MutexLock lk(mu_);
  const Segment* last;
  {
    MutexLock t(table_mu_);
    last = &segs_.back();  // stays put: only start() changes segs_ before the threads run
  }
  const Segment& active = *last;
  OpenOptions o;
  o.direct = true;
  o.dsync = opts_.sync_mode == SyncMode::kODsync;
  Result<FileHandle> f = io_->open(active.path, o);
  if (!f.ok()) return f.status();
  write_fd_ = *f;

  Staging& fill = bufs_[0];
  fill.base = format::round_down(pos, align_);
  fill.carry = pos - fill.base;
  fill.used = fill.carry;
  if (fill.carry > 0) {
    size_t got = 0;
    SIDEWAL_RETURN_IF_ERROR(io_->read(write_fd_, fill.base, fill.buf.data(), align_, &got));
    if (got != align_) {
      return Status::IoError("short read of the last page of " + active.path + " at offset " +
                             std::to_string(fill.base));
    }
    std::memset(fill.buf.data() + fill.carry, 0, align_ - fill.carry);
  }
  // The double-write invariant from the first flush on: slot 0 holds the
  // durable copy of the page the first flush rewrites, slot 1 nothing (no
  // stale copy from before a crash or a cut survives this).
  SIDEWAL_RETURN_IF_ERROR(dwb::reset_slots_at_open(io_, write_fd_, active.path, active.size, align_,
                                                   active.id, opts_.dwb, fill.base, fill.buf.data(),
                                                   fill.carry, scan.next_lsn - 1, &dwb_next_slot_));
  fill.segment_id = active.id;
  fill.segment_bytes = active.size;
  fill.path = active.path;
  fill.seg_key = active_key;
  index_empty_ = active.index.empty();
  last_index_offset_ = active.index.empty() ? 0 : active.index.back().offset;

  next_lsn_ = scan.next_lsn;
  next_segment_id_ = next_id;
  durable_lsn_.store(scan.next_lsn - 1, std::memory_order_release);
  spare_wanted_ = true;
  state_.store(static_cast<uint8_t>(LogState::kReady));
  lk.unlock();
  flusher_ = std::thread([this] { flusher_loop(); });
  name_thread(flusher_, "sw-flusher");
  completer_ = std::thread([this] { completer_loop(); });
  name_thread(completer_, "sw-completer");
  preparer_ = std::thread([this] { preparer_loop(); });
  name_thread(preparer_, "sw-preparer");
  return Status::Ok();
}

// Fail-stop's one owner (see failed_ in wal_impl.h): the only place failed_
// is set and state_ becomes kFailed.
void WalImpl::enter_failed_locked(const Status& why) {
  if (!failed_.ok()) return;
  failed_ = why;
  state_.store(static_cast<uint8_t>(LogState::kFailed));
  space_cv_.notify_all();
  flush_cv_.notify_one();
}

Status WalImpl::failure() const {
  MutexLock lk(mu_);
  return failed_;
}

Status WalImpl::caller_error_locked() const {
  // The daemon maps kNoSpace to NO_SPACE and the rest to IO_FAILED; the
  // original code and message stay visible.
  std::string msg = "the log is fail-stopped after: " + failed_.ToString();
  if (failed_.code() == Code::kNoSpace) return Status::NoSpace(std::move(msg));
  return Status::Failed(std::move(msg));
}

Status WalImpl::close() {
  MutexLock c(close_mu_);
  if (closed_) return Status::Ok();
  closed_ = true;
  {
    MutexLock lk(mu_);
    closing_ = true;
    stopping_preparer_ = true;
    flush_cv_.notify_one();
    space_cv_.notify_all();
    prep_cv_.notify_one();
  }
  if (flusher_.joinable()) flusher_.join();
  {
    MutexLock g(complete_mu_);
    completer_stop_ = true;
    complete_cv_.notify_one();
  }
  if (completer_.joinable()) completer_.join();
  if (preparer_.joinable()) preparer_.join();
  Status st;
  if (write_fd_ >= 0) {
    st = io_->close(write_fd_);
    write_fd_ = -1;
  }
  dir_lock_.reset();  // nothing of ours writes any more: the next writer may open
  MutexLock lk(mu_);
  if (!failed_.ok()) return caller_error_locked();
  return st;
}

}  // namespace sidewal::wal
