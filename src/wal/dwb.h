// The double-write buffer (docs/format.md "Double-write buffer"): two slots in
// the last pages of every segment file, each holding a durable copy of the
// partially filled last page of a flush, so that the next flush may tear that
// page while rewriting it without losing an acknowledged record.
//
// Layout: a segment of `size` bytes with I/O alignment A keeps its records in
// [preamble end, records_end) with records_end = size - kReservedPages * A.
// Slot i (0 or 1) is the 2A bytes at records_end + 2A * i:
//
//   offset size field
//   0      4    magic "SDWB" (u32 0x42574453)
//   4      1    slot format version (1)
//   5      3    zero
//   8      8    segment id
//   16     8    target: offset of the copied page in this segment (multiple of A)
//   24     8    sequence: the last LSN of the flush that wrote it (0: the
//               preamble-only first page, written when the segment is created)
//   32     4    page bytes (= A)
//   36     4    image bytes n (<= A): the page's bytes [0, n); the rest of the
//               page is zero
//   40     4    crc = CRC32C(bytes [0, 40) || image)
//   44     4    zero
//   48     n    image
//
// A slot is written as round_up(48 + n, A) bytes: one page when the image fits
// beside the header, two otherwise (hence two pages per slot).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "wal/codecs/format.h"
#include "wal/io/io_backend.h"

namespace sidewal::wal::dwb {

constexpr uint32_t kSlotMagic = 0x42574453;  // bytes 53 44 57 42, "SDWB"
constexpr uint8_t kSlotVersion = 1;
constexpr size_t kSlots = 2;
constexpr size_t kSlotPages = 2;
constexpr size_t kReservedPages = kSlots * kSlotPages;
constexpr size_t kSlotHeaderBytes = 48;

// End of the record area of a segment file of `file_size` bytes (0 when the
// file is too small to hold the reserved pages at all).
inline uint64_t records_end(uint64_t file_size, size_t align) {
  const uint64_t reserved = uint64_t{kReservedPages} * align;
  return file_size > reserved ? file_size - reserved : 0;
}
inline uint64_t slot_offset(uint64_t file_size, size_t align, size_t slot) {
  return records_end(file_size, align) + uint64_t{kSlotPages} * align * slot;
}

struct SlotHeader {
  uint64_t segment_id = 0;
  uint64_t target = 0;
  uint64_t seq = 0;
  uint32_t page_bytes = 0;
  uint32_t image_bytes = 0;
};

// Encodes a slot for `image` (h.image_bytes bytes) into `out`, which has room
// for kSlotPages * align bytes. Returns how many bytes to write (a multiple
// of align); the bytes after the image up to that length are zero.
size_t encode_slot(const SlotHeader& h, const uint8_t* image, size_t align, uint8_t* out);

// Checks the kSlotPages * align bytes of a slot. Valid when magic, version,
// crc, page size (== align) and target (a page of the record area) hold, and
// the segment id equals `segment_id` (any when 0). On success *page receives
// the whole target page (image, then zeros).
bool decode_slot(const uint8_t* in, size_t align, uint64_t segment_id, uint64_t records_end,
                 SlotHeader* h, std::vector<uint8_t>* page, std::string* why);

struct Slot {
  size_t index = 0;
  SlotHeader header;
  std::vector<uint8_t> page;  // the target page as the slot restores it (align bytes)
};

// Reads both slots of an open segment file and returns the valid ones, newest
// (highest sequence) first.
Status read_slots(IoBackend* io, FileHandle file, const std::string& path, uint64_t file_size,
                  size_t align, uint64_t segment_id, std::vector<Slot>* out);

// Writer side, at open (WalImpl::start): establishes the invariant the
// flushes maintain (docs/format.md). With `on` and a partially filled last
// page (`page` holds its `carry` durable bytes, at offset `target`), slot 0
// gets a copy of it and slot 1 is invalidated; otherwise both slots are
// invalidated. Skips the write when the slots already say exactly that
// (dwb off and no valid slot). Syncs what it wrote. *next_slot is the slot
// the first flush writes.
Status reset_slots_at_open(IoBackend* io, FileHandle file, const std::string& path,
                           uint64_t file_size, size_t align, uint64_t segment_id, bool on,
                           uint64_t target, const uint8_t* page, size_t carry, uint64_t seq,
                           size_t* next_slot);

// Preparer side: writes a copy of page 0 of a freshly created spare (its
// `preamble`, then zeros) into slot 1 with sequence 0 and syncs, so the first
// flush into the segment (which writes slot 0) may tear page 0 without losing
// the preamble. Builds the page from `preamble` (no read: followers at the
// head must not see the disk touched).
Status write_spare_slot(IoBackend* io, const std::string& path, const format::Preamble& preamble,
                        uint64_t file_size, size_t align);

}  // namespace sidewal::wal::dwb
