// Config parsing and validation, page-cache probes and JSON log escaping.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "server/config.h"
#include "server/log.h"
#include "server/page_cache.h"

namespace sidewal::server {
namespace {

Result<Config> parse(const std::string& yaml) { return parse_config(yaml, "test.yaml"); }

// Expects `yaml` to be rejected with a message naming `key` and containing `what`.
void expect_rejected(const std::string& yaml, const std::string& key, const std::string& what) {
  auto r = parse(yaml);
  Status st = r.ok() ? finalize_config(&r.value()) : r.status();
  ASSERT_FALSE(st.ok()) << "accepted: " << yaml;
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find(key + ":"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find(what), std::string::npos) << st.message();
}

TEST(Config, EmptyFileGivesDefaults) {
  auto c = parse("");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->data_dir, "./var/data");
  EXPECT_EQ(c->socket_mode, 0660u);
  EXPECT_EQ(c->admin_port, 9464);
  EXPECT_EQ(c->wal_segment_bytes, 64ull << 20);
  EXPECT_EQ(c->max_frame_bytes, 4u << 20);
  EXPECT_EQ(c->max_connections, 4096u);
  EXPECT_EQ(c->threads, 2u);
}

TEST(Config, DocumentedExampleParsesToTheDefaults) {
  auto c = load_config(std::string(SIDEWAL_SOURCE_DIR) + "/config/sidewal.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const Config d;
  EXPECT_EQ(c->data_dir, d.data_dir);
  EXPECT_EQ(c->socket_path, d.socket_path);
  EXPECT_EQ(c->socket_mode, d.socket_mode);
  EXPECT_EQ(c->socket_allowed_uids, d.socket_allowed_uids);
  EXPECT_EQ(c->admin_host, d.admin_host);
  EXPECT_EQ(c->admin_port, d.admin_port);
  EXPECT_EQ(c->wal_segment_bytes, d.wal_segment_bytes);
  EXPECT_EQ(c->wal_max_record_bytes, d.wal_max_record_bytes);
  EXPECT_EQ(c->wal_io_backend, d.wal_io_backend);
  EXPECT_EQ(c->wal_sync_mode, d.wal_sync_mode);
  EXPECT_EQ(c->wal_salvage, d.wal_salvage);
  EXPECT_EQ(c->max_frame_bytes, d.max_frame_bytes);
  EXPECT_EQ(c->max_connections, d.max_connections);
  EXPECT_EQ(c->max_inflight_bytes_per_connection, d.max_inflight_bytes_per_connection);
  EXPECT_EQ(c->max_inflight_bytes_total, d.max_inflight_bytes_total);
  EXPECT_EQ(c->inflight_reserve_per_connection, d.inflight_reserve_per_connection);
  EXPECT_EQ(c->threads, d.threads);
  EXPECT_EQ(c->drain_timeout_seconds, d.drain_timeout_seconds);
  EXPECT_EQ(c->log_level, d.log_level);
  Config f = c.value();
  EXPECT_TRUE(finalize_config(&f).ok());
}

TEST(Config, EveryKeyIsRead) {
  auto c = parse(R"(
data_dir: /d
socket: {path: /s.sock, mode: "0600", allowed_uids: [0, 1000]}
admin: {listen: "[::1]:0"}
wal: {segment_bytes: 8MiB, max_record_bytes: 2097152, io_backend: pwrite, sync_mode: odsync, salvage: true}
limits: {max_frame_bytes: 3 MiB, max_connections: 7, max_inflight_bytes_per_connection: 64KiB,
         max_inflight_bytes_total: 1GiB, inflight_reserve_per_connection: 8KiB}
server: {threads: 3}
shutdown: {drain_timeout_seconds: 2.5}
log: {level: debug}
)");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->data_dir, "/d");
  EXPECT_EQ(c->socket_path, "/s.sock");
  EXPECT_EQ(c->socket_mode, 0600u);
  EXPECT_EQ(c->socket_allowed_uids, (std::vector<uint32_t>{0, 1000}));
  EXPECT_EQ(c->admin_host, "::1");
  EXPECT_EQ(c->admin_port, 0);
  EXPECT_EQ(c->wal_segment_bytes, 8ull << 20);
  EXPECT_EQ(c->wal_max_record_bytes, 2u << 20);
  EXPECT_EQ(c->wal_io_backend, wal::BackendKind::kPwrite);
  EXPECT_EQ(c->wal_sync_mode, wal::SyncMode::kODsync);
  EXPECT_TRUE(c->wal_salvage);
  EXPECT_EQ(c->max_frame_bytes, 3u << 20);
  EXPECT_EQ(c->max_connections, 7u);
  EXPECT_EQ(c->max_inflight_bytes_per_connection, 64u << 10);
  EXPECT_EQ(c->max_inflight_bytes_total, 1ull << 30);
  EXPECT_EQ(c->inflight_reserve_per_connection, 8u << 10);
  EXPECT_EQ(c->threads, 3u);
  EXPECT_DOUBLE_EQ(c->drain_timeout_seconds, 2.5);
  EXPECT_EQ(c->log_level, "debug");
  Config f = c.value();
  EXPECT_TRUE(finalize_config(&f).ok());
}

TEST(Config, ArchiveKeysAreReadAndChecked) {
  auto d = parse("");
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->archive.enabled);
  EXPECT_TRUE(d->archive.truncation_waits);
  EXPECT_DOUBLE_EQ(d->archive.interval_seconds, 1);
  auto c = parse(R"(
archive: {enabled: true, bucket: b, prefix: /x/y/, region: eu-west-1, path_style: false,
          credentials_dir: /creds, ca_file: /ca.pem, interval_seconds: 0.5, truncation_waits: false}
)");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  Config f = c.value();
  ASSERT_TRUE(finalize_config(&f).ok());
  EXPECT_TRUE(f.archive.enabled);
  EXPECT_EQ(f.archive.bucket, "b");
  EXPECT_EQ(f.archive.prefix, "x/y");
  EXPECT_EQ(f.archive.endpoint, "https://s3.eu-west-1.amazonaws.com");
  EXPECT_FALSE(f.archive.path_style);
  EXPECT_EQ(f.archive.credentials_dir, "/creds");
  EXPECT_EQ(f.archive.ca_file, "/ca.pem");
  EXPECT_DOUBLE_EQ(f.archive.interval_seconds, 0.5);
  EXPECT_FALSE(f.archive.truncation_waits);
  expect_rejected("archive: {enabled: true}\n", "archive.bucket", "must be set");
  expect_rejected("archive: {enabled: true, bucket: b, endpoint: s3.example}\n", "archive.endpoint",
                  "expected http");
  expect_rejected("archive: {interval_seconds: 0}\n", "archive.interval_seconds", "at least");
  expect_rejected("archive: {buckett: b}\n", "archive.buckett", "unknown key");
  // restore_on_empty, the upload concurrency and the bandwidth cap.
  EXPECT_FALSE(d->archive.restore_on_empty);
  EXPECT_EQ(d->archive.upload_concurrency, 4u);
  EXPECT_EQ(d->archive.max_upload_bytes_per_second, 0u);
  auto t = parse(
      "archive: {restore_on_empty: true, upload_concurrency: 8, "
      "max_upload_bytes_per_second: 50MiB}\n");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_TRUE(t->archive.restore_on_empty);
  EXPECT_EQ(t->archive.upload_concurrency, 8u);
  EXPECT_EQ(t->archive.max_upload_bytes_per_second, 50u << 20);
  expect_rejected("archive: {upload_concurrency: 0}\n", "archive.upload_concurrency",
                  "out of range");
  expect_rejected("archive: {max_upload_bytes_per_second: 1000}\n",
                  "archive.max_upload_bytes_per_second", "at least 64KiB");
  expect_rejected("archive: {restore_on_empty: yes}\n", "archive.restore_on_empty",
                  "true or false");
}

TEST(Config, OverlapMinBytesDefaultsTo64KiBTakesASizeAndZeroTurnsItOff) {
  auto d = parse("");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->wal_overlap_min_bytes, 64u * 1024);
  auto off = parse("wal:\n  overlap_min_bytes: 0\n");
  ASSERT_TRUE(off.ok()) << off.status().ToString();
  EXPECT_EQ(off->wal_overlap_min_bytes, 0u);
  auto mib = parse("wal:\n  overlap_min_bytes: 1MiB\n");
  ASSERT_TRUE(mib.ok()) << mib.status().ToString();
  EXPECT_EQ(mib->wal_overlap_min_bytes, 1u << 20);
  expect_rejected("wal:\n  overlap_min_bytes: lots\n", "wal.overlap_min_bytes", "byte size");
}

