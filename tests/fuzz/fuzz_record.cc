// Record parser (src/wal/format): arbitrary bytes at a record position.
// check_record must classify them without reading past `avail`, and a record
// it calls valid must re-encode to exactly the bytes it was read from.
#include <cstring>
#include <vector>

#include "common/endian.h"
#include "fuzz_target.h"
#include "wal/codecs/format.h"

namespace {

using namespace sidewal::wal;

int fuzz_record(const uint8_t* data, size_t size) {
  if (size < 9) return 0;
  // First 8 bytes: the segment id the scan expects; one byte: expected LSN
  // mode (0 = any); the rest: the bytes on disk, copied to an exact-size
  // buffer so ASan sees any over-read.
  const uint64_t segment_id = sidewal::get_u64(data);
  const uint64_t expected = data[8] % 4 == 0 ? 0 : data[8];
  std::vector<uint8_t> disk(data + 9, data + size);
  format::RecordHeader h;
  std::string why;
  const format::RecordCheck c =
      format::check_record(disk.data(), disk.size(), segment_id, expected, &h, &why);
  if (c == format::RecordCheck::kValid) {
    FUZZ_CHECK(format::kHeaderBytes + uint64_t{h.payload_len} <= disk.size());
    FUZZ_CHECK(expected == 0 || h.lsn == expected);
    std::span<const uint8_t> payload(disk.data() + format::kHeaderBytes, h.payload_len);
    std::vector<uint8_t> again(format::record_bytes(h.payload_len) + 64);
    const size_t n =
        format::encode_record(segment_id, h.lsn, h.type, h.flags, h.tenant, payload, again.data());
    FUZZ_CHECK(n >= format::kHeaderBytes + h.payload_len);
    FUZZ_CHECK(std::memcmp(again.data(), disk.data(), format::kHeaderBytes + h.payload_len) == 0);
  } else if (c == format::RecordCheck::kBad) {
    FUZZ_CHECK(!why.empty());
  }
  if (disk.size() >= format::kPreambleBytes) {
    format::Preamble p;
    (void)format::decode_preamble(disk.data(), disk.size(), "fuzz", &p);
  }
  return 0;
}

}  // namespace

SIDEWAL_FUZZ_TARGET(record, fuzz_record)
