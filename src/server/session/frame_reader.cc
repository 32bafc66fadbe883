#include "server/session/frame_reader.h"

#include <cstring>

#include "common/status.h"

namespace sidewal::server {

FrameReader::Next FrameReader::next(uint32_t max_body, proto::FrameHeader* h,
                                    std::span<const uint8_t>* body) {
  const size_t avail = end_ - begin_;
  switch (proto::peek_frame(std::span<const uint8_t>(buf_.get() + begin_, avail), max_body, h)) {
    case proto::FrameStatus::kTooLarge: clear(); return Next::kTooLarge;
    case proto::FrameStatus::kIncomplete: {
      if (avail < proto::kHeaderSize) return Next::kNeedMore;
      // Make room for the whole frame: grow the buffer for a frame bigger than
      // it (at most max_body + 16), moving the partial frame to the front.
      const size_t frame = proto::kHeaderSize + size_t{h->body_len};
      if (frame > cap_) {
        auto bigger = std::make_unique_for_overwrite<uint8_t[]>(frame);
        std::memcpy(bigger.get(), buf_.get() + begin_, avail);
        buf_ = std::move(bigger);
        cap_ = frame;
        begin_ = 0;
        end_ = avail;
      }
      return Next::kNeedMore;
    }
    case proto::FrameStatus::kComplete: break;
  }
  *body = std::span<const uint8_t>(buf_.get() + begin_ + proto::kHeaderSize, h->body_len);
  begin_ += proto::kHeaderSize + size_t{h->body_len};
  return Next::kFrame;
}

std::span<uint8_t> FrameReader::prepare() {
  if (begin_ == end_) {
    begin_ = end_ = 0;
    // A buffer grown for one big frame goes back to the usual size.
    if (cap_ != kUsualBytes) {
      buf_ = std::make_unique_for_overwrite<uint8_t[]>(kUsualBytes);
      cap_ = kUsualBytes;
    }
  } else if (begin_ > 0) {
    std::memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  SW_ASSERT(end_ < cap_);
  return std::span<uint8_t>(buf_.get() + end_, cap_ - end_);
}

void FrameReader::commit(size_t n) {
  SW_ASSERT(n <= cap_ - end_);
  end_ += n;
}

}  // namespace sidewal::server
