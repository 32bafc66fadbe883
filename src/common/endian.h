// Little-endian encode/decode: the only place that turns integers into wire or
// disk bytes. No struct is ever reinterpret_cast onto a buffer.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace sidewal {

inline void put_u8(uint8_t* p, uint8_t v) { p[0] = v; }
inline void put_u16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}
inline void put_u32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline void put_u64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline void put_i64(uint8_t* p, int64_t v) { put_u64(p, static_cast<uint64_t>(v)); }

inline uint8_t get_u8(const uint8_t* p) { return p[0]; }
inline uint16_t get_u16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] | (static_cast<uint16_t>(p[1]) << 8));
}
inline uint32_t get_u32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(p[i]) << (8 * i);
  return v;
}
inline uint64_t get_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}
inline int64_t get_i64(const uint8_t* p) { return static_cast<int64_t>(get_u64(p)); }

// Appending writer over a byte vector, for building frames and payloads.
class ByteWriter {
 public:
  explicit ByteWriter(std::vector<uint8_t>* out) : out_(out) {}
  void u8(uint8_t v) { out_->push_back(v); }
  void u16(uint16_t v) {
    grow(2, [&](uint8_t* p) { put_u16(p, v); });
  }
  void u32(uint32_t v) {
    grow(4, [&](uint8_t* p) { put_u32(p, v); });
  }
  void u64(uint64_t v) {
    grow(8, [&](uint8_t* p) { put_u64(p, v); });
  }
  void i64(int64_t v) { u64(static_cast<uint64_t>(v)); }
  void bytes(const void* data, size_t n) {
    const auto* b = static_cast<const uint8_t*>(data);
    out_->insert(out_->end(), b, b + n);
  }
  void zeros(size_t n) { out_->insert(out_->end(), n, 0); }

 private:
  template <typename F>
  void grow(size_t n, F&& f) {
    size_t at = out_->size();
    out_->resize(at + n);
    f(out_->data() + at);
  }
  std::vector<uint8_t>* out_;
};

// Bounds-checked reader: every read says whether the bytes were there, so a
// decoder of untrusted input cannot run off the end.
class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}
  size_t remaining() const { return static_cast<size_t>(end_ - p_); }
  const uint8_t* position() const { return p_; }
  [[nodiscard]] bool u8(uint8_t* v) {
    return take(1, [&] { *v = get_u8(p_); });
  }
  [[nodiscard]] bool u16(uint16_t* v) {
    return take(2, [&] { *v = get_u16(p_); });
  }
  [[nodiscard]] bool u32(uint32_t* v) {
    return take(4, [&] { *v = get_u32(p_); });
  }
  [[nodiscard]] bool u64(uint64_t* v) {
    return take(8, [&] { *v = get_u64(p_); });
  }
  [[nodiscard]] bool i64(int64_t* v) {
    return take(8, [&] { *v = get_i64(p_); });
  }
  [[nodiscard]] bool bytes(size_t n, const uint8_t** out) {
    return take(n, [&] { *out = p_; });
  }
  [[nodiscard]] bool skip(size_t n) {
    return take(n, [] {});
  }

 private:
  template <typename F>
  bool take(size_t n, F&& f) {
    if (remaining() < n) return false;
    f();
    p_ += n;
    return true;
  }
  const uint8_t* p_;
  const uint8_t* end_;
};

}  // namespace sidewal
