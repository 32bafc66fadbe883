// SimDisk's fault model (sim_disk.h, "I/O numbering and fault plans",
// "Power loss", "Media faults"): the plans and the hook that decide each
// numbered step, the trace, the media faults, and restart(), which builds the
// post-crash image from the durable state and the crash model.
#include "testing/sim_disk.h"

#include <algorithm>
#include <cstring>

namespace sidewal::wal {

// ---- configuration and plans ----

void SimDisk::set_alignment(size_t alignment) {
  SW_ASSERT(alignment >= kSectorBytes && (alignment & (alignment - 1)) == 0);
  MutexLock lock(mu_);
  alignment_ = alignment;
}

void SimDisk::set_crash_model(CrashModel model) {
  MutexLock lock(mu_);
  model_ = model;
}

void SimDisk::refuse_direct(bool refuse) {
  MutexLock lock(mu_);
  refuse_direct_ = refuse;
}

void SimDisk::crash_after_io(uint64_t k) {
  MutexLock lock(mu_);
  crash_at_ = k;
}

void SimDisk::tear_write_at(uint64_t k, uint32_t sectors) {
  MutexLock lock(mu_);
  tear_at_[k] = sectors;
}

void SimDisk::tear_write_garbage_at(uint64_t k, uint32_t sector) {
  MutexLock lock(mu_);
  tear_at_[k] = sector;
  garbage_at_.insert(k);
}

void SimDisk::set_fault_hook(FaultHook hook) {
  MutexLock lock(mu_);
  hook_ = std::move(hook);
}

void SimDisk::fail_io(uint64_t k, int err) {
  SW_ASSERT(err > 0);
  MutexLock lock(mu_);
  fail_at_[k] = err;
}

uint64_t SimDisk::io_count() const {
  MutexLock lock(mu_);
  return steps_;
}

bool SimDisk::crashed() const {
  MutexLock lock(mu_);
  return crashed_;
}

void SimDisk::set_trace(bool on) {
  MutexLock lock(mu_);
  trace_on_ = on;
}

std::vector<std::string> SimDisk::trace() const {
  MutexLock lock(mu_);
  return trace_;
}

uint64_t SimDisk::unsynced_writes() const {
  MutexLock lock(mu_);
  uint64_t n = 0;
  for (const auto& [id, inode] : inodes_) n += inode.pending.size();
  return n;
}

// ---- internals ----

SimDisk::Step SimDisk::take_step(StepKind kind, const char* op, const std::string& path,
                                 uint64_t offset, uint64_t len, const std::string* to) {
  Step s;
  s.index = steps_++;
  if (auto t = tear_at_.find(s.index); t != tear_at_.end()) {
    s.outcome = kind == StepKind::kWrite ? Step::kTear : Step::kCrash;
    s.tear_sectors = t->second;
    s.garbage = garbage_at_.count(s.index) != 0;
  } else if (crash_at_ && s.index >= *crash_at_) {
    s.outcome = Step::kCrash;
  } else if (auto f = fail_at_.find(s.index); f != fail_at_.end()) {
    s.outcome = Step::kFail;
    s.err = f->second;
  } else if (hook_) {
    StepInfo info{s.index, op, path, to ? *to : std::string(), offset, len};
    const Fault fault = hook_(info);
    switch (fault.kind) {
      case Fault::kNone: break;
      case Fault::kCrash: s.outcome = Step::kCrash; break;
      case Fault::kFail:
        SW_ASSERT(fault.err > 0);
        s.outcome = Step::kFail;
        s.err = fault.err;
        break;
      case Fault::kTear:
        s.outcome = kind == StepKind::kWrite ? Step::kTear : Step::kCrash;
        s.tear_sectors = fault.sectors;
        s.garbage = fault.garbage;
        break;
      case Fault::kTearLater:
        s.tear_later = kind == StepKind::kWrite;
        s.tear_sectors = fault.sectors;
        s.garbage = fault.garbage;
        break;
    }
  }
  if (s.outcome == Step::kCrash || s.outcome == Step::kTear) crashed_ = true;
  return s;
}

Status SimDisk::crash_status(const std::string& what) const {
  return Status::IoError("simulated crash: " + what + " (the disk has crashed; restart() it)");
}

void SimDisk::record(const Step& step, const std::string& what, const Status& result) {
  if (!trace_on_) return;
  trace_.push_back("#" + std::to_string(step.index) + " " + what + " -> " + result.ToString());
}

void SimDisk::apply_garbage(Inode& inode, const Pending& p, size_t at) {
  const size_t n = std::min<size_t>(kSectorBytes, p.data.size() - at);
  const uint64_t off = p.offset + at;
  if (inode.durable.size() < off + n) inode.durable.resize(off + n, 0);
  uint8_t* dst = inode.durable.data() + off;
  const uint8_t* fresh = p.data.data() + at;
  std::vector<uint8_t> old(dst, dst + n);
  for (size_t i = 0; i < n; i += 8) {
    const uint64_t r = rng_();
    std::memcpy(dst + i, &r, std::min<size_t>(8, n - i));
  }
  // Neither old nor new, whatever the draw: byte 0 differs from both.
  while (dst[0] == old[0] || dst[0] == fresh[0]) ++dst[0];
}

// ---- media faults ----

Status SimDisk::inject_read_error(const std::string& path, uint64_t offset) {
  MutexLock lock(mu_);
  auto it = volatile_ns_.files.find(normalize(path));
  if (it == volatile_ns_.files.end()) {
    return Status::NotFound("inject_read_error: no file " + path);
  }
  inodes_[it->second].bad_sectors.insert(offset / kSectorBytes);
  return Status::Ok();
}

Status SimDisk::flip_bit_at_rest(const std::string& path, uint64_t offset, unsigned bit) {
  SW_ASSERT(bit < 8);
  MutexLock lock(mu_);
  auto it = volatile_ns_.files.find(normalize(path));
  if (it == volatile_ns_.files.end()) return Status::NotFound("flip_bit_at_rest: no file " + path);
  Inode& inode = inodes_[it->second];
  if (offset >= inode.durable.size()) {
    return Status::InvalidArgument("flip_bit_at_rest " + path + ": offset " +
                                   std::to_string(offset) + " is past the durable size " +
                                   std::to_string(inode.durable.size()));
  }
  const auto mask = static_cast<uint8_t>(1u << bit);
  // The cache shows the media unless a newer write has replaced the byte.
  if (offset < inode.cache.size() && inode.cache[offset] == inode.durable[offset]) {
    inode.cache[offset] ^= mask;
  }
  inode.durable[offset] ^= mask;
  return Status::Ok();
}

// ---- power loss ----

SimDisk::RestartReport SimDisk::restart() {
  MutexLock lock(mu_);
  RestartReport rep;
  const bool process_only = model_ == CrashModel::kProcessCrash;
  Namespace ns = process_only ? volatile_ns_ : durable_ns_;

  // A directory survives only with all its ancestors; a file only with its parent.
  Namespace kept;
  for (const auto& d : ns.dirs) {
    bool ok = true;
    for (std::string a = d; a != "/"; a = parent_of(a)) ok = ok && ns.dirs.count(a) != 0;
    if (ok) kept.dirs.insert(d);
  }
  kept.dirs.insert("/");
  for (const auto& [path, id] : ns.files) {
    if (kept.dirs.count(parent_of(path)) != 0) kept.files[path] = id;
  }

  uint64_t newest_seq = 0;
  bool any_pending = false;
  for (const auto& [path, id] : kept.files) {
    for (const Pending& p : inodes_[id].pending) {
      newest_seq = any_pending ? std::max(newest_seq, p.seq) : p.seq;
      any_pending = true;
    }
  }

  std::map<uint64_t, Inode> survivors;
  for (const auto& [path, id] : kept.files) {
    if (survivors.count(id) != 0) continue;
    Inode& old = inodes_[id];
    Inode fresh;
    fresh.durable = std::move(old.durable);
    for (const Pending& p : old.pending) {
      ++rep.unsynced_writes;
      const size_t len = p.data.size();
      size_t landed = 0;
      bool garbage = false;
      if (p.forced_sectors) {
        landed = std::min<size_t>(len, size_t{*p.forced_sectors} * kSectorBytes);
        garbage = p.garbage && landed < len;
      } else {
        switch (model_) {
          case CrashModel::kProcessCrash: landed = len; break;
          case CrashModel::kDropUnsynced: landed = 0; break;
          case CrashModel::kTearLast:
            if (p.seq != newest_seq) {
              landed = len;
            } else if (sectors_of(len) >= 2) {
              landed = (1 + rng_() % (sectors_of(len) - 1)) * kSectorBytes;
            } else {
              landed = rng_() % 2 ? len : 0;
            }
            break;
          case CrashModel::kRandom: {
            const uint64_t pick = rng_() % 3;
            if (pick == 0) {
              landed = 0;
            } else if (pick == 1 || sectors_of(len) < 2) {
              landed = len;
            } else {
              landed = (1 + rng_() % (sectors_of(len) - 1)) * kSectorBytes;
            }
            break;
          }
          case CrashModel::kTearGarbage:
            landed = (rng_() % sectors_of(len)) * kSectorBytes;
            garbage = true;
            break;
        }
      }
      landed = std::min(landed, len);
      if (garbage) {
        ++rep.torn;
      } else if (landed == 0) {
        ++rep.lost;
      } else if (landed == len) {
        ++rep.applied;
      } else {
        ++rep.torn;
      }
      if (landed > 0) apply_durable(fresh, p, landed);
      if (garbage) apply_garbage(fresh, p, landed);
    }
    fresh.cache = fresh.durable;
    fresh.bad_sectors = std::move(old.bad_sectors);
    survivors[id] = std::move(fresh);
  }

  inodes_ = std::move(survivors);
  durable_ns_ = kept;
  volatile_ns_ = std::move(kept);
  handles_.clear();
  steps_ = 0;
  crash_at_.reset();
  tear_at_.clear();
  garbage_at_.clear();
  fail_at_.clear();
  hook_ = nullptr;
  crashed_ = false;
  rep.files = volatile_ns_.files.size();
  if (trace_on_) {
    trace_.push_back("restart: " + std::to_string(rep.unsynced_writes) + " unsynced writes, " +
                     std::to_string(rep.lost) + " lost, " + std::to_string(rep.applied) +
                     " applied, " + std::to_string(rep.torn) + " torn");
  }
  return rep;
}

}  // namespace sidewal::wal