TEST(Config, StagingBytesDefaultsTo4MiBAndTakesASizeFrom1MiBTo1GiB) {
  auto d = parse("");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->wal_staging_bytes, 4u << 20);
  auto big = parse("wal:\n  staging_bytes: 16MiB\n");
  ASSERT_TRUE(big.ok()) << big.status().ToString();
  EXPECT_EQ(big->wal_staging_bytes, 16u << 20);
  expect_rejected("wal:\n  staging_bytes: 512KiB\n", "wal.staging_bytes", "out of range");
  expect_rejected("wal:\n  staging_bytes: 2GiB\n", "wal.staging_bytes", "out of range");
  expect_rejected("wal:\n  staging_bytes: big\n", "wal.staging_bytes", "byte size");
}

TEST(Config, CallerFlushesIsOnByDefaultAndTakesABool) {
  auto d = parse("");
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->wal_caller_flushes);
  auto off = parse("wal:\n  caller_flushes: false\n");
  ASSERT_TRUE(off.ok()) << off.status().ToString();
  EXPECT_FALSE(off->wal_caller_flushes);
  expect_rejected("wal:\n  caller_flushes: sometimes\n", "wal.caller_flushes",
                  "expected true or false");
}

TEST(Config, DwbIsOnByDefaultAndTakesOnOrOff) {
  auto d = parse("");
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->wal_dwb);
  auto off = parse("wal:\n  dwb: off\n");
  ASSERT_TRUE(off.ok()) << off.status().ToString();
  EXPECT_FALSE(off->wal_dwb);
  auto on = parse("wal:\n  dwb: on\n");
  ASSERT_TRUE(on.ok()) << on.status().ToString();
  EXPECT_TRUE(on->wal_dwb);
  expect_rejected("wal:\n  dwb: maybe\n", "wal.dwb", "expected on or off");
  expect_rejected("wal:\n  dwb: [on]\n", "wal.dwb", "expected on or off");
}

