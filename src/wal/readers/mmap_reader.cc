#include "wal/readers/mmap_reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <vector>

#include "wal/dwb.h"
#include "wal/io/io_posix.h"
#include "wal/segment_file.h"

namespace sidewal::wal {
namespace {

// One mapped segment; unmapped and closed on destruction.
struct Mapping {
  int fd = -1;
  uint8_t* base = nullptr;
  uint64_t size = 0;
  ~Mapping() {
    if (base != nullptr) ::munmap(base, size);
    if (fd >= 0) ::close(fd);
  }
};

// Gives [from, to) of the mapping back: unmaps the pages from this process
// and drops them from the page cache (they are clean: the log never writes
// through this mapping).
void release(Mapping& m, uint64_t from, uint64_t to, MmapReaderStats* stats) {
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  from = format::round_down(from, page);
  to = std::min(format::round_down(to, page), m.size);
  if (to <= from) return;
  (void)::madvise(m.base + from, to - from, MADV_DONTNEED);
  (void)::posix_fadvise(m.fd, static_cast<off_t>(from), static_cast<off_t>(to - from),
                        POSIX_FADV_DONTNEED);
  stats->bytes_released += to - from;
}

}  // namespace

Status mmap_replay(const std::string& dir, uint64_t from_lsn, uint64_t to_lsn,
                   const std::function<bool(const MmapRecord&)>& on_record, MmapReaderStats* stats,
                   uint64_t release_bytes, std::shared_ptr<SegmentKeys> keys) {
  RecordCipher cipher;
  std::vector<uint8_t> plain;
  *stats = MmapReaderStats{};
  std::vector<std::pair<uint64_t, std::string>> segs;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    uint64_t first = 0;
    const std::string name = e.path().filename().string();
    if (format::parse_segment_file_name(name, &first))
      segs.emplace_back(first, join_path(dir, name));
  }
  if (ec) return Status::FromErrno(ec.value(), "listing " + dir);
  std::sort(segs.begin(), segs.end());
  if (segs.empty()) return Status::Ok();
  if (from_lsn < segs.front().first) {
    return Status::Truncated("lsn " + std::to_string(from_lsn) +
                             " was truncated; the log starts at lsn " +
                             std::to_string(segs.front().first));
  }
  size_t i = std::upper_bound(segs.begin(), segs.end(), from_lsn,
                              [](uint64_t v, const auto& s) { return v < s.first; }) -
             segs.begin() - 1;
  uint64_t expected = segs[i].first;
  // The double-write slots at the end of every segment are sized by the
  // directory's O_DIRECT alignment (docs/format.md); a directory that cannot
  // be probed (read-only, no O_DIRECT) is taken to use the usual 4096.
  size_t align = posix::kMinDirectAlignment;
  if (Result<posix::AlignmentProbe> a = posix::probe_direct_alignment(dir); a.ok()) {
    align = a->alignment;
  }
  for (; i < segs.size() && expected <= to_lsn; ++i) {
    const std::string& path = segs[i].second;
    const bool last = i + 1 == segs.size();
    const uint64_t next_first = last ? UINT64_MAX : segs[i + 1].first;
    Mapping m;
    m.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (m.fd < 0) return Status::FromErrno(errno, "open " + path);
    struct stat st;
    if (::fstat(m.fd, &st) != 0) return Status::FromErrno(errno, "fstat " + path);
    m.size = static_cast<uint64_t>(st.st_size);
    if (m.size < format::kPreambleBytes) {
      return Status::Corruption("segment " + path + ": shorter than its preamble");
    }
    void* p = ::mmap(nullptr, m.size, PROT_READ, MAP_SHARED, m.fd, 0);
    if (p == MAP_FAILED) return Status::FromErrno(errno, "mmap " + path);
    m.base = static_cast<uint8_t*>(p);
    (void)::madvise(m.base, m.size, MADV_SEQUENTIAL);
    ++stats->segments;
    format::Preamble pre;
    SIDEWAL_RETURN_IF_ERROR(
        format::decode_preamble(m.base, std::min<uint64_t>(m.size, format::kMaxPreambleBytes), path,
                                &pre));
    std::shared_ptr<const SecureKey> seg_key;
    if (pre.cipher != format::kCipherNone) {
      if (keys == nullptr) {
        return Status::NotFound("segment " + path + " is encrypted with key id " +
                                std::to_string(pre.key_id) + " and no keys were given");
      }
      Result<std::shared_ptr<const SecureKey>> k = keys->segment_key(pre, path);
      if (!k.ok()) return k.status();
      seg_key = *k;
    }
    uint64_t pos = format::records_offset(pre);
    const uint64_t records_end = std::max<uint64_t>(pos, dwb::records_end(m.size, align));
    uint64_t released = 0;
    while (expected < next_first && expected <= to_lsn) {
      format::RecordHeader h;
      std::string why;
      const format::RecordCheck r =
          format::check_record(m.base + pos, records_end - std::min(pos, records_end),
                               pre.segment_id, expected, &h, &why);
      if (r == format::RecordCheck::kEnd && last && to_lsn == UINT64_MAX) break;
      if (r != format::RecordCheck::kValid) {
        return Status::Corruption("segment " + path + " offset " + std::to_string(pos) +
                                  ": reading lsn " + std::to_string(expected) + ": " +
                                  (r == format::RecordCheck::kEnd ? "records end here" : why));
      }
      if (expected >= from_lsn) {
        const uint8_t* payload = m.base + pos + format::kHeaderBytes;
        format::RecordHeader out = h;
        if (seg_key != nullptr) {
          plain.resize(
              std::max<size_t>(1, h.payload_len >= kTagBytes ? h.payload_len - kTagBytes : 0));
          SIDEWAL_RETURN_IF_ERROR(
              open_record(cipher, *seg_key, pre.segment_id, h, payload, plain.data(), path, pos));
          out.payload_len -= kTagBytes;
          payload = plain.data();
        }
        ++stats->records;
        stats->payload_bytes += out.payload_len;
        if (!on_record(MmapRecord{out, payload})) {
          release(m, released, m.size, stats);
          return Status::Ok();
        }
      }
      pos += format::record_bytes(h.payload_len);
      ++expected;
      if (pos - released >= release_bytes) {
        release(m, released, pos, stats);
        released = format::round_down(pos, static_cast<uint64_t>(::sysconf(_SC_PAGESIZE)));
      }
    }
    release(m, released, m.size, stats);
  }
  return Status::Ok();
}

}  // namespace sidewal::wal
