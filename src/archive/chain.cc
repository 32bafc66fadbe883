#include "archive/chain.h"

#include <algorithm>
#include <map>

namespace sidewal::archive {

Status build_chain(const std::vector<ObjectInfo>& listing, const std::string& seg_prefix,
                   uint64_t max_stamp_us, Chain* out) {
  *out = Chain{};
  std::map<uint64_t, std::vector<Piece>> groups;  // by F
  for (const ObjectInfo& o : listing) {
    if (o.key.compare(0, seg_prefix.size(), seg_prefix) != 0) {
      return Status::InvalidArgument("object " + o.key + " is not under " + seg_prefix);
    }
    if (!o.key.empty() && o.key.back() == '/') continue;  // a console's folder marker
    Piece p;
    p.key = o.key;
    p.size = o.size;
    if (!parse_piece_suffix(o.key.substr(seg_prefix.size()), &p.name)) {
      return Status::Corruption("object " + o.key +
                                " is not a piece name (docs/archive.md \"Pieces\")");
    }
    if (p.size != p.name.end - p.name.begin) {
      return Status::Corruption("object " + o.key + " holds " + std::to_string(p.size) +
                                " bytes; its name says " +
                                std::to_string(p.name.end - p.name.begin));
    }
    ++out->pieces;
    out->bytes += p.size;
    if (p.name.stamp_us > max_stamp_us) continue;
    out->max_stamp_us = std::max(out->max_stamp_us, p.name.stamp_us);
    std::vector<Piece>& g = groups[p.name.segment_first_lsn];
    if (!g.empty() && (g.front().name.segment_id != p.name.segment_id ||
                       g.front().name.file_bytes != p.name.file_bytes)) {
      return Status::Corruption("objects " + g.front().key + " and " + p.key +
                                " are pieces of one segment with different segment ids or "
                                "file sizes");
    }
    g.push_back(std::move(p));
  }

  bool started = false;
  for (auto& [first, pieces] : groups) {
    std::sort(pieces.begin(), pieces.end(), [](const Piece& a, const Piece& b) {
      return a.name.begin != b.name.begin ? a.name.begin < b.name.begin : a.name.end > b.name.end;
    });
    // Cover from offset 0: at each step, the piece reaching furthest among
    // those that hold offset c.
    ChainSegment seg;
    seg.first_lsn = first;
    seg.segment_id = pieces.front().name.segment_id;
    seg.file_bytes = pieces.front().name.file_bytes;
    uint64_t c = 0;
    std::vector<bool> taken(pieces.size(), false);
    for (;;) {
      size_t best = pieces.size();
      for (size_t i = 0; i < pieces.size(); ++i) {
        const PieceName& n = pieces[i].name;
        if (n.begin <= c && c < n.end && (best == pieces.size() || n.end > pieces[best].name.end)) {
          best = i;
        }
      }
      if (best == pieces.size()) break;
      const PieceName& n = pieces[best].name;
      const uint64_t want = n.begin == 0 ? first : seg.last_lsn + 1;
      if ((n.begin == c || n.begin == 0) && n.first_lsn != want) {
        return Status::Corruption("object " + pieces[best].key + " starts at lsn " +
                                  std::to_string(n.first_lsn) +
                                  "; the pieces before it end at lsn " + std::to_string(want - 1));
      }
      taken[best] = true;
      seg.cover.push_back(pieces[best]);
      c = pieces[best].name.end;
      seg.end = c;
      seg.last_lsn = pieces[best].name.last_lsn;
      seg.stamp_us = pieces[best].name.stamp_us;
    }
    if (!started && seg.cover.empty()) {
      for (Piece& p : pieces) out->before_start.push_back(std::move(p));
      continue;
    }
    if (out->gap.ok() && started && first != out->durable_lsn + 1) {
      out->gap = Status::NotFound(
          "archive gap: the chain ends at lsn " + std::to_string(out->durable_lsn) + " (object " +
          out->segments.back().cover.back().key + ") and the next object, " + pieces.front().key +
          ", starts segment " + std::to_string(first) + ": lsns " +
          std::to_string(out->durable_lsn + 1) + ".." + std::to_string(first - 1) + " are missing");
    }
    if (!out->gap.ok()) continue;
    for (size_t i = 0; i < pieces.size(); ++i) {
      if (taken[i]) continue;
      if (pieces[i].name.end <= c) {
        out->superseded.push_back(pieces[i]);
      } else if (out->gap.ok()) {
        out->gap = Status::NotFound(
            "archive gap in segment " + std::to_string(first) + ": its pieces end at offset " +
            std::to_string(c) + " (lsn " + std::to_string(seg.last_lsn) + ", object " +
            (seg.cover.empty() ? std::string("none") : seg.cover.back().key) +
            ") and the next object, " + pieces[i].key + ", starts at offset " +
            std::to_string(pieces[i].name.begin));
      }
    }
    if (seg.cover.empty()) continue;  // the gap says why
    started = true;
    if (out->segments.empty()) out->first_lsn = first;
    out->durable_lsn = seg.last_lsn;
    out->segments.push_back(std::move(seg));
    if (!out->gap.ok()) {
      // Pieces after the gap in this same segment: the segment stays in the
      // chain up to the gap; nothing after it does.
      continue;
    }
  }
  return Status::Ok();
}

}  // namespace sidewal::archive
