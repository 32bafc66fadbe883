// Recovery scanner: random segment bytes in a data directory (on SimDisk).
// The input is split into one to three segment files; the first gets a
// valid preamble half of the time so the scan gets past it. inspect_dir and
// Wal::open must answer (a report or a clear error) without crashing, and
// when the log opens, it must read back exactly durable_lsn - first_lsn + 1
// records with contiguous LSNs, agreeing with what inspect_dir predicted.
#include <algorithm>
#include <vector>

#include "common/endian.h"
#include "fuzz_target.h"
#include "testing/sim_disk.h"
#include "wal/codecs/format.h"
#include "wal/wal.h"

namespace {

using namespace sidewal::wal;

constexpr size_t kPage = 4096;

void put_file(SimDisk& disk, const std::string& path, std::vector<uint8_t> bytes) {
  bytes.resize(std::max<size_t>(kPage, (bytes.size() + kPage - 1) / kPage * kPage), 0);
  OpenOptions o;
  o.create = true;
  o.direct = false;
  auto f = disk.open(path, o);
  FUZZ_CHECK(f.ok());
  FUZZ_CHECK(disk.write(*f, 0, bytes.data(), bytes.size()).ok());
  FUZZ_CHECK(disk.sync(*f).ok());
  FUZZ_CHECK(disk.close(*f).ok());
}

int fuzz_recovery(const uint8_t* data, size_t size) {
  if (size < 4 || size > (1u << 20)) return 0;
  const uint8_t mode = data[0];
  const uint16_t split = static_cast<uint16_t>(data[1] | (data[2] << 8));
  const std::vector<uint8_t> rest(data + 3, data + size);
  auto disk = std::make_shared<SimDisk>(1);
  const std::string dir = "/fuzz/wal";
  FUZZ_CHECK(disk->create_dir("/fuzz").ok());
  FUZZ_CHECK(disk->create_dir(dir).ok());

  // Segment contents: [0, cut) and [cut, end), or one file.
  const size_t cut = (mode & 1) && !rest.empty() ? split % rest.size() : rest.size();
  std::vector<std::vector<uint8_t>> segs;
  segs.emplace_back(rest.begin(), rest.begin() + static_cast<long>(cut));
  if (cut < rest.size()) segs.emplace_back(rest.begin() + static_cast<long>(cut), rest.end());
  uint64_t first_lsn = 1;
  for (size_t i = 0; i < segs.size(); ++i) {
    std::vector<uint8_t>& s = segs[i];
    if (mode & 2) {  // a valid preamble so the record scan runs
      s.insert(s.begin(), format::kPreambleBytes, 0);
      format::Preamble p;
      p.segment_id = i + 1;
      format::encode_preamble(p, s.data());
    }
    put_file(*disk, dir + "/" + format::segment_file_name(first_lsn), s);
    // The second segment's first LSN from the input (small, so it can match).
    first_lsn += 1 + (split >> 8) % 8;
  }
  if (mode & 4) put_file(*disk, dir + "/" + format::spare_file_name(7), {1, 2, 3});
  FUZZ_CHECK(disk->sync_dir(dir).ok());

  RecoveryReport predicted;
  const sidewal::Status inspected = inspect_dir(dir, disk.get(), {}, {}, &predicted);

  WalOptions o;
  o.dir = dir;
  o.io = disk;
  o.segment_bytes = 64 * 1024;
  o.max_record_bytes = 16 * 1024;
  o.salvage = (mode & 8) != 0;
  RecoveryReport report;
  auto opened = Wal::open(o, &report);
  if (!opened.ok()) {
    FUZZ_CHECK(!opened.status().ToString().empty());
    return 0;
  }
  std::unique_ptr<Wal> log = std::move(opened).value();
  if (inspected.ok() && !predicted.corruption && !o.salvage) {
    FUZZ_CHECK(predicted.durable_lsn == report.durable_lsn);
    FUZZ_CHECK(predicted.first_lsn == report.first_lsn);
  }
  const WalStatus st = log->status();
  uint64_t lsn = st.first_lsn;
  uint64_t count = 0;
  for (;;) {
    std::vector<Record> part;
    uint64_t next = 0;
    const sidewal::Status rs = log->read(lsn, ReadLimits{}, &part, &next);
    FUZZ_CHECK(rs.ok());
    if (part.empty()) break;
    for (const Record& r : part) {
      FUZZ_CHECK(r.lsn == lsn);
      ++lsn;
      ++count;
    }
  }
  FUZZ_CHECK(lsn == st.durable_lsn + 1);
  FUZZ_CHECK(count == st.durable_lsn + 1 - st.first_lsn);
  (void)log->close();
  return 0;
}

}  // namespace

SIDEWAL_FUZZ_TARGET(recovery, fuzz_recovery)
