// Recovery as decision tables (docs/format.md "Recovery decision table"), in
// the manner of TigerBeetle's journal `recovery_cases`: every observable input
// the recovery code branches on is classified into a small enum, each table
// lists cases whose patterns (with "any" wildcards) cover every combination
// of its inputs exactly once, and the code looks up the one matching case and
// performs its action. tests/wal/recovery_cases_test.cc enumerates every
// combination of every table.
//
// Three tables, because recovery decides at three moments:
//   step    - segment_scan.cc, at page 0 and at every record position of a
//             segment: accept, stop, or restore the page from a double-write
//             slot and look again (a restore changes what the scan sees next);
//   segment - recovery.cc scan_dir, once a segment is scanned: the segment is
//             complete, ends the log (cut or kept), is corrupt (where), or
//             recovery fails;
//   repair  - recovery.cc decide/repair_dir: open, refuse, or salvage.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace sidewal::wal::recovery_cases {

// A pattern holds, per input, the set of values it matches: bit v for value v.
using Pattern = uint8_t;
constexpr Pattern kAny = 0xFF;
template <typename E>
constexpr Pattern is(E v) {
  return static_cast<Pattern>(1u << static_cast<unsigned>(v));
}
// Yes/no inputs.
enum class YesNo : uint8_t { kNo, kYes };
constexpr Pattern kNo = is(YesNo::kNo);
constexpr Pattern kYes = is(YesNo::kYes);
constexpr YesNo yes_no(bool b) { return b ? YesNo::kYes : YesNo::kNo; }

template <size_t N>
constexpr bool matches(const std::array<Pattern, N>& pattern, const std::array<uint8_t, N>& in) {
  for (size_t i = 0; i < N; ++i) {
    if ((pattern[i] & (1u << in[i])) == 0) return false;
  }
  return true;
}

// ---- step: what the scanner does with the bytes at a position ------------

// What the bytes at the position are: page 0 holds the preamble (valid,
// damaged - Corruption from the size check or decode_preamble - or
// unsupported - an unknown version or cipher), a
// record position holds a valid record, the end (zero header, or fewer than
// 24 bytes before records_end) or a damaged record (format::RecordCheck).
enum class Found : uint8_t { kValid, kEnd, kDamaged, kUnsupported };
constexpr size_t kFoundValues = 4;
// Whether a valid double-write slot makes these bytes valid: for page 0 a
// slot targeting page 0 whose image holds a preamble with the slot's segment
// id; for a record, a slot whose copy reaches past the position, agrees with
// the bytes validated before it in that page, and makes the record valid.
// Consulted only when the table's answer depends on it (slots are read only
// then); kNone when the file is too small to have slots.
enum class Slot : uint8_t { kNone, kRepairs };
constexpr size_t kSlotValues = 2;

struct StepInputs {
  Found found = Found::kValid;
  YesNo last = YesNo::kNo;  // the last segment of the directory
  Slot slot = Slot::kNone;
  std::array<uint8_t, 3> values() const {
    return {static_cast<uint8_t>(found), static_cast<uint8_t>(last), static_cast<uint8_t>(slot)};
  }
};
constexpr std::array<size_t, 3> kStepInputValues = {kFoundValues, 2, kSlotValues};

enum class StepAction : uint8_t {
  kAccept,           // preamble: scan the records; record: take it, go to the next
  kStopAtEnd,        // the records end here
  kStopUnsupported,  // the segment is not ours to read (the segment table fails it)
  kRestorePage,      // overlay the page with the slot's image, count it, look again
  kStopDamaged,      // the scan stops at damaged bytes (the segment table judges them)
};

struct StepCase {
  const char* label;
  std::array<Pattern, 3> pattern;  // found, last, slot
  StepAction action;
  const char* what;
};

// clang-format off
inline constexpr std::array<StepCase, 6> kStepCases = {{
  //  label  found                    last  slot                    action
  {"@A", {is(Found::kValid),       kAny, kAny},                StepAction::kAccept,
   "valid: accept"},
  {"@B", {is(Found::kEnd),         kAny, kAny},                StepAction::kStopAtEnd,
   "zero header: the records end here"},
  {"@C", {is(Found::kUnsupported), kAny, kAny},                StepAction::kStopUnsupported,
   "unknown version or cipher: stop (never restored, never skipped)"},
  {"@D", {is(Found::kDamaged),     kYes, is(Slot::kRepairs)},  StepAction::kRestorePage,
   "damaged in the last segment, a slot repairs it: restore the page, look again"},
  {"@E", {is(Found::kDamaged),     kYes, is(Slot::kNone)},     StepAction::kStopDamaged,
   "damaged in the last segment, no slot repairs it: stop here"},
  {"@F", {is(Found::kDamaged),     kNo,  kAny},                StepAction::kStopDamaged,
   "damaged in an earlier segment (its pages are never rewritten): stop here"},
}};
// clang-format on

