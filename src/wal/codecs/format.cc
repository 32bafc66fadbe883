#include "wal/codecs/format.h"

#include <cstdio>
#include <cstring>

#include "common/crc32c.h"
#include "common/endian.h"
#include "wal/wal.h"

namespace sidewal::wal::format {

void encode_preamble(const Preamble& p, uint8_t* out) {
  put_u32(out, kMagic);
  put_u8(out + 4, p.version);
  put_u8(out + 5, p.cipher);
  put_u16(out + 6, p.key_id);
  put_u64(out + 8, p.segment_id);
  if (p.cipher == kCipherAes256Gcm) {
    std::memcpy(out + kPreambleBytes, p.salt.data(), kSaltBytes);
    put_u64(out + kPreambleBytes + kSaltBytes, p.key_fingerprint);
  }
}

// The 16-byte preamble carries no checksum of its own, so a damaged version
// or cipher byte cannot be told from a newer writer's segment: say both.
constexpr const char* kPreambleDamageHint =
    "; if this build wrote the log, the preamble is damaged (it has no checksum): treat it as "
    "corruption";

Status decode_preamble(const uint8_t* in, size_t avail, const std::string& path, Preamble* out) {
  if (avail < kPreambleBytes) {
    return Status::Corruption("segment " + path + ": " + std::to_string(avail) +
                              " bytes, shorter than the 16-byte preamble");
  }
  uint32_t magic = get_u32(in);
  if (magic != kMagic) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "bad magic 0x%08x at offset 0 (expected 0x%08x \"SWAL\")", magic,
                  kMagic);
    return Status::Corruption("segment " + path + ": " + buf + "; not a sidewal segment");
  }
  out->version = get_u8(in + 4);
  out->cipher = get_u8(in + 5);
  out->key_id = get_u16(in + 6);
  out->segment_id = get_u64(in + 8);
  if (out->version != kVersion) {
    return Status::Unsupported("segment " + path + ": format version " +
                               std::to_string(out->version) + ", this build reads version " +
                               std::to_string(kVersion) + kPreambleDamageHint);
  }
  out->salt = {};
  out->key_fingerprint = 0;
  if (out->cipher == kCipherAes256Gcm) {
    if (out->key_id == 0) {
      return Status::Corruption("segment " + path +
                                ": cipher 1 (AES-256-GCM) with key id 0 in the preamble");
    }
    if (avail < kCipherPreambleBytes) {
      return Status::Corruption("segment " + path + ": only " + std::to_string(avail) +
                                " bytes for the 40-byte preamble of an encrypted segment");
    }
    std::memcpy(out->salt.data(), in + kPreambleBytes, kSaltBytes);
    out->key_fingerprint = get_u64(in + kPreambleBytes + kSaltBytes);
  } else if (out->cipher != kCipherNone) {
    return Status::Unsupported("segment " + path + ": cipher id " + std::to_string(out->cipher) +
                               " (key id " + std::to_string(out->key_id) +
                               ") is not supported by this build (0 = none, 1 = AES-256-GCM)" +
                               kPreambleDamageHint);
  }
  if (out->segment_id == 0) {
    return Status::Corruption("segment " + path + ": segment id 0 in the preamble");
  }
  return Status::Ok();
}

void encode_header(const RecordHeader& h, uint8_t* out) {
  put_u64(out, h.lsn);
  put_u16(out + 8, h.type);
  put_u16(out + 10, h.flags);
  put_u32(out + 12, h.tenant);
  put_u32(out + 16, h.payload_len);
  put_u32(out + 20, h.crc);
}

RecordHeader decode_header(const uint8_t* in) {
  RecordHeader h;
  h.lsn = get_u64(in);
  h.type = get_u16(in + 8);
  h.flags = get_u16(in + 10);
  h.tenant = get_u32(in + 12);
  h.payload_len = get_u32(in + 16);
  h.crc = get_u32(in + 20);
  return h;
}

uint32_t record_crc(uint64_t segment_id, const uint8_t* header, const uint8_t* payload,
                    size_t payload_len) {
  uint8_t id[8];
  put_u64(id, segment_id);
  uint32_t crc = crc32c_extend(0, id, sizeof id);
  crc = crc32c_extend(crc, header, kCrcOffset);
  return crc32c_extend(crc, payload, payload_len);
}

