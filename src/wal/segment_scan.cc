#include "wal/segment_scan.h"

#include <algorithm>
#include <cstring>

#include "common/endian.h"
#include "wal/dwb.h"
#include "wal/file_window.h"
#include "wal/wal.h"

namespace sidewal::wal {
namespace {

constexpr size_t kScanWindowBytes = 1 << 20;

}  // namespace

Status check_record_at(FileWindow& w, uint64_t offset, uint64_t segment_id, uint64_t expected_lsn,
                format::RecordCheck* result, format::RecordHeader* h, const uint8_t** rec,
                std::string* why) {
  // Records live in [preamble, records_end): the double-write slots follow.
  uint64_t avail = w.records_end() - std::min(offset, w.records_end());
  const uint8_t* p = nullptr;
  uint64_t head = std::min<uint64_t>(avail, format::kHeaderBytes);
  SIDEWAL_RETURN_IF_ERROR(w.get(offset, head, &p));
  if (head == format::kHeaderBytes) {
    uint64_t len = get_u32(p + 16);
    if (len <= kHardMaxRecordBytes && format::kHeaderBytes + len <= avail) {
      SIDEWAL_RETURN_IF_ERROR(w.get(offset, format::kHeaderBytes + len, &p));
    }
  }
  *rec = p;
  *result = format::check_record(p, avail, segment_id, expected_lsn, h, why);
  return Status::Ok();
}

namespace {

// Reads [from, end of file) looking for non-zero bytes and for a valid
// FLUSH_START record with an LSN above out->last_lsn.
Status scan_tail(FileWindow& w, SegmentScan* out) {
  out->tail_scanned = true;
  const uint64_t size = w.records_end();  // the double-write slots are not records
  const uint64_t id = out->preamble.segment_id;
  uint64_t p = format::round_up(out->stop_offset, format::kRecordAlign);
  while (p + 8 <= size) {
    uint64_t chunk = format::round_down(std::min<uint64_t>(kScanWindowBytes, size - p), 8);
    const uint8_t* c = nullptr;
    SIDEWAL_RETURN_IF_ERROR(w.get(p, chunk, &c));
    uint64_t next = p + chunk;
    for (uint64_t i = 0; i < chunk; i += 8) {
      uint64_t word = get_u64(c + i);
      if (word == 0) continue;
      out->nonzero_end = p + i + 8;
      // A candidate record: lsn above everything kept, plausibly close.
      if (word <= out->last_lsn || word > out->last_lsn + (1ull << 32)) continue;
      uint64_t q = p + i;
      format::RecordCheck r;
      format::RecordHeader h;
      const uint8_t* rec = nullptr;
      std::string why;
      SIDEWAL_RETURN_IF_ERROR(check_record_at(w, q, id, 0, &r, &h, &rec, &why));
      if (r == format::RecordCheck::kValid) {
        uint64_t end = std::min<uint64_t>(size, q + format::record_bytes(h.payload_len));
        out->nonzero_end = std::max(out->nonzero_end, q + format::kHeaderBytes + h.payload_len);
        if (h.flags & format::kFlagFlushStart) {
          out->later_flush_start = true;
          out->later_offset = q;
          out->later_lsn = h.lsn;
          return Status::Ok();
        }
        // Leftover of the torn write: skip over it.
        if (end >= p + chunk) {
          next = format::round_up(end, 8);
          break;
        }
        i = format::round_up(end, 8) - p - 8;
      }
      // check_at may have moved the window; this is free when it did not.
      SIDEWAL_RETURN_IF_ERROR(w.get(p, chunk, &c));
    }
    p = next;
  }
  return Status::Ok();
}

// The scan of the last segment stopped at a bad record at `pos`: try the
// double-write slots, newest first (docs/format.md "Recovery", restore step).
// A slot is used when its page lies at or after the stop point, agrees with
// the bytes already validated before `pos` in that page, and makes the
// record at `pos` valid. Sets *restored and overlays the page on `w`.
Status try_dwb_restore(FileWindow& w, std::vector<dwb::Slot>* slots, uint64_t pos,
                       uint64_t segment_id, uint64_t expected, size_t alignment,
                       SegmentScan* out, bool* restored) {
  *restored = false;
  for (auto it = slots->begin(); it != slots->end(); ++it) {
    const uint64_t target = it->header.target;
    const uint64_t n = it->header.image_bytes;
    if (target + n <= pos) continue;  // the copy ends before the stop point
    if (pos > target) {
      const uint8_t* disk = nullptr;
      SIDEWAL_RETURN_IF_ERROR(w.get(target, pos - target, &disk));
      if (std::memcmp(disk, it->page.data(), pos - target) != 0) continue;
    }
    // The copy's bytes [0, n) replace the page's; past n the disk's bytes
    // stay (records of later flushes, CRC-checked like any other).
    w.add_overlay(target, std::vector<uint8_t>(it->page.begin(), it->page.begin() + n));
    format::RecordCheck r;
    format::RecordHeader h;
    const uint8_t* rec = nullptr;
    std::string why;
    SIDEWAL_RETURN_IF_ERROR(check_record_at(w, pos, segment_id, expected, &r, &h, &rec, &why));
    if (r != format::RecordCheck::kValid) {
      w.remove_overlay(target);
      continue;
    }
    SegmentScan::DwbRestore d;
    d.page = target;
    d.slot = it->index;
    d.seq = it->header.seq;
    d.from = pos;
    const uint8_t* merged = nullptr;
    SIDEWAL_RETURN_IF_ERROR(w.get(target, alignment, &merged));
    d.image.assign(merged, merged + alignment);
    out->dwb_restores.push_back(std::move(d));
    slots->erase(it);
    *restored = true;
    return Status::Ok();
  }
  return Status::Ok();
}

}  // namespace

Status scan_segment(IoBackend* io, const std::string& path, uint64_t first_lsn, size_t alignment,
                    bool direct, bool scan_tail_too,
                    const std::function<void(const RecordView&)>& on_record, SegmentScan* out) {
  out->path = path;
  out->first_lsn = first_lsn;
  out->last_lsn = first_lsn - 1;
  out->batch_lsn = first_lsn - 1;
  OpenOptions o;
  o.writable = false;
  o.direct = direct;
  Result<FileHandle> f = io->open(path, o);
  if (!f.ok()) return f.status();
  FileHandle fh = *f;
  struct Closer {
    IoBackend* io;
    FileHandle f;
    ~Closer() { (void)io->close(f); }
  } closer{io, fh};

  Result<uint64_t> size = io->file_size(fh);
  if (!size.ok()) return size.status();
  out->file_size = *size;
  if (out->file_size < (dwb::kReservedPages + 1) * alignment ||
      out->file_size % alignment != 0) {
    out->preamble_status = Status::Corruption(
        "segment " + path + ": size " + std::to_string(out->file_size) +
        " is not a whole number of " + std::to_string(alignment) + "-byte pages, at least " +
        std::to_string(dwb::kReservedPages + 1) + " (the last " +
        std::to_string(dwb::kReservedPages) + " hold the double-write slots)");
    return Status::Ok();
  }
  FileWindow w(io, fh, path, out->file_size, alignment, kScanWindowBytes);
  w.set_records_end(dwb::records_end(out->file_size, alignment));
  // The last segment's double-write slots, read when first needed.
  std::vector<dwb::Slot> slots;
  bool slots_read = false;
  const uint8_t* pre = nullptr;
  SIDEWAL_RETURN_IF_ERROR(w.get(0, format::kMaxPreambleBytes, &pre));
  out->preamble_status =
      format::decode_preamble(pre, format::kMaxPreambleBytes, path, &out->preamble);
  if (!out->preamble_status.ok() && out->preamble_status.code() == Code::kCorruption &&
      scan_tail_too) {
    // A torn rewrite of page 0 by the first flush into this segment: the
    // slot written when the segment was created holds the preamble.
    SIDEWAL_RETURN_IF_ERROR(
        dwb::read_slots(io, fh, path, out->file_size, alignment, /*segment_id=*/0, &slots));
    slots_read = true;
    for (auto it = slots.begin(); it != slots.end(); ++it) {
      if (it->header.target != 0) continue;
      format::Preamble p;
      if (!format::decode_preamble(it->page.data(), format::kMaxPreambleBytes, path, &p).ok() ||
          p.segment_id != it->header.segment_id) {
        continue;
      }
      w.add_overlay(0, std::vector<uint8_t>(it->page.begin(),
                                            it->page.begin() + it->header.image_bytes));
      out->preamble = p;
      out->preamble_status = Status::Ok();
      SegmentScan::DwbRestore d;
      d.page = 0;
      d.slot = it->index;
      d.seq = it->header.seq;
      d.from = 0;
      const uint8_t* merged = nullptr;
      SIDEWAL_RETURN_IF_ERROR(w.get(0, alignment, &merged));
      d.image.assign(merged, merged + alignment);
      out->dwb_restores.push_back(std::move(d));
      slots.erase(it);
      break;
    }
  }
  if (!out->preamble_status.ok()) return Status::Ok();

  const uint64_t id = out->preamble.segment_id;
  // Records start after the preamble (40 bytes for an encrypted segment).
  uint64_t pos = format::records_offset(out->preamble);
  out->valid_end = out->batch_end = out->stop_offset = pos;
  uint64_t expected = first_lsn;
  uint64_t last_indexed = 0;
  for (;;) {
    format::RecordCheck r;
    format::RecordHeader h;
    const uint8_t* rec = nullptr;
    std::string why;
    SIDEWAL_RETURN_IF_ERROR(check_record_at(w, pos, id, expected, &r, &h, &rec, &why));
    if (r == format::RecordCheck::kEnd) break;
    if (r == format::RecordCheck::kBad && scan_tail_too) {
      if (!slots_read) {
        SIDEWAL_RETURN_IF_ERROR(dwb::read_slots(io, fh, path, out->file_size, alignment, id, &slots));
        slots_read = true;
      }
      bool restored = false;
      SIDEWAL_RETURN_IF_ERROR(
          try_dwb_restore(w, &slots, pos, id, expected, alignment, out, &restored));
      if (restored) continue;
    }
    if (r == format::RecordCheck::kBad) {
      out->stopped_bad = true;
      out->stop_why = why;
      break;
    }
    if (out->index.empty() || pos - last_indexed >= format::kIndexIntervalBytes) {
      out->index.push_back({h.lsn, pos});
      last_indexed = pos;
    }
    if (on_record) on_record(RecordView{h, rec + format::kHeaderBytes, pos});
    for (SegmentScan::DwbRestore& d : out->dwb_restores) {
      if (pos >= d.from && pos < d.page + alignment) ++d.records;
    }
    ++out->records;
    out->last_lsn = h.lsn;
    pos = std::min<uint64_t>(w.records_end(), pos + format::record_bytes(h.payload_len));
    out->valid_end = pos;
    if (h.flags & format::kFlagBatchEnd) {
      out->batch_lsn = h.lsn;
      out->batch_end = pos;
      out->batch_records = out->records;
    }
    ++expected;
  }
  out->stop_offset = pos;
  if (scan_tail_too) SIDEWAL_RETURN_IF_ERROR(scan_tail(w, out));
  return Status::Ok();
}

}  // namespace sidewal::wal
