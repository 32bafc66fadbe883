#include "archive_e2e.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

#include "client/client.h"
#include "wal/io/io_backend.h"

namespace sidewal::e2e {

void AckedLog::add(uint64_t lsn, const Acked& a) {
  std::lock_guard<std::mutex> g(mu_);
  by_lsn_[lsn] = a;
}

std::map<uint64_t, Acked> AckedLog::snapshot() const {
  std::lock_guard<std::mutex> g(mu_);
  return by_lsn_;
}

size_t AckedLog::size() const {
  std::lock_guard<std::mutex> g(mu_);
  return by_lsn_.size();
}

Load::Load(const std::string& socket, int threads, uint32_t first_stream, AckedLog* acked,
           uint64_t limit) {
  for (int t = 0; t < threads; ++t) {
    ++running_;
    threads_.emplace_back(
        [this, socket, stream = first_stream + static_cast<uint32_t>(t), acked, limit] {
          client::ClientOptions o;
          o.socket_path = socket;
          o.connect_timeout = std::chrono::milliseconds(2000);
          auto c = client::Client::connect(o);
          std::mt19937_64 rng(stream);
          uint64_t seq = 0;
          while (c.ok() && !stop_.load()) {
            if (limit != 0 && acked_count_.load() >= limit) break;
            const int n = 1 + static_cast<int>(rng() % 3);
            std::vector<Acked> batch;
            std::vector<std::vector<uint8_t>> payloads;
            std::vector<client::RecordIn> in;
            for (int i = 0; i < n; ++i) {
              Acked a;
              a.stream = stream;
              a.seq = ++seq;
              // Mostly small records, now and then a few KiB.
              a.len = static_cast<uint32_t>(rng() % 4 == 0 ? 1 + rng() % 8192 : 1 + rng() % 300);
              a.type = static_cast<uint16_t>(1 + a.seq % 7);
              batch.push_back(a);
              payloads.push_back(it::make_payload(a.stream, a.seq, a.len));
            }
            for (size_t i = 0; i < batch.size(); ++i) {
              client::RecordIn r;
              r.type = batch[i].type;
              r.payload = payloads[i];
              in.push_back(r);
            }
            auto lsn = c.value()->append(in);
            if (!lsn.ok()) break;  // the daemon went away under this thread
            for (size_t i = 0; i < batch.size(); ++i) acked->add(lsn.value() + i, batch[i]);
            acked_count_ += batch.size();
          }
          --running_;
        });
  }
}

Load::~Load() { stop(); }

void Load::stop() {
  stop_ = true;
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

bool Load::wait_acked(uint64_t n, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (acked_count_.load() >= n) return true;
    if (running_.load() == 0) return false;
    std::this_thread::sleep_for(milliseconds(2));  // poll interval
  }
  return false;
}

it::DaemonConfig archive_config(const testing::S3rver& server, const std::string& creds_dir,
                                const std::string& access_key, const std::string& bucket) {
  std::filesystem::create_directories(creds_dir);
  std::ofstream(creds_dir + "/access_key_id") << access_key << "\n";
  std::ofstream(creds_dir + "/secret_access_key") << testing::S3rver::kSecretAccessKey << "\n";
  it::DaemonConfig cfg;
  cfg.set("wal", "segment_bytes", "1MiB");
  cfg.set("wal", "max_record_bytes", "64KiB");
  cfg.set("archive", "enabled", "true");
  cfg.set("archive", "endpoint", "\"" + server.endpoint() + "\"");
  cfg.set("archive", "bucket", bucket);
  cfg.set("archive", "prefix", kPrefix);
  cfg.set("archive", "credentials_dir", creds_dir);
  cfg.set("archive", "interval_seconds", "0.1");
  return cfg;
}

std::string mkdirs(const std::string& path) {
  std::filesystem::create_directories(path);
  return path;
}

double metric(uint16_t admin_port, const std::string& name) {
  it::HttpResponse r = it::http_get(admin_port, "/metrics");
  std::istringstream in(r.body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > name.size() && line.compare(0, name.size(), name) == 0 &&
        line[name.size()] == ' ') {
      return std::stod(line.substr(name.size() + 1));
    }
  }
  return std::nan("");
}

uint64_t wait_archive_caught_up(it::Daemon& d, milliseconds timeout) {
  it::RawClient c(d.socket_path());
  uint64_t durable = 0;
  bool ok = d.wait_until(
      [&] {
        durable = c.status().durable_lsn;
        return metric(d.admin_port(), "sidewal_archive_durable_lsn") ==
                   static_cast<double>(durable) &&
               metric(d.admin_port(), "sidewal_archive_lag_records") == 0 &&
               metric(d.admin_port(), "sidewal_archive_lag_bytes") == 0;
      },
      timeout);
  if (!ok) {
    throw std::runtime_error("the archive did not catch up with durable lsn " +
                             std::to_string(durable) + " (archive at " +
                             std::to_string(metric(d.admin_port(), "sidewal_archive_durable_lsn")) +
                             "); output:\n" + d.output());
  }
  return durable;
}

it::RunResult run_restore(const testing::S3rver& server, const std::string& creds_dir,
                          const std::string& dir, const std::vector<std::string>& extra) {
  std::vector<std::string> args = {
      "restore",    "--archive",       std::string("s3://") + kBucket + "/" + kPrefix,
      "--endpoint", server.endpoint(), "--credentials-dir",
      creds_dir,    "--data-dir",      dir};
  args.insert(args.end(), extra.begin(), extra.end());
  return it::run_program(SIDEWAL_CLI_PATH, args);
}

std::vector<wal::Record> records_of_dir(const std::string& dir) {
  std::vector<wal::Record> out;
  auto io = wal::make_backend(wal::BackendKind::kPwrite, nullptr);
  wal::RecoveryReport rep;
  Status s = wal::inspect_dir(
      dir, io.get(), {}, [&](const wal::Record& r) { out.push_back(r); }, &rep);
  if (!s.ok()) throw std::runtime_error("inspect_dir " + dir + ": " + s.ToString());
  if (rep.corruption) throw std::runtime_error("inspect_dir " + dir + ": " + rep.corruption_at);
  return out;
}

std::string check_acked(const std::vector<wal::Record>& records,
                        const std::map<uint64_t, Acked>& acked) {
  for (size_t i = 1; i < records.size(); ++i) {
    if (records[i].lsn != records[i - 1].lsn + 1) {
      return "gap: lsn " + std::to_string(records[i].lsn) + " after " +
             std::to_string(records[i - 1].lsn);
    }
  }
  if (acked.empty()) return "";
  if (records.empty()) return "no records, " + std::to_string(acked.size()) + " acknowledged";
  const uint64_t first = records.front().lsn;
  for (const auto& [lsn, a] : acked) {
    if (lsn < first || lsn - first >= records.size()) {
      return "acknowledged lsn " + std::to_string(lsn) + " is missing (have " +
             std::to_string(first) + ".." + std::to_string(records.back().lsn) + ")";
    }
    const wal::Record& r = records[lsn - first];
    if (r.type != a.type || r.payload != it::make_payload(a.stream, a.seq, a.len)) {
      return "lsn " + std::to_string(lsn) + " differs from what was acknowledged";
    }
  }
  return "";
}

}  // namespace sidewal::e2e