// The one case matching `in` (asserts there is exactly one).
const StepCase& step_case(const StepInputs& in);
// True when the case for `in` changes with the slot input, i.e. the slots
// must be consulted before deciding.
bool step_depends_on_slot(StepInputs in);

// ---- segment: what a scanned segment means --------------------------------

enum class Preamble : uint8_t { kValid, kDamaged, kUnsupported };  // after any restore
constexpr size_t kPreambleValues = 3;
// Where the records stopped: at the end (zero header) or at damaged bytes.
enum class Stop : uint8_t { kEnd, kDamaged };
constexpr size_t kStopValues = 2;

struct SegmentInputs {
  Preamble preamble = Preamble::kValid;
  YesNo id_increases = YesNo::kYes;  // segment id above the previous segment's (yes for the first)
  YesNo last = YesNo::kNo;           // the last segment of the directory
  Stop stop = Stop::kEnd;
  YesNo meets_next = YesNo::kNo;    // not last: the next segment's name is last valid lsn + 1
  YesNo ends_batch = YesNo::kYes;   // the last valid record carries BATCH_END (yes when none)
  YesNo later_flush = YesNo::kNo;   // last: a valid FLUSH_START with a higher lsn after the stop
  YesNo nonzero_tail = YesNo::kNo;  // last: a non-zero byte after the last valid record
  std::array<uint8_t, 8> values() const {
    return {static_cast<uint8_t>(preamble),    static_cast<uint8_t>(id_increases),
            static_cast<uint8_t>(last),        static_cast<uint8_t>(stop),
            static_cast<uint8_t>(meets_next),  static_cast<uint8_t>(ends_batch),
            static_cast<uint8_t>(later_flush), static_cast<uint8_t>(nonzero_tail)};
  }
};
constexpr std::array<size_t, 8> kSegmentInputValues = {
    kPreambleValues, 2, 2, kStopValues, 2, 2, 2, 2};

enum class SegmentAction : uint8_t {
  kFailUnsupported,  // recovery returns the Unsupported error; nothing is written
  kCorruptAtStart,   // corruption at offset 0: salvage drops the whole segment
  kCorruptAtStop,    // corruption at the stop point: salvage cuts the segment there
  kNextSegment,      // complete: go on with the next segment
  kEndCut,           // the log ends in this segment: keep through the last BATCH_END, zero the rest
  kEndKeep,          // the log ends in this segment exactly where its records end
};

// Case ids, in table order: the code names its messages by them.
enum class SegmentCaseId : uint8_t {
  kUnsupported,
  kPreambleDamaged,
  kIdOrder,
  kDamagedBeforeNext,
  kLsnGap,
  kOpenBatchBeforeNext,
  kComplete,
  kDurableRecordsMissing,
  kTornTail,
  kIncompleteBatch,
  kNonZeroTail,
  kCleanEnd,
};

struct SegmentCase {
  SegmentCaseId id;
  const char* label;
  std::array<Pattern, 8> pattern;
  SegmentAction action;
  const char* what;
};

constexpr Pattern kPreambleOk = is(Preamble::kValid);
constexpr Pattern kStopEnd = is(Stop::kEnd);
constexpr Pattern kStopDamaged = is(Stop::kDamaged);

