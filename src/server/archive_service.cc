#include "server/archive_service.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "archive/observed_object_store.h"
#include "archive/restore.h"
#include "archive/s3_object_store.h"
#include "server/log.h"
#include "wal/codecs/format.h"

namespace sidewal::server {
namespace {

Result<std::unique_ptr<archive::ObjectStore>> open_store(const Config& c) {
  archive::S3Config s3;
  s3.endpoint = c.archive.endpoint;
  s3.bucket = c.archive.bucket;
  s3.region = c.archive.region;
  s3.path_style = c.archive.path_style;
  s3.ca_file = c.archive.ca_file;
  auto creds = archive::load_s3_credentials(c.archive.credentials_dir);
  if (!creds.ok()) {
    return Status(creds.status().code(), "archive credentials: " + creds.status().message());
  }
  s3.credentials = std::move(creds.value());
  auto store = archive::S3ObjectStore::open(std::move(s3));
  if (!store.ok()) return Status(store.status().code(), "archive: " + store.status().message());
  return std::unique_ptr<archive::ObjectStore>(std::move(store.value()));
}

}  // namespace

Result<std::unique_ptr<ArchiveService>> ArchiveService::create(const Config& config) {
  if (!config.archive.enabled) return std::unique_ptr<ArchiveService>();
  std::unique_ptr<ArchiveService> a(new ArchiveService(config));
  auto store = open_store(config);
  if (!store.ok()) return store.status();
  a->store_ = std::move(store.value());
  std::string why;
  a->io_ = wal::make_backend(wal::BackendKind::kPwrite, &why);
  if (!a->io_) return Status::IoError("archive: no I/O backend for reading segments: " + why);
  if (config.archive.truncation_waits) a->floor_ = std::make_shared<wal::TruncationFloor>();
  return a;
}

ArchiveService::~ArchiveService() { stop(); }

std::function<Status()> ArchiveService::before_open() {
  if (!config_.archive.restore_on_empty) return {};
  return [this] { return restore_if_empty(config_.data_dir); };
}

namespace {

constexpr const char* kStaging = ".restore";  // in data_dir; the log ignores other names

bool is_log_file(const std::string& name) {
  uint64_t first = 0;
  return name == "GENERATION" || wal::format::parse_segment_file_name(name, &first);
}

Status fsync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open " + dir);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  return rc == 0 ? Status::Ok() : Status::FromErrno(err, "fsync " + dir);
}

// A restore is written into data_dir/.restore, then its segments are moved
// into data_dir and GENERATION last: a crash at any point leaves either no
// GENERATION in data_dir (and .restore: undone at the next start, restored
// again) or the whole log.
Status undo_unfinished_restore(const std::string& data_dir, bool* undone) {
  namespace fs = std::filesystem;
  std::error_code ec;
  *undone = false;
  const fs::path staging = fs::path(data_dir) / kStaging;
  if (!fs::exists(staging, ec)) return Status::Ok();
  if (!fs::exists(fs::path(data_dir) / "GENERATION", ec)) {
    for (const auto& e : fs::directory_iterator(data_dir, ec)) {
      const std::string name = e.path().filename().string();
      if (name != "GENERATION" && is_log_file(name)) fs::remove(e.path(), ec);
      if (ec) return Status::IoError("remove " + e.path().string() + ": " + ec.message());
    }
    *undone = true;
  }
  fs::remove_all(staging, ec);
  if (ec) return Status::IoError("remove " + staging.string() + ": " + ec.message());
  return fsync_dir(data_dir);
}

Status move_restored(const std::string& data_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path staging = fs::path(data_dir) / kStaging;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(staging, ec)) files.push_back(e.path());
  if (ec) return Status::IoError("list " + staging.string() + ": " + ec.message());
  std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) {
    return (a.filename() == "GENERATION") < (b.filename() == "GENERATION");  // GENERATION last
  });
  for (const fs::path& f : files) {
    if (f.filename() == "GENERATION") SIDEWAL_RETURN_IF_ERROR(fsync_dir(data_dir));
    fs::rename(f, fs::path(data_dir) / f.filename(), ec);
    if (ec) return Status::IoError("rename " + f.string() + ": " + ec.message());
  }
  SIDEWAL_RETURN_IF_ERROR(fsync_dir(data_dir));
  fs::remove(staging, ec);
  return fsync_dir(data_dir);
}

}  // namespace

