// Self-describing record payloads for the reliability tests: each payload
// says who sent it (client, round, sequence, batch, index in batch), carries
// filler bytes derived from those fields, and ends with a CRC32C over all of
// it. A checker can therefore recognise any record it reads back, decide
// whether its bytes are exactly what was sent, and find its batch, without
// having kept the payload.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "common/crc32c.h"
#include "common/endian.h"

namespace sidewal::reliability {

struct PayloadTag {
  uint32_t client = 0;  // connection or thread number
  uint32_t round = 0;   // crash-loop round (daemon life) it was sent in
  uint64_t seq = 0;     // per (client, round): record number, from 0
  uint64_t batch = 0;   // per (client, round): batch number, from 0
  uint16_t index = 0;   // position in its batch
  uint16_t count = 0;   // records in its batch
  bool operator==(const PayloadTag&) const = default;
};

// Layout (little-endian): u32 magic, u32 client, u32 round, u16 index,
// u16 count, u64 seq, u64 batch, u32 total length, filler, u32 CRC32C of
// everything before it.
constexpr uint32_t kPayloadMagic = 0x52574C53;  // "SLWR"
constexpr size_t kPayloadHeader = 36;
constexpr size_t kMinPayload = kPayloadHeader + 4;

inline void fill_bytes(const PayloadTag& t, uint8_t* p, size_t n) {
  uint64_t x = (uint64_t{t.client} << 48) ^ (uint64_t{t.round} << 32) ^
               (t.seq * 0x9E3779B97F4A7C15ull) ^ (n + 1);
  if (x == 0) x = 1;  // xorshift's fixed point
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    p[i] = static_cast<uint8_t>(x);
  }
}

// `len` >= kMinPayload.
inline std::vector<uint8_t> make_tagged_payload(const PayloadTag& t, size_t len) {
  std::vector<uint8_t> p(len);
  put_u32(p.data(), kPayloadMagic);
  put_u32(p.data() + 4, t.client);
  put_u32(p.data() + 8, t.round);
  put_u16(p.data() + 12, t.index);
  put_u16(p.data() + 14, t.count);
  put_u64(p.data() + 16, t.seq);
  put_u64(p.data() + 24, t.batch);
  put_u32(p.data() + 32, static_cast<uint32_t>(len));
  fill_bytes(t, p.data() + kPayloadHeader, len - kMinPayload);
  put_u32(p.data() + len - 4, crc32c(p.data(), len - 4));
  return p;
}

// The tag when `p` is exactly a payload make_tagged_payload() produces;
// nullopt for anything else (a record that was never sent, or damaged).
inline std::optional<PayloadTag> decode_tagged_payload(std::span<const uint8_t> p) {
  if (p.size() < kMinPayload || get_u32(p.data()) != kPayloadMagic) return std::nullopt;
  if (get_u32(p.data() + 32) != p.size()) return std::nullopt;
  if (get_u32(p.data() + p.size() - 4) != crc32c(p.data(), p.size() - 4)) return std::nullopt;
  PayloadTag t;
  t.client = get_u32(p.data() + 4);
  t.round = get_u32(p.data() + 8);
  t.index = get_u16(p.data() + 12);
  t.count = get_u16(p.data() + 14);
  t.seq = get_u64(p.data() + 16);
  t.batch = get_u64(p.data() + 24);
  if (t.count == 0 || t.index >= t.count) return std::nullopt;
  // The filler must be the one the tag implies (a CRC alone would accept a
  // payload built by something else).
  std::vector<uint8_t> filler(p.size() - kMinPayload);
  fill_bytes(t, filler.data(), filler.size());
  for (size_t i = 0; i < filler.size(); ++i) {
    if (filler[i] != p[kPayloadHeader + i]) return std::nullopt;
  }
  return t;
}

}  // namespace sidewal::reliability
