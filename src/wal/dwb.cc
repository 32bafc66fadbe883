#include "wal/dwb.h"

#include <algorithm>
#include <cstring>

#include "common/crc32c.h"
#include "common/endian.h"
#include "wal/codecs/format.h"
#include "wal/io/aligned_buffer.h"

namespace sidewal::wal::dwb {
namespace {

constexpr size_t kCrcOffset = 40;
// The spare's copy of page 0 covers at least this many bytes: more than any
// preamble (16, or 40 for an encrypted segment).
constexpr size_t kPreambleCopyBytes = 64;

uint32_t slot_crc(const uint8_t* slot, const uint8_t* image, size_t n) {
  return crc32c_extend(crc32c(slot, kCrcOffset), image, n);
}

}  // namespace

size_t encode_slot(const SlotHeader& h, const uint8_t* image, size_t align, uint8_t* out) {
  SW_ASSERT(h.image_bytes <= align && h.page_bytes == align);
  const size_t len = format::round_up(kSlotHeaderBytes + h.image_bytes, align);
  SW_ASSERT(len <= kSlotPages * align);
  std::memset(out, 0, len);
  put_u32(out, kSlotMagic);
  put_u8(out + 4, kSlotVersion);
  put_u64(out + 8, h.segment_id);
  put_u64(out + 16, h.target);
  put_u64(out + 24, h.seq);
  put_u32(out + 32, h.page_bytes);
  put_u32(out + 36, h.image_bytes);
  if (h.image_bytes > 0) std::memcpy(out + kSlotHeaderBytes, image, h.image_bytes);
  put_u32(out + kCrcOffset, slot_crc(out, out + kSlotHeaderBytes, h.image_bytes));
  return len;
}

bool decode_slot(const uint8_t* in, size_t align, uint64_t segment_id, uint64_t records_end,
                 SlotHeader* h, std::vector<uint8_t>* page, std::string* why) {
  if (get_u32(in) != kSlotMagic) {
    *why = "no slot magic";
    return false;
  }
  if (get_u8(in + 4) != kSlotVersion) {
    *why = "slot version " + std::to_string(get_u8(in + 4));
    return false;
  }
  SlotHeader s;
  s.segment_id = get_u64(in + 8);
  s.target = get_u64(in + 16);
  s.seq = get_u64(in + 24);
  s.page_bytes = get_u32(in + 32);
  s.image_bytes = get_u32(in + 36);
  if (s.page_bytes != align || s.image_bytes > align) {
    *why = "page bytes " + std::to_string(s.page_bytes) + " / image bytes " +
           std::to_string(s.image_bytes) + " for a " + std::to_string(align) + "-byte page";
    return false;
  }
  if (s.target % align != 0 || s.target + align > records_end) {
    *why = "target offset " + std::to_string(s.target) + " is not a page of the record area";
    return false;
  }
  if (segment_id != 0 && s.segment_id != segment_id) {
    *why =
        "segment id " + std::to_string(s.segment_id) + ", expected " + std::to_string(segment_id);
    return false;
  }
  if (get_u32(in + kCrcOffset) != slot_crc(in, in + kSlotHeaderBytes, s.image_bytes)) {
    *why = "slot crc mismatch";
    return false;
  }
  *h = s;
  page->assign(align, 0);
  if (s.image_bytes > 0) std::memcpy(page->data(), in + kSlotHeaderBytes, s.image_bytes);
  return true;
}

Status read_slots(IoBackend* io, FileHandle file, const std::string& path, uint64_t file_size,
                  size_t align, uint64_t segment_id, std::vector<Slot>* out) {
  out->clear();
  const uint64_t end = records_end(file_size, align);
  if (end == 0) return Status::Ok();
  AlignedBuffer buf(align, kSlots * kSlotPages * align);
  size_t got = 0;
  SIDEWAL_RETURN_IF_ERROR(io->read(file, end, buf.data(), buf.size(), &got));
  if (got != buf.size()) {
    return Status::IoError("short read of the double-write slots of " + path + " at offset " +
                           std::to_string(end));
  }
  for (size_t i = 0; i < kSlots; ++i) {
    Slot s;
    s.index = i;
    std::string why;
    if (decode_slot(buf.data() + i * kSlotPages * align, align, segment_id, end, &s.header, &s.page,
                    &why)) {
      out->push_back(std::move(s));
    }
  }
  std::stable_sort(out->begin(), out->end(),
                   [](const Slot& a, const Slot& b) { return a.header.seq > b.header.seq; });
  return Status::Ok();
}

Status reset_slots_at_open(IoBackend* io, FileHandle file, const std::string& path,
                           uint64_t file_size, size_t align, uint64_t segment_id, bool on,
                           uint64_t target, const uint8_t* page, size_t carry, uint64_t seq,
                           size_t* next_slot) {
  *next_slot = 0;
  const uint64_t end = records_end(file_size, align);
  SW_ASSERT(end > 0);
  const bool copy = on && carry > 0;
  if (!copy) {
    std::vector<Slot> valid;
    SIDEWAL_RETURN_IF_ERROR(read_slots(io, file, path, file_size, align, 0, &valid));
    if (valid.empty()) return Status::Ok();
  }
  // Slot 0 (two pages) and the header page of slot 1, in one write.
  AlignedBuffer buf(align, (kSlotPages + 1) * align);
  if (copy) {
    SlotHeader h;
    h.segment_id = segment_id;
    h.target = target;
    h.seq = seq;
    h.page_bytes = static_cast<uint32_t>(align);
    h.image_bytes = static_cast<uint32_t>(carry);
    (void)encode_slot(h, page, align, buf.data());
    *next_slot = 1;
  }
  return io->write_and_sync(file, end, buf.data(), buf.size());
}

Status write_spare_slot(IoBackend* io, const std::string& path, const format::Preamble& preamble,
                        uint64_t file_size, size_t align) {
  OpenOptions o;
  o.direct = true;
  Result<FileHandle> f = io->open(path, o);
  if (!f.ok()) return f.status();
  AlignedBuffer page(align, align);
  AlignedBuffer slot(align, kSlotPages * align);
  format::encode_preamble(preamble, page.data());  // page 0 as create_spare_segment wrote it
  Status st;
  {
    // The image stops after the last non-zero byte (the preamble).
    size_t n = align;
    while (n > 0 && page.data()[n - 1] == 0) --n;
    // At least the largest preamble: recovery keeps the disk's bytes past
    // the copy, and the preamble's trailing zero bytes must come from here.
    n = std::max<size_t>(format::round_up(n, format::kRecordAlign), kPreambleCopyBytes);
    SlotHeader h;
    h.segment_id = preamble.segment_id;
    h.target = 0;
    h.seq = 0;
    h.page_bytes = static_cast<uint32_t>(align);
    h.image_bytes = static_cast<uint32_t>(n);
    const size_t len = encode_slot(h, page.data(), align, slot.data());
    st = io->write_and_sync(*f, slot_offset(file_size, align, 1), slot.data(), len);
  }
  Status cst = io->close(*f);
  return st.ok() ? cst : st;
}

}  // namespace sidewal::wal::dwb
