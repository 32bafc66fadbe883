#include "wal/recovery/recovery.h"

#include <algorithm>
#include <cstring>

#include "wal/io/aligned_buffer.h"

#include "wal/codecs/format.h"
#include "wal/recovery/recovery_cases.h"
#include "wal/segment_file.h"

namespace sidewal::wal {
namespace {

namespace rc = recovery_cases;

std::string base_name(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

void mark_corrupt(DirScan* scan, size_t seg, uint64_t offset, std::string what) {
  scan->corrupt = true;
  scan->corrupt_segment = seg;
  scan->corrupt_offset = offset;
  scan->corrupt_what = "segment " + scan->segments[seg].path + " offset " + std::to_string(offset) +
                       ": " + std::move(what);
}

rc::Corruption corruption_of(const DirScan& scan) {
  if (!scan.corrupt) return rc::Corruption::kNone;
  return scan.corrupt_offset == 0 ? rc::Corruption::kAtSegmentStart
                                  : rc::Corruption::kInsideSegment;
}

// Fills keep/cut/next: what the log holds after repair, with salvage applied
// when the scan found corruption (the repair table with salvage on; repair_dir
// looks the case up again with the real setting and may refuse instead).
void decide(DirScan* scan, RecoveryReport* report) {
  auto& segs = scan->segments;
  if (segs.empty()) {
    scan->keep_segments = 0;
    scan->next_lsn = 1;
    return;
  }
  size_t last = 0;
  const rc::RepairCase& c = rc::repair_case({corruption_of(*scan), rc::YesNo::kYes});
  switch (c.action) {
    case rc::RepairAction::kOpen: last = segs.size() - 1; break;
    case rc::RepairAction::kDropSegment:
      // The corrupt segment itself goes; the one before it (complete) ends the log.
      last = scan->corrupt_segment;
      if (last == 0) {
        scan->keep_segments = 0;
        scan->next_lsn = segs[0].first_lsn;
        report->discarded_why = "salvage: every segment from " + segs[0].path + " dropped";
        return;
      }
      --last;
      break;
    case rc::RepairAction::kCutSegment: last = scan->corrupt_segment; break;
    case rc::RepairAction::kRefuse: SW_ASSERT_MSG(false, "the plan is made with salvage on");
  }
  const SegmentScan& s = segs[last];
  scan->keep_segments = last + 1;
  scan->cut_offset = s.batch_end;
  scan->next_lsn = s.batch_lsn + 1;
  // Everything non-zero after the cut goes: records of an incomplete batch, the
  // torn write, and on salvage everything after the corruption.
  uint64_t end = std::max(s.valid_end, s.nonzero_end);
  if (scan->corrupt) end = s.file_size;
  scan->zero_end = std::max(end, s.batch_end);
  if (!scan->corrupt) {
    // The last segment's case said whether there is anything to cut.
    SW_ASSERT(scan->end_case != nullptr);
    SW_ASSERT((scan->end_case->action == rc::SegmentAction::kEndKeep) ==
              (scan->zero_end == scan->cut_offset));
  }
}

// What the segment table needs to know about segment `i` once it is scanned.
rc::SegmentInputs classify(const DirScan& scan, size_t i, const std::vector<uint64_t>& first_lsns) {
  const SegmentScan& s = scan.segments[i];
  const bool last = i + 1 == first_lsns.size();
  rc::SegmentInputs in;
  if (s.preamble_status.ok()) {
    in.preamble = rc::Preamble::kValid;
  } else {
    in.preamble = s.preamble_status.code() == Code::kCorruption ? rc::Preamble::kDamaged
                                                                : rc::Preamble::kUnsupported;
  }
  in.id_increases =
      rc::yes_no(i == 0 || s.preamble.segment_id > scan.segments[i - 1].preamble.segment_id);
  in.last = rc::yes_no(last);
  in.stop = s.stopped_bad ? rc::Stop::kDamaged : rc::Stop::kEnd;
  in.meets_next = rc::yes_no(!last && s.last_lsn + 1 == first_lsns[i + 1]);
  in.ends_batch = rc::yes_no(s.batch_lsn == s.last_lsn);
  in.later_flush = rc::yes_no(s.later_flush_start);
  in.nonzero_tail = rc::yes_no(s.nonzero_end > s.valid_end);
  return in;
}

// The corruption message of a segment case that marks corruption.
std::string corrupt_why(rc::SegmentCaseId id, const DirScan& scan, size_t i,
                        const std::string& next_name, uint64_t next_first) {
  const SegmentScan& s = scan.segments[i];
  switch (id) {
    case rc::SegmentCaseId::kPreambleDamaged: return s.preamble_status.message();
    case rc::SegmentCaseId::kIdOrder:
      return "segment id " + std::to_string(s.preamble.segment_id) +
             " does not increase over the previous segment's " +
             std::to_string(scan.segments[i - 1].preamble.segment_id);
    case rc::SegmentCaseId::kDamagedBeforeNext:
      return s.stop_why + " (not the last segment: " + next_name + " follows)";
    case rc::SegmentCaseId::kLsnGap:
      return "records end at lsn " + std::to_string(s.last_lsn) + " but the next segment " +
             next_name + " starts at lsn " + std::to_string(next_first);
    case rc::SegmentCaseId::kOpenBatchBeforeNext:
      return "last record lsn " + std::to_string(s.last_lsn) + " does not end a batch, yet " +
             next_name + " follows";
    case rc::SegmentCaseId::kDurableRecordsMissing:
      return (s.stopped_bad ? s.stop_why : std::string("records end (zero header)")) +
             ", yet a valid record lsn " + std::to_string(s.later_lsn) + " at offset " +
             std::to_string(s.later_offset) + " starts a later flush: durable records are missing";
    default: break;
  }
  SW_ASSERT_MSG(false, "not a corruption case");
  return {};
}

}  // namespace

Status scan_dir(IoBackend* io, const std::string& dir, size_t alignment, bool direct,
                const std::function<void(const SegmentScan&)>& on_segment,
                const std::function<void(const SegmentScan&, const RecordView&)>& on_record,
                DirScan* scan, RecoveryReport* report) {
  Result<std::vector<std::string>> names = io->list_dir(dir);
  if (!names.ok()) return names.status();
  std::vector<std::pair<uint64_t, std::string>> wal_files;
  for (const std::string& n : *names) {
    uint64_t v = 0;
    if (format::parse_segment_file_name(n, &v)) {
      wal_files.emplace_back(v, n);
    } else if (format::parse_spare_file_name(n, &v)) {
      scan->spares.push_back(join_path(dir, n));
      scan->max_segment_id = std::max(scan->max_segment_id, v);
    }
  }
  std::sort(wal_files.begin(), wal_files.end());

  scan->segments.resize(wal_files.size());
  // Segments after a corruption are not scanned, but salvage must know them.
  for (size_t i = 0; i < wal_files.size(); ++i) {
    scan->segments[i].path = join_path(dir, wal_files[i].second);
    scan->segments[i].first_lsn = wal_files[i].first;
  }
  std::vector<uint64_t> first_lsns;
  for (const auto& f : wal_files) first_lsns.push_back(f.first);
  for (size_t i = 0; i < wal_files.size(); ++i) {
    SegmentScan& s = scan->segments[i];
    const bool is_last = i + 1 == wal_files.size();
    std::function<void(const RecordView&)> rec_cb;
    if (on_record) rec_cb = [&](const RecordView& v) { on_record(s, v); };
    SIDEWAL_RETURN_IF_ERROR(scan_segment(io, join_path(dir, wal_files[i].second),
                                         wal_files[i].first, alignment, direct, is_last, rec_cb,
                                         &s));
    report->bytes_on_disk += s.file_size;
    if (on_segment) on_segment(s);
    // The segment table decides (recovery_cases.h).
    const rc::SegmentInputs in = classify(*scan, i, first_lsns);
    const rc::SegmentCase& c = rc::segment_case(in);
    const std::string next_name = is_last ? std::string() : wal_files[i + 1].second;
    const uint64_t next_first = is_last ? 0 : wal_files[i + 1].first;
    bool stop = true;
    switch (c.action) {
      case rc::SegmentAction::kFailUnsupported: return s.preamble_status;
      case rc::SegmentAction::kCorruptAtStart:
        mark_corrupt(scan, i, 0, corrupt_why(c.id, *scan, i, next_name, next_first));
        break;
      case rc::SegmentAction::kCorruptAtStop:
        mark_corrupt(scan, i, s.stop_offset, corrupt_why(c.id, *scan, i, next_name, next_first));
        break;
      case rc::SegmentAction::kNextSegment: stop = false; break;
      case rc::SegmentAction::kEndCut:
      case rc::SegmentAction::kEndKeep: scan->end_case = &c; break;
    }
    if (in.preamble == rc::Preamble::kValid && in.id_increases == rc::YesNo::kYes) {
      scan->max_segment_id = std::max(scan->max_segment_id, s.preamble.segment_id);
    }
    if (stop) break;
  }

  report->segments = scan->segments.size();
  report->first_lsn = scan->segments.empty() ? 1 : scan->segments[0].first_lsn;
  report->corruption = scan->corrupt;
  if (scan->corrupt) report->corruption_at = scan->corrupt_what;
  decide(scan, report);

  // What the log keeps, and what the cut throws away.
  uint64_t kept = 0;
  for (size_t i = 0; i < scan->keep_segments; ++i) {
    const SegmentScan& s = scan->segments[i];
    kept += (i + 1 == scan->keep_segments) ? s.batch_records : s.records;
  }
  report->records = kept;
  report->durable_lsn = scan->next_lsn - 1;
  if (scan->keep_segments > 0) {
    const SegmentScan& s = scan->segments[scan->keep_segments - 1];
    report->discarded_records += s.records - s.batch_records;
    report->discarded_bytes += scan->zero_end - scan->cut_offset;
    if (scan->zero_end > scan->cut_offset && report->discarded_why.empty()) {
      std::string why = "cut " + base_name(s.path) + " at offset " +
                        std::to_string(scan->cut_offset) + " after lsn " +
                        std::to_string(s.batch_lsn) + ": ";
      if (scan->corrupt) {
        why += "salvage after corruption";
      } else if (scan->end_case->id == rc::SegmentCaseId::kTornTail) {
        why += "torn tail (" + s.stop_why + ")";
      } else if (scan->end_case->id == rc::SegmentCaseId::kIncompleteBatch) {
        why += "incomplete trailing batch";
      } else {
        SW_ASSERT(scan->end_case->id == rc::SegmentCaseId::kNonZeroTail);
        why += "torn tail (non-zero bytes after the last record)";
      }
      report->discarded_why = why;
    }
  }
  for (size_t i = scan->keep_segments; i < scan->segments.size(); ++i) {
    report->discarded_records += scan->segments[i].records;
  }
  if (scan->keep_segments > 0) {
    const SegmentScan& s = scan->segments[scan->keep_segments - 1];
    for (const SegmentScan::DwbRestore& d : s.dwb_restores) {
      ++report->dwb_restores;
      report->dwb_restored_records += d.records;
      if (!report->dwb_why.empty()) report->dwb_why += "; ";
      report->dwb_why += "restored the page at offset " + std::to_string(d.page) + " of " +
                         base_name(s.path) + " from double-write slot " + std::to_string(d.slot) +
                         " (sequence " + std::to_string(d.seq) + "): " + std::to_string(d.records) +
                         " records at or after offset " + std::to_string(d.from);
    }
  }
  return Status::Ok();
}

Status repair_dir(IoBackend* io, const std::string& dir, size_t alignment, bool salvage,
                  DirScan* scan) {
  if (rc::repair_case({corruption_of(*scan), rc::yes_no(salvage)}).action ==
      rc::RepairAction::kRefuse) {
    return Status::Corruption(scan->corrupt_what +
                              "; refusing to open (set salvage to cut the log there)");
  }
  bool dir_changed = false;
  for (const std::string& p : scan->spares) {
    SIDEWAL_RETURN_IF_ERROR(io->remove(p));
    dir_changed = true;
  }
  // Salvage: drop segments after the last kept one, newest first, so a crash
  // in the middle leaves a contiguous log.
  for (size_t i = scan->segments.size(); i > scan->keep_segments; --i) {
    SIDEWAL_RETURN_IF_ERROR(io->remove(scan->segments[i - 1].path));
    dir_changed = true;
  }
  const bool restored =
      scan->keep_segments > 0 && !scan->segments[scan->keep_segments - 1].dwb_restores.empty();
  if (scan->keep_segments > 0 && (scan->zero_end > scan->cut_offset || restored)) {
    const SegmentScan& s = scan->segments[scan->keep_segments - 1];
    OpenOptions o;
    o.direct = true;
    Result<FileHandle> f = io->open(s.path, o);
    if (!f.ok()) return f.status();
    // Pages restored from the double-write slots go back first; the cut
    // below then reads the restored bytes of its page, and one sync covers both.
    Status st;
    if (restored) {
      AlignedBuffer page(alignment, alignment);
      for (const SegmentScan::DwbRestore& d : s.dwb_restores) {
        std::memcpy(page.data(), d.image.data(), alignment);
        st = io->write(*f, d.page, page.data(), alignment);
        if (!st.ok()) break;
      }
    }
    if (st.ok() && scan->zero_end > scan->cut_offset) {
      st = zero_segment_range(io, *f, s.path, scan->cut_offset, scan->zero_end, alignment);
    } else if (st.ok()) {
      st = io->sync(*f);
    }
    Status cst = io->close(*f);
    SIDEWAL_RETURN_IF_ERROR(st);
    SIDEWAL_RETURN_IF_ERROR(cst);
  }
  scan->segments.resize(scan->keep_segments);
  if (dir_changed) SIDEWAL_RETURN_IF_ERROR(io->sync_dir(dir));
  return Status::Ok();
}

}  // namespace sidewal::wal
