// Self-describing benchmark payloads: every record says which connection
// and which sequence number wrote it, so a sample read back at the end can
// be checked byte for byte without keeping what was sent.
//
// Layout (little-endian): u32 connection, u64 sequence, then filler bytes
// taken from a fixed pseudo-random pool at an offset derived from
// (connection, sequence). Records shorter than 12 bytes are the prefix of
// that layout. The pool makes filling a record a memcpy, so the client's CPU
// does not compete with the daemon's for large records.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace sidewal::bench {

constexpr size_t kPayloadHeaderBytes = 12;

// Writes the payload of (connection, sequence) into out (its whole size).
void fill_payload(uint32_t connection, uint64_t sequence, std::span<uint8_t> out);

// Empty when `payload` is exactly what fill_payload(connection, sequence)
// writes for its size; otherwise a message saying where it first differs and
// what the payload claims to be.
std::optional<std::string> check_payload(uint32_t connection, uint64_t sequence,
                                         std::span<const uint8_t> payload, size_t expected_size);

}  // namespace sidewal::bench
