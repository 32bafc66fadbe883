// What the request codec (requests.cc) and the reply codec (replies.cc)
// share: the frame around a body and the MALFORMED messages of a decoder.
// Internal to src/proto.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/endian.h"
#include "common/status.h"
#include "proto/protocol.h"

namespace sidewal::proto::codec {

constexpr size_t kLsnSize = 8;  // TRUNCATE, END, OK

inline Status malformed(const char* what, const std::string& detail) {
  return Status::InvalidArgument(std::string(what) + " body: " + detail);
}

inline Status wrong_size(const char* what, size_t expected, size_t got) {
  return malformed(what,
                   "expected " + std::to_string(expected) + " bytes, got " + std::to_string(got));
}

inline Status too_short(const char* what, size_t expected, size_t got) {
  return malformed(what, "expected at least " + std::to_string(expected) + " bytes, got " +
                             std::to_string(got));
}

inline bool all_zero(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

// Writes a header with body_len 0 at the end of *out and returns its offset;
// finish_frame() fills body_len once the body is appended.
inline size_t begin_frame(Opcode op, uint64_t request_id, std::vector<uint8_t>* out) {
  size_t start = out->size();
  out->resize(start + kHeaderSize);
  FrameHeader h;
  h.opcode = static_cast<uint8_t>(op);
  h.request_id = request_id;
  encode_header(h, out->data() + start);
  return start;
}

inline void finish_frame(size_t start, std::vector<uint8_t>* out) {
  SW_ASSERT(out->size() >= start + kHeaderSize);
  size_t body = out->size() - start - kHeaderSize;
  // body_len is a u32 on the wire; callers bound records far below this.
  SW_ASSERT(body <= UINT32_MAX);
  put_u32(out->data() + start, static_cast<uint32_t>(body));
}

}  // namespace sidewal::proto::codec