Status ArchiveService::restore_if_empty(const std::string& data_dir) {
  const std::string where = "s3://" + config_.archive.bucket + "/" + config_.archive.prefix;
  bool undone = false;
  Status u = undo_unfinished_restore(data_dir, &undone);
  if (!u.ok()) return Status(u.code(), "archive.restore_on_empty: " + u.message());
  if (undone) {
    log::warn("archive.restore_on_empty: removed the files of a restore that did not finish",
              {{"data_dir", data_dir}});
  }
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(data_dir, ec)) {
    const std::string name = e.path().filename().string();
    if (is_log_file(name)) {
      log::info("archive.restore_on_empty: the data directory holds a log; not restoring",
                {{"data_dir", data_dir}, {"found", name}});
      return Status::Ok();
    }
  }
  if (ec) {
    return Status::IoError("archive.restore_on_empty: list " + data_dir + ": " + ec.message());
  }
  std::vector<archive::GenerationInfo> gens;
  Status s = archive::list_generations(store_.get(), config_.archive.prefix, &gens);
  if (!s.ok()) {
    return Status(s.code(), "archive.restore_on_empty: cannot list " + where + ": " + s.message());
  }
  bool any = false;
  for (const archive::GenerationInfo& g : gens) any = any || g.chain.pieces > 0;
  if (!any) {
    log::info("archive.restore_on_empty: the archive holds no records; starting an empty log",
              {{"archive", where}});
    return Status::Ok();
  }
  log::info("archive.restore_on_empty: the data directory is empty; restoring from the archive",
            {{"archive", where}, {"data_dir", data_dir}});
  const auto t0 = std::chrono::steady_clock::now();
  archive::RestoreOptions o;
  o.prefix = config_.archive.prefix;
  o.dir = data_dir + "/" + kStaging;
  archive::RestoreReport rep;
  s = archive::restore(store_.get(), o, &rep);
  if (s.ok()) s = move_restored(data_dir);
  if (!s.ok()) {
    std::filesystem::remove_all(o.dir, ec);
    return Status(s.code(),
                  "archive.restore_on_empty: restore from " + where + " failed: " + s.message());
  }
  log::info("archive.restore_on_empty: restored",
            {{"generation", rep.generation},
             {"first_lsn", rep.first_lsn},
             {"last_lsn", rep.last_lsn},
             {"records", rep.records},
             {"segments", rep.segments},
             {"bytes", rep.bytes},
             {"seconds",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()}});
  return Status::Ok();
}

void ArchiveService::start(wal::Wal* wal, Metrics* metrics) {
  observed_ = std::make_unique<archive::ObservedObjectStore>(
      store_.get(), [metrics](const char* op, double seconds, const Status& s) {
        metrics->archive_request(op, seconds, s.ok());
      });
  archive::UploaderOptions o;
  o.prefix = config_.archive.prefix;
  o.dir = config_.data_dir;
  o.interval =
      std::chrono::milliseconds(static_cast<int64_t>(config_.archive.interval_seconds * 1000.0));
  o.floor = floor_;
  o.concurrency = config_.archive.upload_concurrency;
  o.max_bytes_per_second = config_.archive.max_upload_bytes_per_second;
  o.on_event = [](const std::string& event, const std::string& detail) {
    if (event == "failing") {
      log::warn("archive: uploads failing; the log is unaffected, the archive falls behind",
                {{"error", detail}});
    } else if (event == "recovered") {
      log::info("archive: uploads succeed again", {});
    } else if (event == "cut_short") {
      log::warn("archive: deleted an object cut short by an interrupted upload; shipping it again",
                {{"object", detail}});
    } else {
      log::info("archive: new generation", {{"generation", detail}});
    }
  };
  MutexLock g(mu_);
  uploader_ = std::make_unique<archive::Uploader>(observed_.get(), wal, io_.get(), o);
  uploader_->start();
  metrics->set_archive_source([this] { return stats(); });
  log::info("archive: shipping the log",
            {{"endpoint", config_.archive.endpoint},
             {"bucket", config_.archive.bucket},
             {"prefix", config_.archive.prefix},
             {"interval_seconds", config_.archive.interval_seconds},
             {"upload_concurrency", config_.archive.upload_concurrency},
             {"max_upload_bytes_per_second", config_.archive.max_upload_bytes_per_second},
             {"restore_on_empty", config_.archive.restore_on_empty},
             {"truncation_waits", config_.archive.truncation_waits}});
}

void ArchiveService::stop() {
  MutexLock g(mu_);
  if (uploader_) uploader_->stop();
}

archive::UploaderStats ArchiveService::stats() const {
  MutexLock g(mu_);
  return uploader_ ? uploader_->stats() : archive::UploaderStats{};
}

}  // namespace sidewal::server
