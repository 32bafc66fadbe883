// Deterministic simulation of power loss and media faults (SimDisk). One
// seed decides the workload (batch count and sizes, record sizes, segment
// size, pipelining), the crash model (what happens to unsynced writes), and
// one fault scenario:
//   crash      power fails at the n-th step of one kind (write/fdatasync to a
//              segment, rename, directory fsync, spare creation, ...)
//   tear       the n-th write to a segment lands only its first k sectors
//   eio-sync   the n-th fdatasync of a segment fails with EIO (fail-stop)
//   enospc     creating spare segments fails with ENOSPC for a while
//   read-error after the crash, a latent read error in a segment
//   bit-flip   after the crash, one bit flipped at rest in a segment
// then power loss, recovery and the checks (LogChecker): contiguous LSNs,
// only records that were appended, whole batches in append order, and every
// ACKed record identical at its LSN. A media fault may make recovery refuse
// the log (Corruption for a flip, IoError for a read error) or cut and
// report records (a flip in the last flush looks like a torn write,
// docs/format.md "Recovery"), but a damaged record is never returned as
// data and an ACKed record is never dropped silently. After a successful
// recovery one more batch must append at the next LSN and survive another
// power loss.
//
// Determinism: the fault is chosen by operation and path kind (".wal" vs
// ".spare"), counted per kind, never by a global step number, so it fires at
// the same point of the same thread's work whatever the engine's preparer
// thread (spare pre-creation) does meanwhile. In the default "lockstep" mode
// each batch is appended only after the previous one completed, so the data
// path's I/O is identical on every run of a seed. "Pipelined" seeds (one in
// four) keep up to 8 batches in flight: how the flusher groups them depends
// on thread timing, so such a seed reproduces the same workload and fault
// plan but not necessarily the same group boundaries.
//
//   SIDEWAL_SIM_SEEDS=N   seeds (default 2000; ctest sets 5000, 1000 under ASan)
//   SIDEWAL_SIM_BASE=B    first seed (default 1), to explore further seeds
//   SIDEWAL_SIM_SEED=S    run only seed S, with the SimDisk trace printed
#include <gtest/gtest.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <sstream>

#include "../reliability/log_checker.h"
#include "testing/sim_disk.h"
#include "wal/wal.h"

namespace sidewal::reliability {
namespace {

using wal::RecordIn;
using wal::SimDisk;
using wal::Wal;
using wal::WalOptions;

enum class Scenario : uint8_t { kCrash, kTear, kEioSync, kNoSpace, kReadError, kBitFlip };
constexpr int kScenarios = 6;
const char* scenario_name(Scenario s) {
  switch (s) {
    case Scenario::kCrash: return "crash";
    case Scenario::kTear: return "tear";
    case Scenario::kEioSync: return "eio-sync";
    case Scenario::kNoSpace: return "enospc";
    case Scenario::kReadError: return "read-error";
    case Scenario::kBitFlip: return "bit-flip";
  }
  return "?";
}
const char* model_name(SimDisk::CrashModel m) {
  switch (m) {
    case SimDisk::CrashModel::kRandom: return "random";
    case SimDisk::CrashModel::kDropUnsynced: return "drop-unsynced";
    case SimDisk::CrashModel::kTearLast: return "tear-last";
    case SimDisk::CrashModel::kProcessCrash: return "process-crash";
    case SimDisk::CrashModel::kTearGarbage: return "tear-garbage";
  }
  return "?";
}

bool ends_with(const std::string& s, const char* suffix) {
  const std::string x(suffix);
  return s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0;
}

// Everything the seed decides.
struct Plan {
  uint64_t seed = 0;
  Scenario scenario = Scenario::kCrash;
  SimDisk::CrashModel model = SimDisk::CrashModel::kRandom;
  bool pipelined = false;
  uint32_t batches = 0;
  uint32_t max_batch = 0;
  uint32_t max_payload = 0;
  uint64_t segment_bytes = 0;
  // The fault: at the `nth` step (from 0) whose op is `op` on a path ending
  // in `suffix`.
  std::string op;
  std::string suffix;
  uint64_t nth = 0;
  uint32_t tear_sectors = 0;
  uint64_t media_pick = 0;  // read-error / bit-flip: which file, offset, bit
  // WalOptions::caller_flushes: appends that find the flusher idle write and
  // sync on the workload's thread (leader flush), so the faults hit that path too.
  bool caller_flushes = false;
  // WalOptions::overlap_min_bytes: 0 (off), or 1 (every group of two pages
  // or more that waits behind a flush has its later pages written before
  // that flush's sync), so the faults hit overlapped flushes too.
  uint64_t overlap_min_bytes = 0;

