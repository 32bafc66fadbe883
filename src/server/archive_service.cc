#include "server/archive_service.h"

#include <chrono>
#include <cstdlib>

#include "archive/observed_object_store.h"
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
