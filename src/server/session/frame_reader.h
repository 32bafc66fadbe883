// FrameReader: a session's read buffer, split into request frames with
// src/proto's framing (proto::peek_frame). The session reads the socket into
// prepare() and takes whole frames out with next(), one at a time, so it can
// re-check its limits before each (backpressure stops both taking buffered
// frames and reading).
//
// The buffer is kUsualBytes normally (one recvfrom takes a whole window of
// pipelined small frames), grown to hold one frame of up to max_body + 16
// bytes, and shrunk back once empty. It is allocated uninitialised on first
// use, so an idle session touches only what it reads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "proto/protocol.h"

namespace sidewal::server {

class FrameReader {
 public:
  // At pipeline depth 16, 100-byte APPENDs take ~2 KiB, so one read takes a
  // whole window; 64 KiB records take one frame per read.
  static constexpr size_t kUsualBytes = 64u << 10;

  enum class Next : uint8_t {
    kNeedMore,  // no whole frame buffered (room for it has been made)
    kFrame,     // *h and *body are the next frame, now consumed
    kTooLarge,  // *h announces a body above max_body: everything buffered is
                // dropped (the stream cannot be resynchronised)
  };
  // *body is a view into the buffer, valid until the next call to next(),
  // prepare() or clear().
  Next next(uint32_t max_body, proto::FrameHeader* h, std::span<const uint8_t>* body);

  // Free space to read into (never empty): compacts the unparsed bytes to the
  // front first, and gives a grown buffer back once it is empty.
  std::span<uint8_t> prepare();
  // `n` bytes were read into the span prepare() returned.
  void commit(size_t n);

  size_t buffered() const { return end_ - begin_; }
  size_t capacity() const { return cap_; }
  void clear() { begin_ = end_ = 0; }

 private:
  // Unparsed bytes are buf_[begin_, end_).
  std::unique_ptr<uint8_t[]> buf_;
  size_t cap_ = 0;
  size_t begin_ = 0;
  size_t end_ = 0;
};

}  // namespace sidewal::server
