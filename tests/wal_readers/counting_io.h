// CountingIo: an IoBackend that forwards to another one and counts reads,
// so a test can prove that a read path touched (or did not touch) the disk.
#pragma once

#include <atomic>
#include <memory>

#include "wal/io_backend.h"

namespace sidewal::wal::testing {

class CountingIo final : public IoBackend {
 public:
  explicit CountingIo(std::unique_ptr<IoBackend> inner) : inner_(std::move(inner)) {}

  uint64_t reads() const { return reads_.load(); }
  uint64_t read_bytes() const { return read_bytes_.load(); }
  uint64_t opens_for_read() const { return opens_for_read_.load(); }

  const char* name() const override { return inner_->name(); }
  Result<size_t> direct_alignment(const std::string& dir) override {
    return inner_->direct_alignment(dir);
  }
  Result<FileHandle> open(const std::string& path, const OpenOptions& o) override {
    if (!o.writable) opens_for_read_.fetch_add(1);
    return inner_->open(path, o);
  }
  Status close(FileHandle f) override { return inner_->close(f); }
  Status preallocate_zeroed(FileHandle f, uint64_t bytes) override {
    return inner_->preallocate_zeroed(f, bytes);
  }
  Status write(FileHandle f, uint64_t off, const void* buf, size_t len) override {
    return inner_->write(f, off, buf, len);
  }
  Status write_and_sync(FileHandle f, uint64_t off, const void* buf, size_t len) override {
    return inner_->write_and_sync(f, off, buf, len);
  }
  Status read(FileHandle f, uint64_t off, void* buf, size_t len, size_t* got) override {
    reads_.fetch_add(1);
    Status st = inner_->read(f, off, buf, len, got);
    read_bytes_.fetch_add(*got);
    return st;
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

 private:
  std::unique_ptr<IoBackend> inner_;
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