// clang-format off
inline constexpr std::array<SegmentCase, 12> kSegmentCases = {{
  //                                      preamble                 id    last  stop          next  batch later nonzero
  {SegmentCaseId::kUnsupported,          "@S1",  {is(Preamble::kUnsupported), kAny, kAny, kAny, kAny, kAny, kAny, kAny},
   SegmentAction::kFailUnsupported, "unknown version or cipher: fail with Unsupported naming the file"},
  {SegmentCaseId::kPreambleDamaged,      "@S2",  {is(Preamble::kDamaged), kAny, kAny, kAny, kAny, kAny, kAny, kAny},
   SegmentAction::kCorruptAtStart, "damaged preamble (not restored): corruption at offset 0"},
  {SegmentCaseId::kIdOrder,              "@S3",  {kPreambleOk, kNo,  kAny, kAny,         kAny, kAny, kAny, kAny},
   SegmentAction::kCorruptAtStart, "segment id does not increase: corruption at offset 0"},
  {SegmentCaseId::kDamagedBeforeNext,    "@S4",  {kPreambleOk, kYes, kNo,  kStopDamaged, kAny, kAny, kAny, kAny},
   SegmentAction::kCorruptAtStop, "earlier segment stops at a damaged record: corruption there"},
  {SegmentCaseId::kLsnGap,               "@S5",  {kPreambleOk, kYes, kNo,  kStopEnd,     kNo,  kAny, kAny, kAny},
   SegmentAction::kCorruptAtStop, "earlier segment ends before the next one's first lsn: corruption at its end"},
  {SegmentCaseId::kOpenBatchBeforeNext,  "@S6",  {kPreambleOk, kYes, kNo,  kStopEnd,     kYes, kNo,  kAny, kAny},
   SegmentAction::kCorruptAtStop, "earlier segment's last record does not end a batch: corruption at its end"},
  {SegmentCaseId::kComplete,             "@S7",  {kPreambleOk, kYes, kNo,  kStopEnd,     kYes, kYes, kAny, kAny},
   SegmentAction::kNextSegment, "earlier segment complete: next segment"},
  {SegmentCaseId::kDurableRecordsMissing, "@S8", {kPreambleOk, kYes, kYes, kAny,         kAny, kAny, kYes, kAny},
   SegmentAction::kCorruptAtStop, "a later flush follows the stop: durable records are missing, corruption at the stop"},
  {SegmentCaseId::kTornTail,             "@S9",  {kPreambleOk, kYes, kYes, kStopDamaged, kAny, kAny, kNo,  kAny},
   SegmentAction::kEndCut, "torn tail of the last flush: cut after the last BATCH_END"},
  {SegmentCaseId::kIncompleteBatch,      "@S10", {kPreambleOk, kYes, kYes, kStopEnd,     kAny, kNo,  kNo,  kAny},
   SegmentAction::kEndCut, "incomplete trailing batch: cut after the last BATCH_END"},
  {SegmentCaseId::kNonZeroTail,          "@S11", {kPreambleOk, kYes, kYes, kStopEnd,     kAny, kYes, kNo,  kYes},
   SegmentAction::kEndCut, "non-zero bytes after the last record (torn leftovers): zero them"},
  {SegmentCaseId::kCleanEnd,             "@S12", {kPreambleOk, kYes, kYes, kStopEnd,     kAny, kYes, kNo,  kNo},
   SegmentAction::kEndKeep, "zeros after the last record: the log ends here, nothing to cut"},
}};
// clang-format on

const SegmentCase& segment_case(const SegmentInputs& in);

// ---- repair: what opening does with the verdict ---------------------------

// Where the scan found corruption, by the segment action that marked it.
enum class Corruption : uint8_t { kNone, kAtSegmentStart, kInsideSegment };
constexpr size_t kCorruptionValues = 3;

struct RepairInputs {
  Corruption corruption = Corruption::kNone;
  YesNo salvage = YesNo::kNo;  // WalOptions::salvage (the scan alone plans as if on)
  std::array<uint8_t, 2> values() const {
    return {static_cast<uint8_t>(corruption), static_cast<uint8_t>(salvage)};
  }
};
constexpr std::array<size_t, 2> kRepairInputValues = {kCorruptionValues, 2};

enum class RepairAction : uint8_t {
  kOpen,         // apply the last segment's end (cut or keep) and open
  kRefuse,       // fail with Corruption naming the file and offset; nothing written
  kDropSegment,  // salvage: delete the corrupt segment and later ones; the log
                 // ends at the end of the previous segment (empty log at its name)
  kCutSegment,   // salvage: cut the corrupt segment after its last BATCH_END before
                 // the corruption, zero the rest of the file, delete later segments
};

struct RepairCase {
  const char* label;
  std::array<Pattern, 2> pattern;
  RepairAction action;
  const char* what;
};

// clang-format off
inline constexpr std::array<RepairCase, 4> kRepairCases = {{
  {"@R1", {is(Corruption::kNone), kAny},                                          RepairAction::kOpen,
   "no corruption: open"},
  {"@R2", {static_cast<Pattern>(is(Corruption::kAtSegmentStart) | is(Corruption::kInsideSegment)), kNo},
   RepairAction::kRefuse, "corruption without salvage: refuse"},
  {"@R3", {is(Corruption::kAtSegmentStart), kYes},                                RepairAction::kDropSegment,
   "corruption at a segment's start, salvage: drop it and later segments"},
  {"@R4", {is(Corruption::kInsideSegment), kYes},                                 RepairAction::kCutSegment,
   "corruption inside a segment, salvage: cut it at its last batch, drop later segments"},
}};
// clang-format on

const RepairCase& repair_case(const RepairInputs& in);

// How many cases of `table` match `values` (the tests; the lookups assert 1).
template <typename Table, size_t N>
size_t count_matches(const Table& table, const std::array<uint8_t, N>& values) {
  size_t n = 0;
  for (const auto& c : table) n += matches(c.pattern, values) ? 1 : 0;
  return n;
}

}  // namespace sidewal::wal::recovery_cases
