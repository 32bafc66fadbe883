// Helpers for the engine tests: scratch directories on the build tree's
// filesystem (ext4 here, so O_DIRECT reaches the device), deterministic
// payloads, and small wrappers around the Wal API.
#pragma once

#include <stdlib.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/temp_dir.h"
#include "wal/wal.h"

namespace sidewal::wal::testing {

class ScratchDir : public test::BuildTreeTempDir {
 public:
  ScratchDir() : BuildTreeTempDir("wal_engine_tmp.") {}
  std::string log() const { return path() + "/log"; }
};

// Deterministic payload bytes for (tag, n) so a test can regenerate what it
// appended without keeping it.
inline std::vector<uint8_t> make_payload(uint64_t tag, size_t n) {
  std::vector<uint8_t> v(n);
  uint64_t x = tag * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    v[i] = static_cast<uint8_t>(x);
  }
  return v;
}

// Opens the log, failing the test (and returning null) when it cannot.
inline std::unique_ptr<Wal> must_open(const WalOptions& o, RecoveryReport* report = nullptr) {
  auto r = Wal::open(o, report);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return nullptr;
  return std::move(r).value();
}

inline Result<uint64_t> append_one(Wal& wal, const std::vector<uint8_t>& payload, uint16_t type = 1,
                                   uint32_t tenant = 7) {
  RecordIn r;
  r.type = type;
  r.tenant = tenant;
  r.payload = payload;
  return wal.append_sync(std::span<const RecordIn>(&r, 1));
}

inline std::vector<Record> read_all(Wal& wal, uint64_t from = 0) {
  std::vector<Record> all;
  uint64_t lsn = from ? from : wal.status().first_lsn;
  for (;;) {
    std::vector<Record> part;
    uint64_t next = 0;
    Status st = wal.read(lsn, ReadLimits{}, &part, &next);
    EXPECT_TRUE(st.ok()) << st.ToString();
    if (!st.ok() || part.empty()) break;
    all.insert(all.end(), part.begin(), part.end());
    lsn = next;
  }
  return all;
}

// Polls `cond` until it holds or `seconds` pass.
template <typename F>
bool wait_until(F cond, double seconds = 10) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

// An IoBackend that forwards every call to another one; tests override the
// calls they want to fault.
class ForwardingBackend : public IoBackend {
 public:
  explicit ForwardingBackend(std::shared_ptr<IoBackend> inner) : inner_(std::move(inner)) {}
  const char* name() const override { return inner_->name(); }
  Result<size_t> direct_alignment(const std::string& dir) override {
    return inner_->direct_alignment(dir);
  }
  Result<FileHandle> open(const std::string& path, const OpenOptions& o) override {
    return inner_->open(path, o);
  }
  Status close(FileHandle f) override { return inner_->close(f); }
  Status preallocate_zeroed(FileHandle f, uint64_t b, ZeroFill fill) override {
    return inner_->preallocate_zeroed(f, b, fill);
  }
  Status write(FileHandle f, uint64_t off, const void* buf, size_t len) override {
    return inner_->write(f, off, buf, len);
  }
  Status write_and_sync(FileHandle f, uint64_t off, const void* buf, size_t len) override {
    return inner_->write_and_sync(f, off, buf, len);
  }
  Status write2_and_sync(FileHandle f, uint64_t off, const void* buf, size_t len, uint64_t off2,
                         const void* buf2, size_t len2) override {
    return inner_->write2_and_sync(f, off, buf, len, off2, buf2, len2);
  }
  Status write2(FileHandle f, uint64_t off, const void* buf, size_t len, uint64_t off2,
                const void* buf2, size_t len2) override {
    return inner_->write2(f, off, buf, len, off2, buf2, len2);
  }
  Status start_write(FileHandle f, uint64_t off, const void* buf, size_t len) override {
    return inner_->start_write(f, off, buf, len);
  }
  Status finish_writes() override { return inner_->finish_writes(); }
  Status read(FileHandle f, uint64_t off, void* buf, size_t len, size_t* got) override {
    return inner_->read(f, off, buf, len, got);
  }
  Status sync(FileHandle f) override { return inner_->sync(f); }
  Result<uint64_t> file_size(FileHandle f) override { return inner_->file_size(f); }
  Status sync_dir(const std::string& dir) override { return inner_->sync_dir(dir); }
  Status create_dir(const std::string& dir) override { return inner_->create_dir(dir); }
  Status remove(const std::string& p) override { return inner_->remove(p); }
  Status rename(const std::string& a, const std::string& b) override {
    return inner_->rename(a, b);
  }
  Result<std::vector<std::string>> list_dir(const std::string& dir) override {
    return inner_->list_dir(dir);
  }

 protected:
  std::shared_ptr<IoBackend> inner_;
};

inline std::vector<std::string> wal_files(const std::string& dir) {
  std::vector<std::string> v;
  for (auto& e : std::filesystem::directory_iterator(dir)) v.push_back(e.path().filename());
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace sidewal::wal::testing
