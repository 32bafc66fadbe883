// `verify` and `dump`: read a data directory directly, without a daemon,
// through wal::inspect_dir (read-only: never writes, truncates or creates).
//
// Both hold a shared lock on the directory (wal/dir_lock.h) while they read,
// so no daemon can start and repair the log under them. When a live daemon
// holds it exclusively they say so on stderr and read anyway: reading is
// safe, but the log is live (the last flush may be half-seen, a segment may
// roll over or be truncated mid-scan).
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "wal/codecs/secure_key.h"
#include "wal/codecs/segment_keys.h"
#include "wal/control/control_records.h"
#include "wal/control/tombstones.h"
#include "wal/dir_lock.h"
#include "wal/io/io_backend.h"
#include "wal/wal.h"

namespace sidewal::cli {
namespace {

const char* cipher_name(uint8_t cipher) {
  switch (cipher) {
    case 0: return "none";
    case 1: return "aes-256-gcm";
  }
  return "unknown";
}

void print_segment(std::FILE* out, const wal::SegmentInfo& s) {
  // Encrypted segments say their key id (and fingerprint), so an operator can
  // tell when no segment needs an old key any more.
  std::string key;
  if (s.cipher != 0) {
    key = " key_id " + std::to_string(s.key_id) + " fingerprint " +
          wal::fingerprint_hex(s.key_fingerprint);
    if (!s.key_problem.empty()) key += " key: MISSING (" + s.key_problem + ")";
  }
  std::fprintf(out,
               "segment %s id %llu lsn %llu..%llu records %llu valid_bytes %llu cipher %s%s %s%s\n",
               s.path.c_str(), static_cast<unsigned long long>(s.segment_id),
               static_cast<unsigned long long>(s.first_lsn),
               static_cast<unsigned long long>(s.last_lsn),
               static_cast<unsigned long long>(s.records),
               static_cast<unsigned long long>(s.valid_bytes), cipher_name(s.cipher), key.c_str(),
               s.problem.empty() ? "ok" : "problem: ", s.problem.c_str());
}

// "ID=FILE" specs into a KeyRing (no current key: reading only).
Result<std::shared_ptr<const wal::KeyRing>> load_keys(const std::vector<std::string>& specs) {
  if (specs.empty()) return std::shared_ptr<const wal::KeyRing>();
  auto ring = std::make_shared<wal::KeyRing>();
  for (const std::string& spec : specs) {
    const size_t eq = spec.find('=');
    uint64_t id = 0;
    bool ok = eq != std::string::npos && eq > 0 && eq + 1 < spec.size() && eq <= 5;
    for (size_t i = 0; ok && i < eq; ++i) {
      ok = spec[i] >= '0' && spec[i] <= '9';
      id = id * 10 + static_cast<uint64_t>(spec[i] - '0');
    }
    if (!ok || id == 0 || id > 65535) {
      return Status::InvalidArgument("--key " + spec + ": expected ID=FILE with ID in 1..65535");
    }
    const std::string file = spec.substr(eq + 1);
    Result<std::unique_ptr<wal::SecureKey>> key = wal::SecureKey::load_file(file);
    if (!key.ok()) {
      return Status(key.status().code(),
                    "--key " + std::to_string(id) + ": " + key.status().message());
    }
    SIDEWAL_RETURN_IF_ERROR(ring->add(static_cast<uint16_t>(id), std::move(*key)));
  }
  return std::shared_ptr<const wal::KeyRing>(std::move(ring));
}

void print_report(std::FILE* out, const wal::RecoveryReport& r) {
  std::fprintf(
      out, "log first_lsn %llu durable_lsn %llu records %llu segments %llu bytes_on_disk %llu\n",
      static_cast<unsigned long long>(r.first_lsn), static_cast<unsigned long long>(r.durable_lsn),
      static_cast<unsigned long long>(r.records), static_cast<unsigned long long>(r.segments),
      static_cast<unsigned long long>(r.bytes_on_disk));
  if (r.discarded_bytes != 0 || r.discarded_records != 0 || !r.discarded_why.empty()) {
    // A torn or incomplete tail is what a crash leaves; recovery cuts it and
    // no acknowledged record is lost.
    std::fprintf(out, "tail recovery would cut %llu bytes, %llu records: %s\n",
                 static_cast<unsigned long long>(r.discarded_bytes),
                 static_cast<unsigned long long>(r.discarded_records), r.discarded_why.c_str());
  }
  if (r.dwb_restores != 0) {
    // A torn page whose acknowledged records the double-write slots hold:
    // recovery writes it back, nothing is lost.
    std::fprintf(out,
                 "recovery would restore %llu pages (%llu records) from the double-write "
                 "slots: %s\n",
                 static_cast<unsigned long long>(r.dwb_restores),
                 static_cast<unsigned long long>(r.dwb_restored_records), r.dwb_why.c_str());
  }
  if (r.corruption) std::fprintf(out, "CORRUPTION at %s\n", r.corruption_at.c_str());
}

// The shared lock for the scan, or null when the scan runs without one; the
// reasons it cannot be had go to stderr (none for a directory without a
// LOCK file: no writer ever opened it, or it does not exist, which the scan
// reports itself).
std::unique_ptr<wal::DirLock> lock_shared(const char* cmd, const std::string& dir) {
  wal::LockHolder holder;
  Result<std::unique_ptr<wal::DirLock>> lock =
      wal::DirLock::acquire(dir, wal::DirLock::Mode::kShared, &holder);
  if (lock.ok()) return std::move(lock).value();
  if (lock.status().code() == Code::kBusy) {
    std::fprintf(stderr,
                 "sidewal %s: a live sidewald (%s) holds %s; reading a live log read-only "
                 "(results may end mid-flush)\n",
                 cmd, wal::describe_holder(holder).c_str(), dir.c_str());
  } else if (lock.status().code() != Code::kNotFound) {
    std::fprintf(stderr, "sidewal %s: reading %s without the shared lock: %s\n", cmd, dir.c_str(),
                 lock.status().ToString().c_str());
  }
  return nullptr;
}

// Runs inspect_dir under the shared lock; prints segment lines to `out` (and,
// with `on_record`, records).
Status inspect(const char* cmd, const std::string& dir, std::FILE* out,
               const std::function<void(const wal::Record&)>& on_record,
               wal::RecoveryReport* report, const std::vector<std::string>& key_specs) {
  Result<std::shared_ptr<const wal::KeyRing>> keys = load_keys(key_specs);
  if (!keys.ok()) return keys.status();
  const std::unique_ptr<wal::DirLock> lock = lock_shared(cmd, dir);
  std::string why;
  // A read-only scan gains nothing from io_uring; pwrite always works.
  auto io = wal::make_backend(wal::BackendKind::kPwrite, &why);
  if (io == nullptr) return Status::Unsupported("no I/O backend: " + why);
  return wal::inspect_dir(
      dir, io.get(), [out](const wal::SegmentInfo& seg) { print_segment(out, seg); }, on_record,
      report, *keys);
}

}  // namespace

// What verify says about the records it kept: counts per type and tenant,
// and what the control records leave in force (docs/control-records.md).
struct Census {
  std::map<uint16_t, uint64_t> by_type;
  std::map<uint32_t, uint64_t> by_tenant;
  wal::ReplayState replay;
  uint64_t malformed_control = 0;
  std::string first_malformed;