size_t encode_record(uint64_t segment_id, uint64_t lsn, uint16_t type, uint16_t flags,
                     uint32_t tenant, std::span<const uint8_t> payload, uint8_t* out) {
  RecordHeader h;
  h.lsn = lsn;
  h.type = type;
  h.flags = flags;
  h.tenant = tenant;
  h.payload_len = static_cast<uint32_t>(payload.size());
  encode_header(h, out);
  if (!payload.empty()) std::memcpy(out + kHeaderBytes, payload.data(), payload.size());
  put_u32(out + kCrcOffset, record_crc(segment_id, out, out + kHeaderBytes, payload.size()));
  size_t total = record_bytes(payload.size());
  size_t used = kHeaderBytes + payload.size();
  if (total > used) std::memset(out + used, 0, total - used);
  return total;
}

RecordCheck check_record(const uint8_t* in, uint64_t avail, uint64_t segment_id,
                         uint64_t expected_lsn, RecordHeader* header, std::string* why) {
  if (avail < kHeaderBytes) {
    // Too little room for a header: the segment is full. Clean only if zero.
    for (uint64_t i = 0; i < avail; ++i) {
      if (in[i] != 0) {
        *why = "non-zero bytes in the last " + std::to_string(avail) + " bytes of the file";
        return RecordCheck::kBad;
      }
    }
    return RecordCheck::kEnd;
  }
  bool zero = true;
  for (size_t i = 0; i < kHeaderBytes; ++i) zero = zero && in[i] == 0;
  if (zero) return RecordCheck::kEnd;
  RecordHeader h = decode_header(in);
  if (h.lsn == 0 || (expected_lsn != 0 && h.lsn != expected_lsn)) {
    *why = "lsn " + std::to_string(h.lsn) + ", expected " +
           (expected_lsn ? std::to_string(expected_lsn) : std::string("> 0"));
    return RecordCheck::kBad;
  }
  if ((h.flags & ~kKnownFlags) != 0) {
    *why = "unknown flags 0x" + std::to_string(h.flags) + " in record lsn " + std::to_string(h.lsn);
    return RecordCheck::kBad;
  }
  if (h.payload_len > kHardMaxRecordBytes || kHeaderBytes + h.payload_len > avail) {
    *why = "payload length " + std::to_string(h.payload_len) + " of record lsn " +
           std::to_string(h.lsn) + " runs past the end of the segment or the 16 MiB ceiling";
    return RecordCheck::kBad;
  }
  uint32_t crc = record_crc(segment_id, in, in + kHeaderBytes, h.payload_len);
  if (crc != h.crc) {
    *why = "crc mismatch in record lsn " + std::to_string(h.lsn) + " (stored " +
           std::to_string(h.crc) + ", computed " + std::to_string(crc) + ")";
    return RecordCheck::kBad;
  }
  *header = h;
  return RecordCheck::kValid;
}

namespace {
std::string digits20(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020llu", static_cast<unsigned long long>(v));
  return buf;
}
bool parse_digits20(const std::string& name, const char* suffix, uint64_t* out) {
  size_t slen = std::strlen(suffix);
  if (name.size() != 20 + slen || name.compare(20, slen, suffix) != 0) return false;
  uint64_t v = 0;
  for (size_t i = 0; i < 20; ++i) {
    char c = name[i];
    if (c < '0' || c > '9') return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return v != 0;
}
}  // namespace

std::string segment_file_name(uint64_t first_lsn) { return digits20(first_lsn) + ".wal"; }
std::string spare_file_name(uint64_t segment_id) { return digits20(segment_id) + ".spare"; }
bool parse_segment_file_name(const std::string& name, uint64_t* first_lsn) {
  return parse_digits20(name, ".wal", first_lsn);
}
bool parse_spare_file_name(const std::string& name, uint64_t* segment_id) {
  return parse_digits20(name, ".spare", segment_id);
}

}  // namespace sidewal::wal::format