TEST(Config, UnknownKeysAreRejectedWithTheirDottedName) {
  expect_rejected("datadir: /x\n", "datadir", "unknown key");
  expect_rejected("wal:\n  segment_byte: 1MiB\n", "wal.segment_byte", "unknown key");
  expect_rejected("socket:\n  path: /s\n  owner: root\n", "socket.owner", "unknown key");
}

TEST(Config, WrongTypesAreRejected) {
  expect_rejected("data_dir: [a, b]\n", "data_dir", "expected a string");
  expect_rejected("limits:\n  max_connections: many\n", "limits.max_connections",
                  "expected a non-negative integer");
  expect_rejected("limits:\n  max_connections: -1\n", "limits.max_connections",
                  "expected a non-negative integer");
  expect_rejected("wal:\n  salvage: maybe\n", "wal.salvage", "expected true or false");
  expect_rejected("wal: 5\n", "wal", "expected a mapping");
  expect_rejected("socket:\n  allowed_uids: 1000\n", "socket.allowed_uids", "expected a list");
  expect_rejected("socket:\n  allowed_uids: [x]\n", "socket.allowed_uids[0]", "integer");
  expect_rejected("wal:\n  segment_bytes: 12XB\n", "wal.segment_bytes", "expected a byte size");
  expect_rejected("shutdown:\n  drain_timeout_seconds: soon\n", "shutdown.drain_timeout_seconds",
                  "expected a number of seconds");
}

TEST(Config, ImpossibleValuesAreRejected) {
  expect_rejected("wal:\n  max_record_bytes: 32MiB\n", "wal.max_record_bytes", "out of range");
  expect_rejected("wal:\n  max_record_bytes: 0\n", "wal.max_record_bytes", "out of range");
  expect_rejected("wal:\n  io_backend: aio\n", "wal.io_backend",
                  "expected auto, io_uring or pwrite");
  expect_rejected("wal:\n  sync_mode: fsync\n", "wal.sync_mode", "expected fdatasync or odsync");
  expect_rejected("wal:\n  segment_bytes: 10000001\n", "wal.segment_bytes", "multiple of 4096");
  expect_rejected("wal:\n  segment_bytes: 2MiB\n  max_record_bytes: 1MiB\n", "wal.segment_bytes",
                  "4 x wal.max_record_bytes");
  expect_rejected("limits:\n  max_frame_bytes: 1MiB\n", "limits.max_frame_bytes",
                  "cannot carry one record");
  expect_rejected("limits:\n  max_connections: 0\n", "limits.max_connections", "out of range");
  expect_rejected(
      "limits:\n  max_inflight_bytes_per_connection: 1GiB\n  max_inflight_bytes_total: 512MiB\n",
      "limits.max_inflight_bytes_total", "below");
  expect_rejected(
      "limits:\n  max_inflight_bytes_per_connection: 64KiB\n  inflight_reserve_per_connection: "
      "1MiB\n",
      "limits.inflight_reserve_per_connection", "above");
  expect_rejected("server:\n  threads: 0\n", "server.threads", "out of range");
  expect_rejected("socket:\n  mode: \"0999\"\n", "socket.mode", "octal");
  expect_rejected("socket:\n  mode: \"0440\"\n", "socket.mode", "0600");
  expect_rejected("admin:\n  listen: localhost:9464\n", "admin.listen", "numeric");
  expect_rejected("admin:\n  listen: 127.0.0.1:70000\n", "admin.listen", "port");
  expect_rejected("admin:\n  listen: 127.0.0.1\n", "admin.listen", "host:port");
  expect_rejected("shutdown:\n  drain_timeout_seconds: -1\n", "shutdown.drain_timeout_seconds",
                  "out of range");
  expect_rejected("log:\n  level: loud\n", "log.level", "expected trace");
  expect_rejected("socket:\n  path: /" + std::string(200, 'x') + "\n", "socket.path",
                  "Unix socket path must be under");
}

