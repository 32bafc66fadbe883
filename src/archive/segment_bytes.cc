#include "archive/segment_bytes.h"

#include <algorithm>

#include "wal/dwb.h"
#include "wal/wal.h"

namespace sidewal::archive {

namespace fmt = wal::format;

Status walk_records(const ByteView& view, uint64_t pos, uint64_t limit, uint64_t segment_id,
                    uint64_t lsn, uint64_t stop_lsn, uint64_t budget, const std::string& what,
                    WalkResult* out) {
  const uint64_t start = pos;
  *out = WalkResult{};
  out->batch_end = out->end = pos;
  out->batch_last_lsn = out->last_lsn = lsn - 1;
  uint64_t records = 0;
  while (lsn <= stop_lsn) {
    auto where = [&] {
      return what + " offset " + std::to_string(pos) + " (lsn " + std::to_string(lsn) + ")";
    };
    if (pos + fmt::kHeaderBytes > limit) {
      return Status::Corruption(what + ": the records end at offset " + std::to_string(pos) +
                                " after lsn " + std::to_string(lsn - 1) + ", expected lsn " +
                                std::to_string(stop_lsn));
    }
    auto h = view(pos, fmt::kHeaderBytes);
    if (!h.ok()) return h.status();
    const fmt::RecordHeader header = fmt::decode_header(h.value());
    if (header.payload_len > wal::kHardMaxRecordBytes) {
      return Status::Corruption(where() + ": payload length " + std::to_string(header.payload_len) +
                                " over the 16 MiB ceiling");
    }
    const uint64_t len = fmt::kHeaderBytes + header.payload_len;
    const uint64_t next = pos + fmt::record_bytes(header.payload_len);
    if (pos + len > limit) {
      return Status::Corruption(where() + ": the record runs past offset " + std::to_string(limit));
    }
    if (budget != 0 && next - start > budget && out->batch_end > start) break;
    auto r = view(pos, len);
    if (!r.ok()) return r.status();
    fmt::RecordHeader checked;
    std::string why;
    if (fmt::check_record(r.value(), len, segment_id, lsn, &checked, &why) !=
        fmt::RecordCheck::kValid) {
      return Status::Corruption(where() + ": " + (why.empty() ? "a zero header" : why));
    }
    ++records;
    out->end = std::min(next, limit);
    out->last_lsn = lsn;
    if (checked.flags & fmt::kFlagBatchEnd) {
      out->batch_end = out->end;
      out->batch_last_lsn = lsn;
      out->records = records;
    }
    pos = next;
    ++lsn;
  }
  return Status::Ok();
}

Result<std::unique_ptr<SegmentReader>> SegmentReader::open(wal::IoBackend* io,
                                                           const std::string& path, size_t align,
                                                           size_t window_bytes) {
  std::unique_ptr<SegmentReader> r(new SegmentReader(io, path, align, window_bytes));
  wal::OpenOptions o;
  o.writable = false;
  o.direct = true;
  auto fd = io->open(path, o);
  if (!fd.ok()) return fd.status();
  r->fd_ = fd.value();
  auto size = io->file_size(r->fd_);
  if (!size.ok()) return size.status();
  r->file_bytes_ = size.value();
  if (r->file_bytes_ % align != 0 || r->file_bytes_ < (wal::dwb::kReservedPages + 1) * align) {
    return Status::Corruption("segment " + path + " is " + std::to_string(r->file_bytes_) +
                              " bytes: not a segment file");
  }
  // The preamble from one page; the window is allocated by the first view().
  r->buf_.reset(align, align);
  SIDEWAL_RETURN_IF_ERROR(r->load(0, align));
  if (r->win_len_ < align) return Status::IoError("segment " + path + ": short read of page 0");
  SIDEWAL_RETURN_IF_ERROR(
      fmt::decode_preamble(r->buf_.data(), fmt::kMaxPreambleBytes, path, &r->preamble_));
  return r;
}

SegmentReader::~SegmentReader() {
  if (fd_ >= 0) (void)io_->close(fd_);
}

uint64_t SegmentReader::records_end() const { return wal::dwb::records_end(file_bytes_, align_); }

Result<const uint8_t*> SegmentReader::view(uint64_t off, size_t n) {
  if (off + n > file_bytes_) {
    return Status::Corruption("segment " + path_ + ": read of [" + std::to_string(off) + ", " +
                              std::to_string(off + n) + ") past its end " +
                              std::to_string(file_bytes_));
  }
  if (off >= win_base_ && off + n <= win_base_ + win_len_) return buf_.data() + (off - win_base_);
  const uint64_t base = fmt::round_down(off, align_);
  const uint64_t len = std::max<uint64_t>(window_bytes_, fmt::round_up(off + n - base, align_));
  SIDEWAL_RETURN_IF_ERROR(load(base, len));
  if (win_len_ < off + n - base) {
    return Status::IoError("segment " + path_ + ": short read at offset " + std::to_string(base));
  }
  return buf_.data() + (off - base);
}

Status SegmentReader::load(uint64_t base, uint64_t len) {
  len = std::min(len, file_bytes_ - base);
  if (len > buf_.size()) buf_.reset(align_, len);
  win_len_ = 0;
  size_t got = 0;
  SIDEWAL_RETURN_IF_ERROR(io_->read(fd_, base, buf_.data(), len, &got));
  win_base_ = base;
  win_len_ = got;
  return Status::Ok();
}

}  // namespace sidewal::archive