  void add(const wal::Record& r) {
    ++by_type[r.type];
    ++by_tenant[r.tenant];
    Status st = replay.add(r);
    if (!st.ok() && malformed_control++ == 0) first_malformed = st.message();
  }

  void print(std::FILE* out) const {
    std::fprintf(out, "records by type:");
    for (const auto& [type, n] : by_type) {
      std::fprintf(out, " 0x%04x=%llu", type, static_cast<unsigned long long>(n));
    }
    std::fprintf(out, "\nrecords by tenant:");
    for (const auto& [tenant, n] : by_tenant) {
      std::fprintf(out, " %u=%llu", tenant, static_cast<unsigned long long>(n));
    }
    std::fprintf(out, "\ntombstones in force %zu\n", replay.tombstones().size());
    std::map<std::pair<uint32_t, std::string>, uint64_t> sorted;
    replay.tombstones().for_each([&](uint32_t tenant, const std::string& c, uint64_t purge) {
      sorted[{tenant, c}] = purge;
    });
    for (const auto& [key, purge] : sorted) {
      std::vector<uint8_t> payload;
      // describe() escapes the name exactly as dump shows it.
      if (wal::encode_collection_tombstone({key.first, key.second, purge}, &payload).ok()) {
        std::fprintf(out, "  %s\n", wal::describe(wal::kTypeCollectionTombstone, payload).c_str());
      }
    }
    std::map<uint32_t, wal::CalvinMarker> markers(replay.calvin_markers().begin(),
                                                  replay.calvin_markers().end());
    for (const auto& [shard, m] : markers) {
      std::fprintf(out, "calvin shard %u applied epoch %llu position %u (lsn %llu)\n", shard,
                   static_cast<unsigned long long>(m.applied.epoch), m.applied.position,
                   static_cast<unsigned long long>(m.lsn));
    }
    std::fprintf(out, "temporal purges %zu\n", replay.temporal_purges().size());
    if (malformed_control != 0) {
      std::fprintf(out, "MALFORMED control records %llu, first: %s\n",
                   static_cast<unsigned long long>(malformed_control), first_malformed.c_str());
    }
  }
};

int run_verify(const std::string& data_dir, bool strict, const std::vector<std::string>& keys) {
  wal::RecoveryReport report;
  Census census;
  Status s = inspect(
      "verify", data_dir, stdout, [&](const wal::Record& r) { census.add(r); }, &report, keys);
  if (!s.ok()) {
    std::fprintf(stderr, "sidewal verify %s: %s\n", data_dir.c_str(), s.ToString().c_str());
    return kExitFailed;
  }
  print_report(stdout, report);
  census.print(stdout);
  if (report.corruption) {
    std::fprintf(stderr, "sidewal verify %s: Corruption: %s\n", data_dir.c_str(),
                 report.corruption_at.c_str());
    return kExitFailed;
  }
  // A CRC-valid control record whose payload does not decode: replay would
  // refuse it (ReplayState: Corruption naming its LSN).
  if (census.malformed_control != 0) {
    std::fprintf(stderr, "sidewal verify %s: Corruption: %s\n", data_dir.c_str(),
                 census.first_malformed.c_str());
    return kExitFailed;
  }
  // After a clean shutdown there is no tail to cut; --strict treats one as
  // damage (a bit flip in the last flush looks exactly like a torn write).
  if (strict && (report.discarded_bytes != 0 || report.discarded_records != 0)) {
    std::fprintf(stderr,
                 "sidewal verify %s: Corruption (--strict): recovery would cut the tail: %s\n",
                 data_dir.c_str(), report.discarded_why.c_str());
    return kExitFailed;
  }
  std::printf("verify ok\n");
  return kExitOk;
}

int run_dump(const std::string& data_dir, uint64_t from, PayloadStyle style,
             const std::vector<std::string>& keys) {
  wal::RecoveryReport report;
  // With --raw, stdout carries only payloads; the segment lines go to stderr.
  std::FILE* info = style == PayloadStyle::kRaw ? stderr : stdout;
  Status s = inspect(
      "dump", data_dir, info,
      [&](const wal::Record& r) {
        if (r.lsn < from) return;
        if (style != PayloadStyle::kRaw && wal::is_control_type(r.type)) {
          // Control records decoded (a malformed one is shown, not hidden).
          std::fprintf(stdout, "%llu %u %u %s\n", static_cast<unsigned long long>(r.lsn), r.type,
                       r.tenant, wal::describe(r.type, r.payload).c_str());
          return;
        }
        print_record(stdout, style, r.lsn, r.type, r.tenant, r.payload);
      },
      &report, keys);
  if (!s.ok()) {
    std::fprintf(stderr, "sidewal dump %s: %s\n", data_dir.c_str(), s.ToString().c_str());
    return kExitFailed;
  }
  print_report(info, report);
  if (report.corruption) {
    std::fprintf(stderr, "sidewal dump %s: Corruption: %s\n", data_dir.c_str(),
                 report.corruption_at.c_str());
    return kExitFailed;
  }
  return kExitOk;
}

}  // namespace sidewal::cli
