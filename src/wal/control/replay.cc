#include "wal/control/replay.h"

#include "wal/control/control_records.h"
#include "wal/io/io_posix.h"

namespace sidewal::wal {

Result<std::unique_ptr<SequentialReader>> open_dir_reader(IoBackend* io, const std::string& dir,
                                                          bool headers_only, uint64_t* first_lsn,
                                                          std::shared_ptr<SegmentKeys> keys) {
  SequentialReaderOptions o;
  o.headers_only = headers_only;
  o.keys = std::move(keys);
  size_t align = posix::kMinDirectAlignment;
  Result<size_t> a = io->direct_alignment(dir);
  if (a.ok()) {
    align = *a;
  } else if (a.status().code() == Code::kUnsupported) {
    o.direct = false;  // read-only: buffered reads are allowed where O_DIRECT is not
  } else {
    return a.status();
  }
  Result<std::shared_ptr<DirSegments>> segs = DirSegments::open(io, dir);
  if (!segs.ok()) return segs.status();
  *first_lsn = (*segs)->first_lsn();
  return std::make_unique<SequentialReader>(io, align, (*segs)->locator(), o);
}

Result<ReplayState> extract_tombstones(IoBackend* io, const std::string& dir,
                                       const ReplayRange& range, ReaderStats* stats,
                                       std::shared_ptr<SegmentKeys> keys) {
  uint64_t first = 0;
  Result<std::unique_ptr<SequentialReader>> reader =
      open_dir_reader(io, dir, /*headers_only=*/true, &first, std::move(keys));
  if (!reader.ok()) return reader.status();
  ReplayState state;
  if (first == 0) return state;  // no segment: nothing to replay
  SequentialReader& r = **reader;
  SIDEWAL_RETURN_IF_ERROR(r.seek(range.from_lsn == 0 ? first : range.from_lsn, range.to_lsn));
  for (;;) {
    RecordRef rec;
    bool got = false;
    SIDEWAL_RETURN_IF_ERROR(r.next(&rec, &got));
    if (!got) break;
    std::span<const uint8_t> payload;
    if (is_control_type(rec.header.type)) {
      // Only control payloads are needed; their CRC is checked on load.
      SIDEWAL_RETURN_IF_ERROR(r.load_payload(&rec));
      payload = {rec.payload, rec.header.payload_len};
    }
    SIDEWAL_RETURN_IF_ERROR(state.add(rec.header.lsn, rec.header.type, rec.header.tenant, payload));
  }
  if (stats != nullptr) *stats = r.stats();
  return state;
}

}  // namespace sidewal::wal
