// A heap buffer aligned for O_DIRECT, allocated once and reused (the engine
// allocates its staging and read buffers at open, not per record).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "common/status.h"

namespace sidewal::wal {

class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  // `size` is rounded up to a multiple of `alignment`; the memory starts zeroed.
  AlignedBuffer(size_t alignment, size_t size) { reset(alignment, size); }
  ~AlignedBuffer() { std::free(data_); }
  AlignedBuffer(AlignedBuffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    return *this;
  }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;

  void reset(size_t alignment, size_t size) {
    std::free(data_);
    size_ = (size + alignment - 1) / alignment * alignment;
    data_ = static_cast<uint8_t*>(std::aligned_alloc(alignment, size_));
    SW_ASSERT_MSG(data_ != nullptr, "aligned_alloc failed");
    std::memset(data_, 0, size_);
  }
  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace sidewal::wal
