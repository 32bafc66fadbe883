#include "archive/restore.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>

#include "archive/archive_names.h"
#include "archive/local_generation.h"
#include "archive/segment_bytes.h"
#include "wal/codecs/format.h"
#include "wal/dwb.h"

namespace sidewal::archive {

namespace fmt = wal::format;

namespace {

// The archive's segment files were written with A = 4096 (docs/archive.md).
constexpr uint64_t kArchiveAlign = 4096;

Status write_segment_file(const std::string& path, const std::string& bytes, uint64_t file_bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return Status::FromErrno(errno, "create " + path);
  Status s;
  size_t done = 0;
  while (s.ok() && done < bytes.size()) {
    ssize_t n = ::pwrite(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      s = Status::FromErrno(n < 0 ? errno : EIO, "write " + path);
    else
      done += static_cast<size_t>(n);
  }
  // The rest of the file reads as zeros and is allocated, as the writer's
  // preallocated segments are.
  if (s.ok() && ::fallocate(fd, 0, 0, static_cast<off_t>(file_bytes)) != 0 &&
      ::ftruncate(fd, static_cast<off_t>(file_bytes)) != 0) {
    s = Status::FromErrno(errno, "extend " + path);
  }
  if (s.ok() && ::fsync(fd) != 0) s = Status::FromErrno(errno, "fsync " + path);
  ::close(fd);
  return s;
}

Status fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open " + dir);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  return rc == 0 ? Status::Ok() : Status::FromErrno(err, "fsync " + dir);
}

}  // namespace

Status list_generations(ObjectStore* store, const std::string& prefix,
                        std::vector<GenerationInfo>* out) {
  out->clear();
  const std::string gp = generations_prefix(prefix);
  std::vector<ObjectInfo> all;
  SIDEWAL_RETURN_IF_ERROR(store->list(gp, &all));
  std::map<std::string, std::vector<ObjectInfo>> by_gen;
  for (ObjectInfo& o : all) {
    const size_t slash = o.key.find('/', gp.size());
    if (slash == std::string::npos) continue;
    const std::string id = o.key.substr(gp.size(), slash - gp.size());
    std::vector<ObjectInfo>& v = by_gen[id];
    const std::string sp = segments_prefix(prefix, id);
    if (o.key.compare(0, sp.size(), sp) == 0) v.push_back(std::move(o));
  }
  for (auto& [id, objects] : by_gen) {
    GenerationInfo g;
    g.id = id;
    if (!valid_generation_id(id)) {
      g.problem = Status::Corruption("'" + gp + id + "/' is not a generation (16 hex digits)");
    } else {
      g.problem = build_chain(objects, segments_prefix(prefix, id), UINT64_MAX, &g.chain);
      if (g.problem.ok()) g.problem = g.chain.gap;
    }
    out->push_back(std::move(g));
  }
  return Status::Ok();
}

Status restore(ObjectStore* store, const RestoreOptions& o, RestoreReport* report) {
  *report = RestoreReport{};
  std::string gen = o.generation;
  if (gen.empty()) {
    std::vector<GenerationInfo> gens;
    SIDEWAL_RETURN_IF_ERROR(list_generations(store, o.prefix, &gens));
    uint64_t newest = 0;
    for (const GenerationInfo& g : gens) {
      if (!valid_generation_id(g.id) || g.chain.max_stamp_us == 0) continue;
      if (gen.empty() || g.chain.max_stamp_us > newest) {
        gen = g.id;
        newest = g.chain.max_stamp_us;
      }
    }
    if (gen.empty()) {
      return Status::NotFound("no generation with archived records under " +
                              generations_prefix(o.prefix));
    }
  } else if (!valid_generation_id(gen)) {
    return Status::InvalidArgument("generation '" + gen + "' is not 16 lowercase hex digits");
  }
  report->generation = gen;

  const std::string sp = segments_prefix(o.prefix, gen);
  std::vector<ObjectInfo> listing;
  SIDEWAL_RETURN_IF_ERROR(store->list(sp, &listing));
  Chain chain;
  SIDEWAL_RETURN_IF_ERROR(
      build_chain(listing, sp, o.to_time_us != 0 ? o.to_time_us : UINT64_MAX, &chain));
  if (chain.empty()) {
    return Status::NotFound(
        "generation " + gen + " holds no records" +
        (o.to_time_us ? " stamped at or before " + format_stamp(o.to_time_us) : std::string()) +
        (chain.gap.ok() ? "" : ": " + chain.gap.message()));
  }
  uint64_t target = o.to_lsn != 0 ? o.to_lsn : chain.durable_lsn;
  if (!chain.gap.ok() && target >= chain.durable_lsn) return chain.gap;
  if (target < chain.first_lsn || target > chain.durable_lsn) {
    return Status::NotFound("lsn " + std::to_string(target) + " is not in generation " + gen +
                            ", which holds lsns " + std::to_string(chain.first_lsn) + ".." +
                            std::to_string(chain.durable_lsn));
  }

  // The directory: missing or empty.
  std::error_code ec;
  std::filesystem::create_directories(o.dir, ec);
  if (ec) return Status::IoError("create " + o.dir + ": " + ec.message());
  if (!std::filesystem::is_empty(o.dir, ec) || ec) {
    return Status::InvalidArgument("restore into " + o.dir +
                                   ": the directory is not empty (a restore never overwrites)");
  }

  for (const ChainSegment& seg : chain.segments) {
    if (seg.first_lsn > target) break;
    if (seg.file_bytes % kArchiveAlign != 0 ||
        seg.file_bytes < (wal::dwb::kReservedPages + 1) * kArchiveAlign) {
      return Status::Corruption("object " + seg.cover.front().key + ": segment size " +
                                std::to_string(seg.file_bytes) + " is not a segment file's");
    }
    const uint64_t records_end = wal::dwb::records_end(seg.file_bytes, kArchiveAlign);
    std::string bytes(seg.end, '\0');
    const uint64_t stop = std::min(seg.last_lsn, target);
    uint64_t c = 0;  // bytes [0, c) are in place and checked
    uint64_t next_lsn = seg.first_lsn;
    fmt::Preamble pre;
    for (const Piece& p : seg.cover) {
      if (next_lsn > stop) break;
      std::string body;
      Status g = store->get(p.key, &body);
      if (!g.ok()) return Status(g.code(), "object " + p.key + ": " + g.message());
      ++report->pieces;
      report->bytes += body.size();
      if (body.size() != p.name.end - p.name.begin) {
        return Status::Corruption("object " + p.key + " holds " + std::to_string(body.size()) +
                                  " bytes; its name says " +
                                  std::to_string(p.name.end - p.name.begin));
      }
      if (p.name.begin < c &&
          std::memcmp(bytes.data() + p.name.begin, body.data(), c - p.name.begin) != 0) {
        return Status::Corruption("object " + p.key +
                                  " disagrees with the pieces before it over the bytes they share");
      }
      std::memcpy(bytes.data() + p.name.begin, body.data(), body.size());
      uint64_t pos = c;
      if (c == 0) {
        SIDEWAL_RETURN_IF_ERROR(
            fmt::decode_preamble(reinterpret_cast<const uint8_t*>(bytes.data()),
                                 std::min<uint64_t>(bytes.size(), fmt::kMaxPreambleBytes),
                                 "object " + p.key, &pre));
        if (pre.segment_id != seg.segment_id) {
          return Status::Corruption("object " + p.key + ": preamble segment id " +
                                    std::to_string(pre.segment_id) + ", its name says " +
                                    std::to_string(seg.segment_id));
        }
        pos = fmt::records_offset(pre);
      }
      ByteView view = [&bytes](uint64_t off, size_t n) -> Result<const uint8_t*> {
        if (off + n > bytes.size()) return Status::Corruption("read past the piece");
        return reinterpret_cast<const uint8_t*>(bytes.data()) + off;
      };
      WalkResult w;
      const uint64_t piece_stop = std::min(p.name.last_lsn, stop);
      SIDEWAL_RETURN_IF_ERROR(walk_records(view, pos, std::min(p.name.end, records_end),
                                           seg.segment_id, next_lsn, piece_stop, 0,
                                           "object " + p.key, &w));
      if (w.last_lsn != piece_stop) {
        return Status::Corruption("object " + p.key + " ends at lsn " + std::to_string(w.last_lsn) +
                                  "; its name says " + std::to_string(p.name.last_lsn));
      }
      if (piece_stop == p.name.last_lsn && w.end != p.name.end) {
        return Status::Corruption("object " + p.key + ": its records end at offset " +
                                  std::to_string(w.end) + "; its name says " +
                                  std::to_string(p.name.end));
      }
      if (w.batch_last_lsn != piece_stop) {
        // Only possible when the restore stops inside the piece.
        // The next batch end: one record at a time from the stop.
        uint64_t after = 0;
        uint64_t at = w.end;
        for (uint64_t l = piece_stop + 1; l <= p.name.last_lsn; ++l) {
          WalkResult one;
          if (!walk_records(view, at, std::min(p.name.end, records_end), seg.segment_id, l, l, 0,
                            "object " + p.key, &one)
                   .ok()) {
            break;
          }
          if (one.batch_last_lsn == l) {
            after = l;
            break;
          }
          at = one.end;
        }
        return Status::InvalidArgument(
            "lsn " + std::to_string(piece_stop) +
            " is inside a batch: a log can only end at a batch end; the nearest are " +
            std::to_string(w.batch_last_lsn) +
            (after ? " and " + std::to_string(after) : std::string()));
      }
      report->records += w.last_lsn - next_lsn + 1;
      next_lsn = w.last_lsn + 1;
      c = w.end;
    }
    bytes.resize(c);
    SIDEWAL_RETURN_IF_ERROR(write_segment_file(o.dir + "/" + fmt::segment_file_name(seg.first_lsn),
                                               bytes, seg.file_bytes));
    ++report->segments;
    if (report->first_lsn == 0) report->first_lsn = seg.first_lsn;
    report->last_lsn = next_lsn - 1;
  }
  SIDEWAL_RETURN_IF_ERROR(write_generation_file(o.dir, gen));
  return fsync_dir(o.dir);
}

}  // namespace sidewal::archive
