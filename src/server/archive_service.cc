#include "server/archive_service.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "archive/observed_object_store.h"
#include "archive/restore.h"
#include "wal/dir_lock.h"
#include "wal/codecs/format.h"
#include "server/log.h"
#include "archive/s3_object_store.h"

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

Status ArchiveService::restore_if_empty(const std::string& data_dir) {
  const std::string where = "s3://" + config_.archive.bucket + "/" + config_.archive.prefix;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(data_dir, ec)) {
    const std::string name = e.path().filename().string();
    uint64_t first = 0;
    if (name == "GENERATION" || wal::format::parse_segment_file_name(name, &first)) {
      log::info("archive.restore_on_empty: the data directory holds a log; not restoring",
                {{"data_dir", data_dir}, {"found", name}});
      return Status::Ok();
    }
  }
  if (ec) return Status::IoError("archive.restore_on_empty: list " + data_dir + ": " + ec.message());
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
  o.dir = data_dir;
  o.ignore_names = {wal::DirLock::kFileName, "lost+found"};
  archive::RestoreReport rep;
  s = archive::restore(store_.get(), o, &rep);
  if (!s.ok()) {
    return Status(s.code(), "archive.restore_on_empty: restore from " + where + " failed: " +
                                s.message());
  }
  log::info("archive.restore_on_empty: restored",
            {{"generation", rep.generation},
             {"first_lsn", rep.first_lsn},
             {"last_lsn", rep.last_lsn},
             {"records", rep.records},
             {"segments", rep.segments},
             {"bytes", rep.bytes},
             {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()}});
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
  o.interval = std::chrono::milliseconds(
      static_cast<int64_t>(config_.archive.interval_seconds * 1000.0));
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
  std::lock_guard<std::mutex> g(mu_);
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
  std::lock_guard<std::mutex> g(mu_);
  if (uploader_) uploader_->stop();
}

archive::UploaderStats ArchiveService::stats() const {
  std::lock_guard<std::mutex> g(mu_);
  return uploader_ ? uploader_->stats() : archive::UploaderStats{};
}

}  // namespace sidewal::server
