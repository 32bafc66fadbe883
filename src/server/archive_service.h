// ArchiveService: the daemon's archive (docs/archive.md, `archive:` in
// sidewal.yaml). Opens the object store from the config, runs the Uploader
// once the log is open, and holds the truncation floor the log is opened
// with. A store outage never touches the log: appends, reads and /readyz go
// on; the lag and failure metrics say so.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "archive/object_store.h"
#include "archive/uploader.h"
#include "common/mutex.h"
#include "server/config.h"
#include "server/metrics.h"
#include "wal/io/io_backend.h"
#include "wal/truncation_floor.h"
#include "wal/wal.h"

namespace sidewal::server {

class ArchiveService {
 public:
  // Null (and Ok) when archive.enabled is false. Opens the store (no request
  // is made) and reads the credentials: a missing credential fails the start.
  static Result<std::unique_ptr<ArchiveService>> create(const Config& config);
  ~ArchiveService();

  // For WalOptions::truncation_floor; null when archive.truncation_waits is false.
  std::shared_ptr<wal::TruncationFloor> floor() const { return floor_; }

  // archive.restore_on_empty, before the log is opened: when `data_dir`
  // holds no segment file and no GENERATION, restores the newest generation
  // into it (docs/operations.md "Restoring onto a new node"). An archive
  // with no records is not an error (a first start): nothing is restored.
  // Any other failure (store unreachable, damaged object) is returned.
  Status restore_if_empty(const std::string& data_dir);
  // For LogService::start_recovery: restore_if_empty(data_dir) when
  // archive.restore_on_empty is set, else empty (nothing to run).
  std::function<Status()> before_open();

  // Starts shipping `wal` (open, and outliving stop()); requests and the
  // uploader's state go to `metrics`.
  void start(wal::Wal* wal, Metrics* metrics) EXCLUDES(mu_);
  // Stops the uploader (a step in progress finishes its request).
  void stop() EXCLUDES(mu_);

  archive::UploaderStats stats() const EXCLUDES(mu_);

 private:
  explicit ArchiveService(const Config& config) : config_(config) {}

  const Config config_;
  std::unique_ptr<archive::ObjectStore> store_;     // the S3 client
  std::unique_ptr<archive::ObjectStore> observed_;  // store_ with request metrics
  std::unique_ptr<wal::IoBackend> io_;              // O_DIRECT reads of the segments
  std::shared_ptr<wal::TruncationFloor> floor_;
  mutable Mutex mu_;
  std::unique_ptr<archive::Uploader> uploader_ GUARDED_BY(mu_);
};

}  // namespace sidewal::server
