// CountingIo: an IoBackend that forwards to another one and counts reads,
// so a test can prove that a read path touched (or did not touch) the disk.
#pragma once

#include <atomic>
#include <memory>

#include "wal_test_util.h"  // ForwardingBackend (tests/wal)

namespace sidewal::wal::testing {

class CountingIo final : public ForwardingBackend {
 public:
  explicit CountingIo(std::unique_ptr<IoBackend> inner) : ForwardingBackend(std::move(inner)) {}

  uint64_t reads() const { return reads_.load(); }
  uint64_t read_bytes() const { return read_bytes_.load(); }
  uint64_t opens_for_read() const { return opens_for_read_.load(); }

  Result<FileHandle> open(const std::string& path, const OpenOptions& o) override {
    if (!o.writable) opens_for_read_.fetch_add(1);
    return inner_->open(path, o);
  }
  Status read(FileHandle f, uint64_t off, void* buf, size_t len, size_t* got) override {
    reads_.fetch_add(1);
    Status st = inner_->read(f, off, buf, len, got);
    read_bytes_.fetch_add(*got);
    return st;
  }

 private:
  std::atomic<uint64_t> reads_{0};
  std::atomic<uint64_t> read_bytes_{0};
  std::atomic<uint64_t> opens_for_read_{0};
};

inline std::shared_ptr<CountingIo> make_counting_io() {
  std::string why;
  auto inner = make_backend(BackendKind::kPwrite, &why);
  return std::make_shared<CountingIo>(std::move(inner));
}

}  // namespace sidewal::wal::testing