  std::string describe() const {
    std::ostringstream o;
    o << "seed " << seed << " scenario " << scenario_name(scenario) << " model "
      << model_name(model) << (pipelined ? " pipelined" : " lockstep") << " batches " << batches
      << " max_batch " << max_batch << " max_payload " << max_payload << " segment "
      << segment_bytes << " fault at " << op << " #" << nth << " on *" << suffix;
    if (scenario == Scenario::kTear) o << " (" << tear_sectors << " sectors)";
    if (caller_flushes) o << " caller_flushes";
    if (overlap_min_bytes > 0) o << " overlap_min_bytes " << overlap_min_bytes;
    return o.str();
  }
};

Plan make_plan(uint64_t seed) {
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + 17);
  Plan p;
  p.seed = seed;
  p.scenario = static_cast<Scenario>(rng() % kScenarios);
  p.model = static_cast<SimDisk::CrashModel>(rng() % 5);  // kTearGarbage: the DWB's case
  p.pipelined = rng() % 4 == 0 && p.scenario != Scenario::kNoSpace;
  p.batches = 10 + static_cast<uint32_t>(rng() % 50);
  p.max_batch = 1 + static_cast<uint32_t>(rng() % 6);
  p.max_payload = static_cast<uint32_t>(kMinPayload + rng() % 1500);
  p.segment_bytes = (rng() % 2 == 0) ? 32 * 1024 : 64 * 1024;  // >= 8 pages (4 hold the DWB slots)
  p.suffix = ".wal";
  switch (p.scenario) {
    case Scenario::kCrash: {
      static const char* kOps[] = {"write",  "write",           "fdatasync",   "fdatasync",
                                   "rename", "fsync directory", "preallocate", "open"};
      p.op = kOps[rng() % 8];
      if (p.op == "preallocate" || p.op == "open") p.suffix = ".spare";
      if (p.op == "fsync directory") p.suffix = "";
      p.nth = (p.op == "write" || p.op == "fdatasync") ? rng() % (p.batches + 4) : rng() % 5;
      break;
    }
    case Scenario::kTear:
      p.op = "write";
      p.nth = rng() % (p.batches + 4);
      p.tear_sectors = static_cast<uint32_t>(rng() % 64);  // clipped to the write's sectors
      break;
    case Scenario::kEioSync:
      p.op = "fdatasync";
      p.nth = rng() % (p.batches + 4);
      break;
    case Scenario::kNoSpace:
      p.op = "preallocate";
      p.suffix = ".spare";
      p.nth = rng() % 3;  // the first n spares succeed, then ENOSPC for a while
      break;
    case Scenario::kReadError:
    case Scenario::kBitFlip:
      p.op = "write";
      p.nth = rng() % (p.batches + 4);  // a crash first, then the media fault
      break;
  }
  p.media_pick = rng();
  p.caller_flushes =
      rng() % 2 == 0;  // drawn last: the fields above stay what each seed gave before
  p.overlap_min_bytes = rng() % 2 == 0 ? 1 : 0;  // after caller_flushes, for the same reason
  return p;
}

struct SeedRun {
  LogChecker checker;
  uint64_t acked = 0;
  uint64_t nospace = 0;     // batches refused with NoSpace
  uint64_t overlapped = 0;  // flushes overlapped (WalOptions::overlap_min_bytes)
  std::string error;        // the workload saw something impossible
};

// The workload: one appending thread, lockstep or pipelined. Stops at the
// first failure, except NoSpace (the log stays ready and resumes).
void run_workload(const Plan& plan, const WalOptions& opts, SeedRun* run) {
  auto opened = Wal::open(opts, nullptr);
  if (!opened.ok()) return;  // the fault hit recovery of the empty dir
  std::unique_ptr<Wal> log = std::move(opened).value();
  std::mt19937_64 rng(plan.seed ^ 0xABCDEF);
  std::mutex mu;
  std::condition_variable cv;
  uint64_t in_flight = 0;  // guarded by mu
  bool failed = false;     // guarded by mu
  bool nospace = false;    // guarded by mu; the last batch got NoSpace (lockstep only)
  uint64_t seq = 0, batch = 0;
  const uint64_t window = plan.pipelined ? 8 : 1;
  for (uint32_t b = 0; b < plan.batches; ++b) {
    const uint16_t n = static_cast<uint16_t>(1 + rng() % plan.max_batch);
    std::vector<std::vector<uint8_t>> payloads;
    std::vector<RecordIn> recs(n);
    for (uint16_t i = 0; i < n; ++i) {
      PayloadTag t{0, 0, seq + i, batch, i, n};
      payloads.push_back(
          make_tagged_payload(t, kMinPayload + rng() % (plan.max_payload - kMinPayload + 1)));
      recs[i].type = 0;
      recs[i].tenant = 0;
      recs[i].payload = payloads.back();
    }
    const uint64_t first_seq = seq;
    {
      std::lock_guard<std::mutex> lk(mu);
      ++in_flight;
      nospace = false;
    }
    run->checker.note_sent({0, 0}, seq + n);
    log->append(recs, [&, first_seq, n](const Status& st, uint64_t first_lsn) {
      std::lock_guard<std::mutex> lk(mu);
      if (st.ok()) {
        for (uint16_t i = 0; i < n; ++i)
          run->checker.note_acked(first_lsn + i, 0, 0, first_seq + i);
        run->acked += n;
      } else if (st.code() == Code::kNoSpace && plan.scenario == Scenario::kNoSpace) {
        nospace = true;
        ++run->nospace;
      } else {
        failed = true;
      }
      --in_flight;
      cv.notify_all();
    });
    std::unique_lock<std::mutex> lk(mu);
    cv.wait(lk, [&] { return in_flight < window; });
    if (failed) break;
    if (nospace) continue;  // lockstep (enospc is never pipelined): reuse seq and batch numbers
    seq += n;
    ++batch;
  }
  {
    std::unique_lock<std::mutex> lk(mu);
    cv.wait(lk, [&] { return in_flight == 0; });
  }
  run->overlapped = log->status().overlapped_flushes;
  (void)log->close();  // may fail after a crash; the checks look at the disk
}

std::vector<std::string> wal_files(SimDisk& disk, const std::string& dir) {
  std::vector<std::string> out;
  auto names = disk.list_dir(dir);
  if (!names.ok()) return out;
  for (const auto& n : *names) {
    if (ends_with(n, ".wal")) out.push_back(dir + "/" + n);
  }
  return out;
}

// What the seeds did, for the summary line (proof the faults fire).
struct Stats {
  uint64_t fired = 0;       // the planned fault happened
  uint64_t acked = 0;       // records ACKed before the fault / power loss
  uint64_t recovered = 0;   // records read back after recovery
  uint64_t refused = 0;     // recovery rightly refused a damaged log
  uint64_t cut = 0;         // recovery cut (and reported) a damaged tail
  uint64_t overlapped = 0;  // flushes overlapped before the fault / power loss
};

// Runs one seed; returns "" or what failed (with the plan).
std::string run_seed(uint64_t seed, bool trace, Stats* stats) {
  const Plan plan = make_plan(seed);
  auto disk = std::make_shared<SimDisk>(seed, plan.model);
  disk->set_trace(trace);
  WalOptions opts;
  opts.dir = "/sim/wal";
  opts.segment_bytes = plan.segment_bytes;
  opts.max_record_bytes = 4096;
  opts.io = disk;
  opts.caller_flushes = plan.caller_flushes;
  opts.overlap_min_bytes = plan.overlap_min_bytes;

  // The fault hook counts steps of the planned kind. Runs under SimDisk's
  // lock; `count` is only touched there.
  auto count = std::make_shared<uint64_t>(0);
  disk->set_fault_hook([plan, count](const SimDisk::StepInfo& s) {
    if (s.op != plan.op || !ends_with(s.path, plan.suffix.c_str())) return SimDisk::Fault::none();
    const uint64_t k = (*count)++;
    switch (plan.scenario) {
      case Scenario::kNoSpace:
        // Disk full from the nth spare for the next four spare attempts.
        return (k >= plan.nth && k < plan.nth + 4) ? SimDisk::Fault::fail(ENOSPC)
                                                   : SimDisk::Fault::none();
      case Scenario::kEioSync:
        return k == plan.nth ? SimDisk::Fault::fail(EIO) : SimDisk::Fault::none();
      case Scenario::kTear:
        if (k != plan.nth) return SimDisk::Fault::none();
        return SimDisk::Fault::tear(
            std::min<uint32_t>(plan.tear_sectors, static_cast<uint32_t>(s.len / 512 - 1)));
      default: return k == plan.nth ? SimDisk::Fault::crash() : SimDisk::Fault::none();
    }
  });

  SeedRun run;
  run_workload(plan, opts, &run);
  if (*count > plan.nth) ++stats->fired;
  stats->acked += run.acked;
  stats->overlapped += run.overlapped;
  const SimDisk::RestartReport rr = disk->restart();

  // Media faults at rest, on the post-crash image.
  std::string media;
  const auto files = wal_files(*disk, opts.dir);
  if ((plan.scenario == Scenario::kReadError || plan.scenario == Scenario::kBitFlip) &&
      !files.empty()) {
    const std::string& f = files[plan.media_pick % files.size()];
    auto content = disk->durable_content(f);
    if (content.ok() && !content->empty()) {
      // Aim at the bytes in use (before the zeroed tail) most of the time.
      uint64_t used = content->size();
      while (used > 0 && (*content)[used - 1] == 0) --used;
      const uint64_t span = (plan.media_pick >> 20) % 4 == 0 || used == 0 ? content->size() : used;
      const uint64_t off = (plan.media_pick >> 8) % span;
      if (plan.scenario == Scenario::kReadError) {
        Status st = disk->inject_read_error(f, off);
        if (!st.ok()) return plan.describe() + ": inject_read_error: " + st.ToString();
      } else {
        Status st = disk->flip_bit_at_rest(f, off, static_cast<unsigned>(plan.media_pick % 8));
        if (!st.ok()) return plan.describe() + ": flip_bit_at_rest: " + st.ToString();
      }
      media = " media fault in " + f + " at " + std::to_string(off);
    }
  }
  const bool media_fault = !media.empty();

  std::ostringstream ctx;
  ctx << plan.describe() << media << "; acked " << run.acked << " nospace " << run.nospace
      << "; restart: " << rr.unsynced_writes << " unsynced (" << rr.lost << " lost, " << rr.applied
      << " applied, " << rr.torn << " torn)";
  auto fail = [&](const std::string& what) {
    std::string out = ctx.str() + ": " + what;
    if (trace) {
      for (const auto& line : disk->trace()) out += "\n  " + line;
    }
    return out;
  };

  wal::RecoveryReport report;
  auto reopened = Wal::open(opts, &report);
  if (!reopened.ok()) {
    const Status& st = reopened.status();
    // Refusing the log is right only when the media really is damaged, and
    // then with the right kind of error.
    // (A flip in the preamble's version or cipher byte reads as an
    // unsupported segment: refused too, naming the file.)
    if (plan.scenario == Scenario::kBitFlip && media_fault &&
        (st.code() == Code::kCorruption || st.code() == Code::kUnsupported)) {
      ++stats->refused;
      return "";
    }
    if (plan.scenario == Scenario::kReadError && media_fault && st.code() == Code::kIoError) {
      ++stats->refused;
      return "";
    }
    return fail("recovery failed: " + st.ToString());
  }
  std::unique_ptr<Wal> log = std::move(reopened).value();
  std::vector<wal::Record> all;
  uint64_t lsn = log->status().first_lsn;
  for (;;) {
    std::vector<wal::Record> part;
    uint64_t next = 0;
    Status st = log->read(lsn, wal::ReadLimits{}, &part, &next);
    if (!st.ok()) {
      // A latent read error found after open (in a range recovery did not
      // read) is reported, never returned as data.
      if (plan.scenario == Scenario::kReadError && media_fault && st.code() == Code::kIoError) {
        ++stats->refused;
        (void)log->close();
        return "";
      }
      return fail("read from " + std::to_string(lsn) + ": " + st.ToString());
    }
    if (part.empty()) break;
    all.insert(all.end(), part.begin(), part.end());
    lsn = next;
  }
  std::vector<ReadBack> view;
  for (const auto& r : all) view.push_back(ReadBack{r.lsn, r.type, r.tenant, r.payload});
  std::string problem = run.checker.check(1, view);
  if (!problem.empty()) {
    // A flip in the last flush is cut like a torn write: ACKed records may
    // be missing then, but only when recovery said it cut something. What
    // was returned must still be intact (check() failed on a lost ACK, not
    // on bad data, when the message says "lost").
    const bool reported_cut = report.discarded_bytes > 0 || report.discarded_records > 0;
    if (!(plan.scenario == Scenario::kBitFlip && media_fault && reported_cut &&
          problem.find("lost") != std::string::npos)) {
      return fail(problem + " (recovery: durable_lsn " + std::to_string(report.durable_lsn) +
                  ", discarded " + std::to_string(report.discarded_bytes) +
                  " bytes: " + report.discarded_why + ")");
    }
  }
  if (!problem.empty()) ++stats->cut;
  stats->recovered += all.size();
  if (all.size() != report.durable_lsn) {
    return fail("read " + std::to_string(all.size()) + " records, recovery said durable_lsn " +
                std::to_string(report.durable_lsn));
  }

  // The recovered log takes the next batch at the next LSN, durably.
  const auto extra = make_tagged_payload(PayloadTag{9, 9, 0, 0, 0, 1}, 100);
  RecordIn r{.type = 9, .flags = 0, .tenant = 9, .payload = extra};
  auto got = log->append_sync(std::span<const RecordIn>(&r, 1));
  if (!got.ok()) return fail("append after recovery: " + got.status().ToString());
  if (*got != report.durable_lsn + 1) {
    return fail("append after recovery got lsn " + std::to_string(*got) + ", expected " +
                std::to_string(report.durable_lsn + 1));
  }
  Status cst = log->close();
  if (!cst.ok()) return fail("close: " + cst.ToString());
  disk->restart();
  auto again = Wal::open(opts, &report);
  if (!again.ok()) return fail("second recovery: " + again.status().ToString());
  std::vector<wal::Record> tail;
  uint64_t next = 0;
  Status rst = (*again)->read(*got, wal::ReadLimits{}, &tail, &next);
  if (!rst.ok() || tail.size() != 1 || tail[0].payload != extra) {
    return fail("the batch appended after recovery did not survive power loss: " + rst.ToString());
  }
  (void)(*again)->close();
  return "";
}

uint64_t env_u64(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? std::strtoull(v, nullptr, 10) : fallback;
}

TEST(Simulation, EverySeedKeepsAckedRecordsAndDetectsMediaFaults) {
  if (const char* one = std::getenv("SIDEWAL_SIM_SEED"); one != nullptr && *one != '\0') {
    const uint64_t seed = std::strtoull(one, nullptr, 10);
    std::printf("%s\n", make_plan(seed).describe().c_str());
    Stats stats;
    const std::string err = run_seed(seed, /*trace=*/true, &stats);
    ASSERT_EQ(err, "");
    return;
  }
  const uint64_t seeds = env_u64("SIDEWAL_SIM_SEEDS", 2000);
  const uint64_t base = env_u64("SIDEWAL_SIM_BASE", 1);
  std::map<std::string, uint64_t> by_scenario;
  Stats stats;
  for (uint64_t s = base; s < base + seeds; ++s) {
    const std::string err = run_seed(s, /*trace=*/false, &stats);
    ASSERT_EQ(err, "") << "reproduce with SIDEWAL_SIM_SEED=" << s;
    ++by_scenario[scenario_name(make_plan(s).scenario)];
  }
  std::printf("simulation: %llu seeds from %llu passed:", static_cast<unsigned long long>(seeds),
              static_cast<unsigned long long>(base));
  for (const auto& [name, n] : by_scenario)
    std::printf(" %s %llu", name.c_str(), static_cast<unsigned long long>(n));
  std::printf(
      "; fault fired in %llu, %llu records ACKed, %llu read back after recovery, "
      "%llu damaged logs refused, %llu damaged tails cut and reported, %llu flushes "
      "overlapped\n",
      static_cast<unsigned long long>(stats.fired), static_cast<unsigned long long>(stats.acked),
      static_cast<unsigned long long>(stats.recovered),
      static_cast<unsigned long long>(stats.refused), static_cast<unsigned long long>(stats.cut),
      static_cast<unsigned long long>(stats.overlapped));
  // The plans are meant to bite: most seeds' faults must really happen.
  EXPECT_GT(stats.fired * 2, seeds);
}

// A lockstep seed reproduces exactly: the same plan twice gives the same
// recovered log and the same SimDisk trace of the data path.
TEST(Simulation, LockstepSeedReproducesExactly) {
  for (uint64_t s = 1; s <= 40; ++s) {
    const Plan plan = make_plan(s);
    if (plan.pipelined) continue;
    auto trace_of = [&] {
      auto disk = std::make_shared<SimDisk>(s, plan.model);
      disk->set_trace(true);
      WalOptions opts;
      opts.dir = "/sim/wal";
      opts.segment_bytes = plan.segment_bytes;
      opts.max_record_bytes = 4096;
      opts.io = disk;
      opts.caller_flushes = plan.caller_flushes;
      opts.overlap_min_bytes = plan.overlap_min_bytes;
      SeedRun run;
      run_workload(plan, opts, &run);
      std::vector<std::string> data_path;
      for (const auto& line : disk->trace()) {
        if (line.find(".wal") != std::string::npos)
          data_path.push_back(line.substr(line.find(' ')));
      }
      return std::make_pair(run.acked, data_path);
    };
    EXPECT_EQ(trace_of(), trace_of()) << plan.describe();
  }
}

}  // namespace
}  // namespace sidewal::reliability
