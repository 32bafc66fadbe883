// How the CLI shows records: one line per record, `lsn type tenant payload`,
// the payload as text when every byte is printable ASCII, else as 0x + hex
// (a text payload that itself starts with "0x" is shown as hex too, so a
// field starting with 0x is always hex).
#pragma once

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>

namespace sidewal::cli {

enum class PayloadStyle : uint8_t {
  kAuto,  // text if printable, else 0x<hex>
  kHex,   // always 0x<hex>
  kRaw,   // only the payload bytes, verbatim, then '\n' (no lsn/type/tenant)
};

bool is_printable(std::span<const uint8_t> payload);
std::string hex(std::span<const uint8_t> payload);
// Writes one record line to `out` in `style`.
void print_record(std::FILE* out, PayloadStyle style, uint64_t lsn, uint16_t type, uint32_t tenant,
                  std::span<const uint8_t> payload);
// A record read with --header-only: `lsn type tenant len=<payload_len>`.
void print_header(std::FILE* out, uint64_t lsn, uint16_t type, uint32_t tenant,
                  uint32_t payload_len);

}  // namespace sidewal::cli
