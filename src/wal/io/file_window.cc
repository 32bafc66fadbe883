#include "wal/io/file_window.h"

#include <algorithm>
#include <cstring>

#include "wal/codecs/format.h"

namespace sidewal::wal {

FileWindow::FileWindow(IoBackend* io, FileHandle file, std::string path, uint64_t file_size,
                       size_t alignment, size_t window_bytes)
    : io_(io),
      file_(file),
      path_(std::move(path)),
      file_size_(file_size),
      alignment_(alignment),
      window_bytes_(format::round_up(window_bytes, alignment)),
      records_end_(file_size) {}

void FileWindow::add_overlay(uint64_t offset, std::vector<uint8_t> page) {
  SW_ASSERT(offset % alignment_ == 0 && page.size() <= alignment_ && offset < file_size_);
  remove_overlay(offset);
  overlays_.emplace_back(offset, std::move(page));
  apply_overlays();
}

void FileWindow::remove_overlay(uint64_t offset) {
  for (auto it = overlays_.begin(); it != overlays_.end(); ++it) {
    if (it->first == offset) {
      overlays_.erase(it);
      // The buffer may hold the overlay's bytes: read the file again.
      buf_valid_ = 0;
      return;
    }
  }
}

void FileWindow::apply_overlays() {
  for (const auto& [off, bytes] : overlays_) {
    const uint64_t from = std::max(off, buf_offset_);
    const uint64_t to = std::min(off + bytes.size(), buf_offset_ + buf_valid_);
    if (from < to) {
      std::memcpy(buf_.data() + (from - buf_offset_), bytes.data() + (from - off), to - from);
    }
  }
}

Status FileWindow::get(uint64_t offset, uint64_t len, const uint8_t** out, uint64_t read_bytes) {
  SW_ASSERT(offset + len <= file_size_);
  if (offset >= buf_offset_ && offset + len <= buf_offset_ + buf_valid_) {
    *out = buf_.data() + (offset - buf_offset_);
    return Status::Ok();
  }
  uint64_t start = format::round_down(offset, alignment_);
  uint64_t need = format::round_up(offset + len, alignment_) - start;
  uint64_t want = std::max<uint64_t>(need, read_bytes == 0 ? window_bytes_ : read_bytes);
  want = std::min<uint64_t>(want, format::round_up(file_size_, alignment_) - start);
  if (buf_.size() < want) buf_.reset(alignment_, want);
  size_t got = 0;
  Status st = io_->read(file_, start, buf_.data(), want, &got);
  if (!st.ok()) {
    buf_valid_ = 0;
    return st;
  }
  buf_offset_ = start;
  buf_valid_ = got;
  apply_overlays();
  if (offset + len > buf_offset_ + buf_valid_) {
    return Status::IoError("short read of " + path_ + " at offset " + std::to_string(start) +
                           ": got " + std::to_string(got) + " of " + std::to_string(want) +
                           " bytes before the end of a " + std::to_string(file_size_) +
                           "-byte file");
  }
  *out = buf_.data() + (offset - buf_offset_);
  return Status::Ok();
}

}  // namespace sidewal::wal
