#include "wal/segment_file.h"

#include <algorithm>
#include <cstring>

#include "wal/codecs/format.h"
#include "wal/io/aligned_buffer.h"

namespace sidewal::wal {

std::string join_path(const std::string& dir, const std::string& name) {
  if (!dir.empty() && dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

Status create_spare_segment(IoBackend* io, const std::string& path, uint64_t segment_id,
                            uint64_t bytes, size_t alignment) {
  format::Preamble p;
  p.segment_id = segment_id;
  return create_spare_segment(io, path, p, bytes, alignment);
}

Status create_spare_segment(IoBackend* io, const std::string& path,
                            const format::Preamble& preamble, uint64_t bytes, size_t alignment,
                            ZeroFill fill) {
  SW_ASSERT(bytes % alignment == 0 && bytes >= alignment);
  OpenOptions o;
  o.create = true;
  o.exclusive = true;
  o.direct = true;
  Result<FileHandle> f = io->open(path, o);
  if (!f.ok()) return f.status();
  Status st = io->preallocate_zeroed(*f, bytes, fill);
  if (st.ok()) {
    AlignedBuffer page(alignment, alignment);
    format::encode_preamble(preamble, page.data());
    st = io->write_and_sync(*f, 0, page.data(), alignment);
  }
  Status cst = io->close(*f);
  if (st.ok()) st = cst;
  if (!st.ok()) (void)io->remove(path);  // best effort: a spare is never part of the log
  return st;
}

Status zero_segment_range(IoBackend* io, FileHandle file, const std::string& path, uint64_t from,
                          uint64_t to, size_t alignment) {
  if (to <= from) return Status::Ok();
  constexpr uint64_t kChunk = 1 << 20;
  uint64_t start = format::round_down(from, alignment);
  uint64_t end = format::round_up(to, alignment);
  AlignedBuffer buf(alignment, std::min<uint64_t>(kChunk, end - start));
  // Keep what lies below `from` in its page.
  if (from > start) {
    size_t got = 0;
    SIDEWAL_RETURN_IF_ERROR(io->read(file, start, buf.data(), alignment, &got));
    if (got != alignment) {
      return Status::IoError("short read of " + path + " at offset " + std::to_string(start) +
                             " while cutting the torn tail");
    }
    std::memset(buf.data() + (from - start), 0, alignment - (from - start));
  }
  for (uint64_t off = start; off < end;) {
    uint64_t n = std::min<uint64_t>(buf.size(), end - off);
    SIDEWAL_RETURN_IF_ERROR(io->write(file, off, buf.data(), n));
    if (off == start && from > start) std::memset(buf.data(), 0, alignment);
    off += n;
  }
  return io->sync(file);
}

}  // namespace sidewal::wal
