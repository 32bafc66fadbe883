#include "wal/recovery/recovery_cases.h"

#include "common/status.h"

namespace sidewal::wal::recovery_cases {
namespace {

// The one case of `table` matching `values`: a gap or an overlap in a table
// is a bug in recovery itself, so it stops the process (the exhaustive test
// proves neither exists).
template <typename Table, size_t N>
const auto& lookup(const Table& table, const std::array<uint8_t, N>& values) {
  const typename Table::value_type* found = nullptr;
  for (const auto& c : table) {
    if (!matches(c.pattern, values)) continue;
    SW_ASSERT_MSG(found == nullptr, "recovery decision table: two cases match");
    found = &c;
  }
  SW_ASSERT_MSG(found != nullptr, "recovery decision table: no case matches");
  return *found;
}

}  // namespace

const StepCase& step_case(const StepInputs& in) { return lookup(kStepCases, in.values()); }

bool step_depends_on_slot(StepInputs in) {
  in.slot = Slot::kNone;
  const StepCase* none = &step_case(in);
  in.slot = Slot::kRepairs;
  return none != &step_case(in);
}

const SegmentCase& segment_case(const SegmentInputs& in) {
  return lookup(kSegmentCases, in.values());
}

const RepairCase& repair_case(const RepairInputs& in) { return lookup(kRepairCases, in.values()); }

}  // namespace sidewal::wal::recovery_cases
