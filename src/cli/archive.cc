// `sidewal restore` and `sidewal archive list` (docs/archive.md): the
// archive library over an ObjectStore. The S3 client is opened by
// open_archive_store() (archive_store.cc, built when the S3 target is).
#include <cstdio>
#include <memory>
#include <string>

#include "archive/archive_names.h"
#include "archive/restore.h"
#include "cli/archive_commands.h"
#include "wal/io/io_backend.h"
#include "wal/wal.h"

namespace sidewal::cli {
namespace {

unsigned long long u(uint64_t v) { return static_cast<unsigned long long>(v); }

int fail(const Status& s) {
  std::fprintf(stderr, "sidewal: %s\n", s.ToString().c_str());
  return kExitFailed;
}

}  // namespace

int restore_from_store(archive::ObjectStore* store, const std::string& prefix,
                       const RestoreArgs& a) {
  archive::RestoreOptions o;
  o.prefix = prefix;
  o.dir = a.data_dir;
  o.generation = a.generation;
  o.to_lsn = a.to_lsn;
  if (!a.to_time.empty() && !archive::parse_rfc3339(a.to_time, &o.to_time_us)) {
    std::fprintf(stderr, "sidewal: --to-time %s: expected RFC 3339 (2026-12-06T02:59:00Z)\n",
                 a.to_time.c_str());
    return kExitUsage;
  }
  archive::RestoreReport rep;
  Status s = archive::restore(store, o, &rep);
  if (!s.ok()) return fail(s);
  // The same scan recovery runs: the restored directory must open as a log
  // ending exactly where the restore says.
  auto io = wal::make_backend(wal::BackendKind::kPwrite, nullptr);
  wal::RecoveryReport check;
  s = wal::inspect_dir(a.data_dir, io.get(), {}, {}, &check);
  if (!s.ok()) return fail(Status(s.code(), "the restored log does not verify: " + s.message()));
  if (check.corruption || check.durable_lsn != rep.last_lsn || check.discarded_records != 0) {
    return fail(Status::Corruption("the restored log in " + a.data_dir + " ends at lsn " +
                                   std::to_string(check.durable_lsn) + ", expected " +
                                   std::to_string(rep.last_lsn) + " " + check.corruption_at +
                                   check.discarded_why));
  }
  std::printf(
      "restored generation %s into %s: lsn %llu..%llu, %llu records, %llu segments, "
      "%llu bytes from %llu objects\n",
      rep.generation.c_str(), a.data_dir.c_str(), u(rep.first_lsn), u(rep.last_lsn), u(rep.records),
      u(rep.segments), u(rep.bytes), u(rep.pieces));
  return kExitOk;
}

int list_archive_of_store(archive::ObjectStore* store, const std::string& prefix) {
  std::vector<archive::GenerationInfo> gens;
  Status s = archive::list_generations(store, prefix, &gens);
  if (!s.ok()) return fail(s);
  if (gens.empty()) {
    std::printf("no generations under %s\n", archive::generations_prefix(prefix).c_str());
    return kExitOk;
  }
  bool damaged = false;
  for (const archive::GenerationInfo& g : gens) {
    const archive::Chain& c = g.chain;
    std::printf(
        "generation %s lsn %llu..%llu durable_lsn %llu segments %zu objects %llu bytes "
        "%llu newest %s%s%s\n",
        g.id.c_str(), u(c.first_lsn), u(c.durable_lsn), u(c.durable_lsn), c.segments.size(),
        u(c.pieces), u(c.bytes),
        c.max_stamp_us ? archive::format_stamp(c.max_stamp_us).c_str() : "-",
        g.problem.ok() ? "" : " problem: ", g.problem.ok() ? "" : g.problem.ToString().c_str());
    for (const archive::ChainSegment& seg : c.segments) {
      std::printf(
          "  segment %020llu id %llu lsn %llu..%llu bytes %llu of %llu objects %zu "
          "stamp %s\n",
          u(seg.first_lsn), u(seg.segment_id), u(seg.first_lsn), u(seg.last_lsn), u(seg.end),
          u(seg.file_bytes), seg.cover.size(), archive::format_stamp(seg.stamp_us).c_str());
    }
    if (!c.before_start.empty()) {
      std::printf("  %zu objects before the first complete segment (expired?), e.g. %s\n",
                  c.before_start.size(), c.before_start.front().key.c_str());
    }
    if (!c.superseded.empty()) {
      std::printf("  %zu superseded objects left by compaction\n", c.superseded.size());
    }
    damaged = damaged || !g.problem.ok();
  }
  return damaged ? kExitFailed : kExitOk;
}

int run_restore(const RestoreArgs& a) {
  std::string prefix;
  auto store = open_archive_store(a.store, &prefix);
  if (!store.ok()) return fail(store.status());
  return restore_from_store(store.value().get(), prefix, a);
}

int run_archive_list(const ArchiveStoreArgs& a) {
  std::string prefix;
  auto store = open_archive_store(a, &prefix);
  if (!store.ok()) return fail(store.status());
  return list_archive_of_store(store.value().get(), prefix);
}

}  // namespace sidewal::cli