TEST(Config, InvalidYamlNamesTheSource) {
  auto r = parse("wal: [unclosed\n");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("test.yaml"), std::string::npos);
}

TEST(Config, MissingFileIsAnError) {
  auto r = load_config("/nonexistent/sidewal.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("/nonexistent/sidewal.yaml"), std::string::npos);
}

TEST(Config, RelativePathsResolveAgainstTheWorkingDirectory) {
  auto c = parse("data_dir: rel/data\nsocket:\n  path: ./s.sock\n");
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(finalize_config(&c.value()).ok());
  const auto cwd = std::filesystem::current_path();
  EXPECT_EQ(c->data_dir, (cwd / "rel/data").string());
  EXPECT_EQ(c->socket_path, (cwd / "s.sock").string());
}

TEST(Config, FlagsOverrideTheFile) {
  auto c = parse("data_dir: /a\nadmin:\n  listen: 127.0.0.1:1\n");
  ASSERT_TRUE(c.ok());
  ConfigOverrides o;
  o.data_dir = "/b";
  o.socket_path = "/c.sock";
  o.admin_listen = "0.0.0.0:9999";
  ASSERT_TRUE(apply_overrides(o, &c.value()).ok());
  EXPECT_EQ(c->data_dir, "/b");
  EXPECT_EQ(c->socket_path, "/c.sock");
  EXPECT_EQ(c->admin_host, "0.0.0.0");
  EXPECT_EQ(c->admin_port, 9999);

  o.admin_listen = "nope";
  Status st = apply_overrides(o, &c.value());
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("--admin"), std::string::npos) << st.message();
}

TEST(PageCache, MeminfoCachedIsParsed) {
  const auto path =
      std::filesystem::temp_directory_path() / ("meminfo-" + std::to_string(getpid()));
  {
    std::ofstream f(path);
    f << "MemTotal:       16000000 kB\nBuffers:          100 kB\nCached:          2048 kB\n"
         "SwapCached:        0 kB\n";
  }
  auto r = meminfo_cached_bytes(path.string());
  std::filesystem::remove(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r.value(), 2048u * 1024);

  auto host = meminfo_cached_bytes();
  EXPECT_TRUE(host.ok()) << host.status().ToString();
}

TEST(PageCache, ResidentBytesSeesBufferedWritesAndSkipsMissingFiles) {
  const auto path =
      std::filesystem::temp_directory_path() / ("resident-" + std::to_string(getpid()));
  const std::string data(256 * 1024, 'x');
  {
    std::ofstream f(path, std::ios::binary);
    f << data;
  }
  // Buffered writes land in the page cache: some of them must be resident.
  const uint64_t resident = resident_bytes({path.string(), "/nonexistent/segment"});
  EXPECT_GT(resident, 0u);
  EXPECT_LE(resident, data.size() + 4096);
  std::filesystem::remove(path);
  EXPECT_EQ(resident_bytes({path.string()}), 0u);
}

TEST(Log, JsonEscape) {
  EXPECT_EQ(log::render("a\"b\\c\nd\x01", {}), "\"msg\":\"a\\\"b\\\\c\\nd\\u0001\",\"fields\":{}");
}

TEST(Log, FieldsKeepTheirOrderAndNumbersAndBooleansAreBare) {
  EXPECT_EQ(log::render("m", {{"z", "s"}, {"a", uint64_t{7}}, {"n", -3}, {"b", true}}),
            "\"msg\":\"m\",\"fields\":{\"z\":\"s\",\"a\":7,\"n\":-3,\"b\":true}");
}

}  // namespace
}  // namespace sidewal::server
