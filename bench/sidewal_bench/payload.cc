#include "payload.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "common/endian.h"

namespace sidewal::bench {

namespace {

constexpr size_t kPoolBytes = 1u << 20;  // filler source; offsets wrap within it

uint64_t splitmix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Built once (thread-safe static init), then only read.
const std::vector<uint8_t>& pool() {
  static const std::vector<uint8_t> bytes = [] {
    std::vector<uint8_t> b(kPoolBytes);
    uint64_t state = 0x5157AA1ull;
    for (size_t i = 0; i < kPoolBytes; i += 8) put_u64(&b[i], splitmix64(&state));
    return b;
  }();
  return bytes;
}

size_t pool_offset(uint32_t connection, uint64_t sequence) {
  uint64_t state = (static_cast<uint64_t>(connection) << 40) ^ sequence;
  return static_cast<size_t>(splitmix64(&state) % kPoolBytes);
}

void fill_filler(size_t offset, uint8_t* out, size_t n) {
  const auto& p = pool();
  while (n > 0) {
    const size_t take = std::min(n, kPoolBytes - offset);
    std::memcpy(out, p.data() + offset, take);
    out += take;
    n -= take;
    offset = 0;
  }
}

}  // namespace

void fill_payload(uint32_t connection, uint64_t sequence, std::span<uint8_t> out) {
  uint8_t header[kPayloadHeaderBytes];
  put_u32(header, connection);
  put_u64(header + 4, sequence);
  const size_t h = std::min(out.size(), kPayloadHeaderBytes);
  std::memcpy(out.data(), header, h);
  if (out.size() > h)
    fill_filler(pool_offset(connection, sequence), out.data() + h, out.size() - h);
}

std::optional<std::string> check_payload(uint32_t connection, uint64_t sequence,
                                         std::span<const uint8_t> payload, size_t expected_size) {
  const std::string who = "record of connection " + std::to_string(connection) + " sequence " +
                          std::to_string(sequence);
  if (payload.size() != expected_size) {
    return who + ": expected " + std::to_string(expected_size) + " bytes, got " +
           std::to_string(payload.size());
  }
  std::vector<uint8_t> want(expected_size);
  fill_payload(connection, sequence, want);
  const auto diff = std::mismatch(want.begin(), want.end(), payload.begin());
  if (diff.first == want.end()) return std::nullopt;
  std::string claims;
  if (payload.size() >= kPayloadHeaderBytes) {
    claims = " (its header says connection " + std::to_string(get_u32(payload.data())) +
             " sequence " + std::to_string(get_u64(payload.data() + 4)) + ")";
  }
  return who + ": first differing byte at offset " + std::to_string(diff.first - want.begin()) +
         claims;
}

}  // namespace sidewal::bench
