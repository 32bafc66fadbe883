#include "wal/recovery/segment_scan.h"

#include <algorithm>
#include <cstring>

#include "common/endian.h"
#include "wal/dwb.h"
#include "wal/io/file_window.h"
#include "wal/recovery/recovery_cases.h"
#include "wal/wal.h"

namespace sidewal::wal {
namespace {

namespace rc = recovery_cases;

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
    uint64_t len = format::decode_header(p).payload_len;
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

// The records of the last segment hold damaged bytes at `pos`: which
// double-write slot, newest first, repairs them (docs/format.md "Recovery",
// restore step)? A slot qualifies when its page lies at or after `pos`,
// agrees with the bytes already validated before `pos` in that page, and
// makes the record at `pos` valid. On success *which is its index in
// `slots` and its image stays overlaid on `w`; otherwise *which is npos.
Status find_record_repair(FileWindow& w, const std::vector<dwb::Slot>& slots, uint64_t pos,
                          uint64_t segment_id, uint64_t expected, size_t* which) {
  *which = std::string::npos;
  for (size_t i = 0; i < slots.size(); ++i) {
    const dwb::Slot& s = slots[i];
    const uint64_t target = s.header.target;
    const uint64_t n = s.header.image_bytes;
    if (target + n <= pos) continue;  // the copy ends before the stop point
    if (pos > target) {
      const uint8_t* disk = nullptr;
      SIDEWAL_RETURN_IF_ERROR(w.get(target, pos - target, &disk));
      if (std::memcmp(disk, s.page.data(), pos - target) != 0) continue;
    }
    // The copy's bytes [0, n) replace the page's; past n the disk's bytes
    // stay (records of later flushes, CRC-checked like any other).
    w.add_overlay(target, std::vector<uint8_t>(s.page.begin(), s.page.begin() + n));
    format::RecordCheck r;
    format::RecordHeader h;
    const uint8_t* rec = nullptr;
    std::string why;
    SIDEWAL_RETURN_IF_ERROR(check_record_at(w, pos, segment_id, expected, &r, &h, &rec, &why));
    if (r == format::RecordCheck::kValid) {
      *which = i;
      return Status::Ok();
    }
    w.remove_overlay(target);
  }
  return Status::Ok();
}

// A torn rewrite of page 0 by the first flush into the last segment: the
// slot written when the segment was created holds the preamble. *which is
// the first slot (newest first) targeting page 0 whose image decodes to a
// preamble with the slot's segment id, npos when none.
void find_preamble_repair(const std::vector<dwb::Slot>& slots, const std::string& path,
                          size_t* which, format::Preamble* preamble) {
  *which = std::string::npos;
  for (size_t i = 0; i < slots.size(); ++i) {
    const dwb::Slot& s = slots[i];
    if (s.header.target != 0) continue;
    format::Preamble p;
    if (!format::decode_preamble(s.page.data(), format::kMaxPreambleBytes, path, &p).ok() ||
        p.segment_id != s.header.segment_id) {
      continue;
    }
    *which = i;
    *preamble = p;
    return;
  }
}

// Records the restore of the page slot `slots[which]` targets (already
// overlaid on `w`), repairing the stop point `from`, and retires the slot.
Status commit_restore(FileWindow& w, std::vector<dwb::Slot>* slots, size_t which, uint64_t from,
                      size_t alignment, SegmentScan* out) {
  const dwb::Slot& s = (*slots)[which];
  SegmentScan::DwbRestore d;
  d.page = s.header.target;
  d.slot = s.index;
  d.seq = s.header.seq;
  d.from = from;
  const uint8_t* merged = nullptr;
  SIDEWAL_RETURN_IF_ERROR(w.get(d.page, alignment, &merged));
  d.image.assign(merged, merged + alignment);
  out->dwb_restores.push_back(std::move(d));
  slots->erase(slots->begin() + static_cast<std::ptrdiff_t>(which));
  return Status::Ok();
}

rc::Found preamble_found(const Status& st) {
  if (st.ok()) return rc::Found::kValid;
  return st.code() == Code::kCorruption ? rc::Found::kDamaged : rc::Found::kUnsupported;
}

rc::Found record_found(format::RecordCheck r) {
  switch (r) {
    case format::RecordCheck::kValid: return rc::Found::kValid;
    case format::RecordCheck::kEnd: return rc::Found::kEnd;
    case format::RecordCheck::kBad: break;
  }
  return rc::Found::kDamaged;
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
  const rc::YesNo last = rc::yes_no(scan_tail_too);
  if (out->file_size < (dwb::kReservedPages + 1) * alignment || out->file_size % alignment != 0) {
    out->preamble_status = Status::Corruption(
        "segment " + path + ": size " + std::to_string(out->file_size) +
        " is not a whole number of " + std::to_string(alignment) + "-byte pages, at least " +
        std::to_string(dwb::kReservedPages + 1) + " (the last " +
        std::to_string(dwb::kReservedPages) + " hold the double-write slots)");
    // Damaged page 0 and no slots (a file this small has none): stop.
    SW_ASSERT(rc::step_case({rc::Found::kDamaged, last, rc::Slot::kNone}).action ==
              rc::StepAction::kStopDamaged);
    return Status::Ok();
  }
  FileWindow w(io, fh, path, out->file_size, alignment, kScanWindowBytes);
  w.set_records_end(dwb::records_end(out->file_size, alignment));
  // The last segment's double-write slots, read when the step table first
  // asks for them.
  std::vector<dwb::Slot> slots;
  bool slots_read = false;

  // Page 0: the step table decides (recovery_cases.h).
  const uint8_t* pre = nullptr;
  SIDEWAL_RETURN_IF_ERROR(w.get(0, format::kMaxPreambleBytes, &pre));
  out->preamble_status =
      format::decode_preamble(pre, format::kMaxPreambleBytes, path, &out->preamble);
  {
    rc::StepInputs in{preamble_found(out->preamble_status), last, rc::Slot::kNone};
    size_t which = std::string::npos;
    format::Preamble restored;
    if (rc::step_depends_on_slot(in)) {
      SIDEWAL_RETURN_IF_ERROR(
          dwb::read_slots(io, fh, path, out->file_size, alignment, /*segment_id=*/0, &slots));
      slots_read = true;
      find_preamble_repair(slots, path, &which, &restored);
      if (which != std::string::npos) in.slot = rc::Slot::kRepairs;
    }
    switch (rc::step_case(in).action) {
      case rc::StepAction::kAccept: break;
      case rc::StepAction::kRestorePage: {
        const dwb::Slot& s = slots[which];
        w.add_overlay(0,
                      std::vector<uint8_t>(s.page.begin(), s.page.begin() + s.header.image_bytes));
        out->preamble = restored;
        out->preamble_status = Status::Ok();  // looked at again: the slot's preamble is valid
        SIDEWAL_RETURN_IF_ERROR(commit_restore(w, &slots, which, 0, alignment, out));
        break;
      }
      case rc::StepAction::kStopUnsupported:
      case rc::StepAction::kStopDamaged:
        return Status::Ok();  // preamble_status says why; the segment table judges it
      case rc::StepAction::kStopAtEnd:
        SW_ASSERT_MSG(false, "page 0 is never classified as the end of the records");
    }
  }

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
    // Each record position: the step table decides (recovery_cases.h).
    rc::StepInputs in{record_found(r), last, rc::Slot::kNone};
    size_t which = std::string::npos;
    if (rc::step_depends_on_slot(in)) {
      if (!slots_read) {
        SIDEWAL_RETURN_IF_ERROR(
            dwb::read_slots(io, fh, path, out->file_size, alignment, id, &slots));
        slots_read = true;
      }
      SIDEWAL_RETURN_IF_ERROR(find_record_repair(w, slots, pos, id, expected, &which));
      if (which != std::string::npos) in.slot = rc::Slot::kRepairs;
    }
    const rc::StepAction action = rc::step_case(in).action;
    if (which != std::string::npos && action != rc::StepAction::kRestorePage) {
      w.remove_overlay(slots[which].header.target);
    }
    if (action == rc::StepAction::kStopAtEnd) break;
    if (action == rc::StepAction::kRestorePage) {
      SIDEWAL_RETURN_IF_ERROR(commit_restore(w, &slots, which, pos, alignment, out));
      continue;  // look at the same position again, through the restored page
    }
    if (action == rc::StepAction::kStopDamaged) {
      out->stopped_bad = true;
      out->stop_why = why;
      break;
    }
    SW_ASSERT(action == rc::StepAction::kAccept);
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
