// Config: everything sidewald reads from config/sidewal.yaml and its flags.
//
// Loading is strict on purpose: an unknown key, a wrong type or an impossible
// value stops the daemon at start with the key's dotted name in the message
// ("limits.max_frame_bytes: ..."), because a typo that silently falls back to a
// default is how a sidecar ends up with the wrong durability settings.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "proto/protocol.h"
#include "wal/wal.h"

namespace sidewal::server {

struct Config {
  // Paths are absolute after load_config(): relative ones resolve against the
  // current working directory of sidewald (not the config file's directory).
  std::string data_dir = "./var/data";

  std::string socket_path = "./var/sidewal.sock";
  uint32_t socket_mode = 0660;                // permission bits of the socket file
  std::vector<uint32_t> socket_allowed_uids;  // empty: any peer UID may connect

  std::string admin_host = "127.0.0.1";
  uint16_t admin_port = 9464;  // 0: the kernel picks a port (logged at start)

  uint64_t wal_segment_bytes = wal::kDefaultSegmentBytes;
  uint32_t wal_max_record_bytes = wal::kDefaultMaxRecordBytes;
  wal::BackendKind wal_io_backend = wal::BackendKind::kAuto;
  wal::SyncMode wal_sync_mode = wal::SyncMode::kFdatasync;
  bool wal_salvage = false;
  bool wal_dwb = true;  // wal.dwb: on | off (double-write buffer)
  // wal.caller_flushes: an APPEND that finds the flusher idle is written and
  // synced on its connection thread (WalOptions::caller_flushes). On by
  // default since the fdatasync left io_uring's worker threads: a lone
  // commit then stays on one thread (docs/operations.md "Leader flush").
  bool wal_caller_flushes = true;
  // wal.overlap_min_bytes: a flush whose pages after the first reach this
  // size is started while the previous flush syncs (WalOptions::
  // overlap_min_bytes, docs/format.md "Overlapped flushes"); 0 turns it off.
  uint64_t wal_overlap_min_bytes = 64 * 1024;
  // wal.staging_bytes: each of the engine's two staging buffers, the most
  // one flush carries (WalOptions::staging_bytes).
  uint64_t wal_staging_bytes = wal::kDefaultStagingBytes;

  // Encryption at rest (docs/operations.md "Encryption at rest"), the shape the
  // Helm chart renders: encryption: {enabled, current_key_id, keys: [{id, file}]}.
  // Key files hold 32 raw bytes; the config only names them. Files are read at
  // start (not by --check-config: the Secret is mounted only in the pod).
  struct EncryptionKey {
    uint16_t id = 0;   // 1..65535, the segment preamble's key id
    std::string file;  // absolute after finalize_config()
  };
  bool encryption_enabled = false;
  uint16_t encryption_current_key_id = 0;
  std::vector<EncryptionKey> encryption_keys;

  // body_len above this: FRAME_TOO_LARGE. The default is the protocol's (the
  // client library's default max_request_body is the same constant).
  uint32_t max_frame_bytes = proto::kDefaultMaxFrameBody;
  uint32_t max_connections = 4096;                           // accepted and closed above this
  uint64_t max_inflight_bytes_per_connection = 16ull << 20;  // stop reading that socket above it
  uint64_t max_inflight_bytes_total = 256ull << 20;          // stop reading every socket above it
  uint64_t inflight_reserve_per_connection = 64ull
                                             << 10;  // ...except a socket holding less than this

  uint32_t threads = 2;               // Asio worker threads for connections
  double drain_timeout_seconds = 30;  // SIGTERM: longest wait for in-flight commits

  std::string log_level = "info";  // trace, debug, info, warn, error

  // Continuous archive to S3-compatible object storage (docs/archive.md,
  // docs/operations.md "Archive"). Off by default.
  struct Archive {
    bool enabled = false;
    std::string endpoint;  // scheme://host[:port]; default https://s3.REGION.amazonaws.com
    std::string bucket;
    std::string prefix;  // keys start with PREFIX/ (no leading or trailing '/')
    std::string region = "us-east-1";
    bool path_style = true;  // false: virtual-hosted (BUCKET.host)
    std::string
        credentials_dir;  // access_key_id, secret_access_key[, session_token]; empty: AWS_* env
    std::string ca_file;  // PEM bundle; empty: the system's CAs
    double interval_seconds = 1;   // tail shipping interval
    bool truncation_waits = true;  // truncation never deletes what the archive lacks
    // An empty data directory is restored from the archive (its newest
    // generation) before recovery; /readyz 503 meanwhile.
    bool restore_on_empty = false;
    uint32_t upload_concurrency = 4;           // objects or parts uploaded at once
    uint64_t max_upload_bytes_per_second = 0;  // 0: no cap
  };
  Archive archive;
};

// Parses YAML text. `source` names the text in messages (the file path).
Result<Config> parse_config(const std::string& yaml_text, const std::string& source);

// Reads and parses `path`; an empty path returns the defaults.
Result<Config> load_config(const std::string& path);

// Command-line overrides, applied after the file.
struct ConfigOverrides {
  std::optional<std::string> data_dir;
  std::optional<std::string> socket_path;
  std::optional<std::string> admin_listen;  // "host:port"
};
Status apply_overrides(const ConfigOverrides& o, Config* config);

// Checks cross-key constraints and makes paths absolute. load_config() and
// apply_overrides() leave this to the caller so flags are validated too.
Status finalize_config(Config* config);

// "host:port" (IPv6 as "[::1]:9464") into its parts; `key` names the setting.
Status parse_listen(const std::string& text, const std::string& key, std::string* host,
                    uint16_t* port);

const char* backend_kind_name(wal::BackendKind kind);
const char* sync_mode_name(wal::SyncMode mode);

}  // namespace sidewal::server
