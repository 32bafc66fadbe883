#include "cli/print.h"

namespace sidewal::cli {

bool is_printable(std::span<const uint8_t> payload) {
  for (uint8_t b : payload) {
    if (b < 0x20 || b > 0x7E) return false;
  }
  // A printable payload that looks like hex output would be ambiguous.
  return !(payload.size() >= 2 && payload[0] == '0' && payload[1] == 'x');
}

std::string hex(std::span<const uint8_t> payload) {
  static const char kDigits[] = "0123456789abcdef";
  std::string s = "0x";
  s.reserve(2 + 2 * payload.size());
  for (uint8_t b : payload) {
    s.push_back(kDigits[b >> 4]);
    s.push_back(kDigits[b & 0xF]);
  }
  return s;
}

void print_record(std::FILE* out, PayloadStyle style, uint64_t lsn, uint16_t type, uint32_t tenant,
                  std::span<const uint8_t> payload) {
  if (style == PayloadStyle::kRaw) {
    std::fwrite(payload.data(), 1, payload.size(), out);
    std::fputc('\n', out);
    return;
  }
  std::fprintf(out, "%llu %u %u ", static_cast<unsigned long long>(lsn), type, tenant);
  if (style == PayloadStyle::kAuto && is_printable(payload)) {
    std::fwrite(payload.data(), 1, payload.size(), out);
  } else {
    std::string h = hex(payload);
    std::fwrite(h.data(), 1, h.size(), out);
  }
  std::fputc('\n', out);
}

void print_header(std::FILE* out, uint64_t lsn, uint16_t type, uint32_t tenant,
                  uint32_t payload_len) {
  std::fprintf(out, "%llu %u %u len=%u\n", static_cast<unsigned long long>(lsn), type, tenant,
               payload_len);
}

}  // namespace sidewal::cli
