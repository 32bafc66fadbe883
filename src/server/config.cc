#include "server/config.h"

#include <yaml-cpp/yaml.h>

#include <arpa/inet.h>
#include <sys/un.h>

#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "server/archive_config.h"
#include "server/config_parse.h"

namespace sidewal::server {
namespace {

// One source of truth for the defaults a client can rely on without asking
// (docs/protocol.md "Limits"): the protocol's constants are the daemon's.
static_assert(proto::kDefaultMaxRecordBytes == wal::kDefaultMaxRecordBytes);
static_assert(proto::kDefaultMaxFrameBody >=
                  proto::kDefaultMaxRecordBytes + proto::kAppendRecordHeaderSize,
              "the default frame must carry the default largest record");

using namespace config_parse;  // NOLINT: the parsing helpers (config_parse.h)

Status parse_mode(const YAML::Node& n, const std::string& key, uint32_t* out) {
  // The scalar's text is read as octal whether it was quoted or not, so
  // `mode: 0660` and `mode: "0660"` mean the same thing.
  if (n.IsScalar()) {
    const std::string& s = n.Scalar();
    uint32_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 8);
    if (!s.empty() && ec == std::errc() && p == s.data() + s.size()) {
      if (v > 0777) return key_error(key, "mode " + s + " has bits above 0777");
      if ((v & 0600) != 0600) {
        return key_error(key, "mode " + s + " must give the owner read and write (0600)");
      }
      *out = v;
      return Status::Ok();
    }
  }
  return key_error(key, "expected an octal permission string like \"0660\", got " + describe(n));
}

Status parse_root(const YAML::Node& root, Config* c) {
  std::map<std::string, KeyParser> top = {
      {"data_dir",
       [c](const YAML::Node& n, const std::string& k) { return get_string(n, k, &c->data_dir); }},
      {"socket",
       section({
           {"path",
            [c](const YAML::Node& n, const std::string& k) {
              return get_string(n, k, &c->socket_path);
            }},
           {"mode",
            [c](const YAML::Node& n, const std::string& k) {
              return parse_mode(n, k, &c->socket_mode);
            }},
           {"allowed_uids",
            [c](const YAML::Node& n, const std::string& k) -> Status {
              if (n.IsNull()) {
                c->socket_allowed_uids.clear();
                return Status::Ok();
              }
              if (!n.IsSequence()) return key_error(k, "expected a list of UIDs, got " + describe(n));
              c->socket_allowed_uids.clear();
              for (size_t i = 0; i < n.size(); ++i) {
                uint64_t uid = 0;
                SIDEWAL_RETURN_IF_ERROR(
                    get_u64(n[i], k + "[" + std::to_string(i) + "]", 0, UINT32_MAX - 1, &uid));
                c->socket_allowed_uids.push_back(static_cast<uint32_t>(uid));
              }
              return Status::Ok();
            }},
       })},
      {"admin", section({
                    {"listen",
                     [c](const YAML::Node& n, const std::string& k) -> Status {
                       std::string s;
                       SIDEWAL_RETURN_IF_ERROR(get_string(n, k, &s));
                       return parse_listen(s, k, &c->admin_host, &c->admin_port);
                     }},
                })},
      {"wal",
       section({
           {"segment_bytes",
            [c](const YAML::Node& n, const std::string& k) {
              return get_size(n, k, 1 * kMiB, 64 * kGiB, &c->wal_segment_bytes);
            }},
           {"max_record_bytes",
            [c](const YAML::Node& n, const std::string& k) -> Status {
              uint64_t v = 0;
              SIDEWAL_RETURN_IF_ERROR(get_size(n, k, 1, wal::kHardMaxRecordBytes, &v));
              c->wal_max_record_bytes = static_cast<uint32_t>(v);
              return Status::Ok();
            }},
           {"io_backend",
            [c](const YAML::Node& n, const std::string& k) -> Status {
              std::string s;
              SIDEWAL_RETURN_IF_ERROR(get_string(n, k, &s));
              if (s == "auto") c->wal_io_backend = wal::BackendKind::kAuto;
              else if (s == "io_uring") c->wal_io_backend = wal::BackendKind::kUring;
              else if (s == "pwrite") c->wal_io_backend = wal::BackendKind::kPwrite;
              else return key_error(k, "expected auto, io_uring or pwrite, got '" + s + "'");
              return Status::Ok();
            }},
           {"sync_mode",
            [c](const YAML::Node& n, const std::string& k) -> Status {
              std::string s;
              SIDEWAL_RETURN_IF_ERROR(get_string(n, k, &s));
              if (s == "fdatasync") c->wal_sync_mode = wal::SyncMode::kFdatasync;
              else if (s == "odsync") c->wal_sync_mode = wal::SyncMode::kODsync;
              else return key_error(k, "expected fdatasync or odsync, got '" + s + "'");
              return Status::Ok();
            }},
           {"salvage",
            [c](const YAML::Node& n, const std::string& k) {
              return get_bool(n, k, &c->wal_salvage);
            }},
           {"caller_flushes",
            [c](const YAML::Node& n, const std::string& k) {
              return get_bool(n, k, &c->wal_caller_flushes);
            }},
           {"overlap_min_bytes",
            [c](const YAML::Node& n, const std::string& k) {
              return get_size(n, k, 0, 64 * kGiB, &c->wal_overlap_min_bytes);
            }},
           {"staging_bytes",
            [c](const YAML::Node& n, const std::string& k) {
              return get_size(n, k, 1 * kMiB, 1 * kGiB, &c->wal_staging_bytes);
            }},
           {"dwb",
            [c](const YAML::Node& n, const std::string& k) -> Status {
              // YAML 1.2 reads on/off as strings; true/false are accepted too.
              const std::string s = n.IsScalar() ? n.Scalar() : std::string();
              if (s == "on" || s == "true") c->wal_dwb = true;
              else if (s == "off" || s == "false") c->wal_dwb = false;
              else return key_error(k, "expected on or off, got " + describe(n));
              return Status::Ok();
            }},
       })},
      {"encryption",
       section({
           {"enabled",
            [c](const YAML::Node& n, const std::string& k) {
              return get_bool(n, k, &c->encryption_enabled);
            }},
           {"current_key_id",
            [c](const YAML::Node& n, const std::string& k) -> Status {
              uint64_t v = 0;
              SIDEWAL_RETURN_IF_ERROR(get_u64(n, k, 1, 65535, &v));
              c->encryption_current_key_id = static_cast<uint16_t>(v);
              return Status::Ok();
            }},
           {"keys",
            [c](const YAML::Node& n, const std::string& k) -> Status {
              if (!n.IsSequence()) return key_error(k, "expected a list of {id, file}, got " + describe(n));
              c->encryption_keys.clear();
              for (size_t i = 0; i < n.size(); ++i) {
                const std::string item = k + "[" + std::to_string(i) + "]";
                Config::EncryptionKey key;
                uint64_t id = 0;
                bool have_id = false;
                SIDEWAL_RETURN_IF_ERROR(walk_map(
                    n[i], item,
                    {{"id",
                      [&](const YAML::Node& v, const std::string& kk) -> Status {
                        have_id = true;
                        return get_u64(v, kk, 1, 65535, &id);
                      }},
                     {"file", [&](const YAML::Node& v, const std::string& kk) {
                        return get_string(v, kk, &key.file);
                      }}}));
                if (!have_id) return key_error(item + ".id", "missing");
                if (key.file.empty()) return key_error(item + ".file", "missing or empty");
                key.id = static_cast<uint16_t>(id);
                for (const Config::EncryptionKey& other : c->encryption_keys) {
                  if (other.id == key.id) {
                    return key_error(item + ".id", "key id " + std::to_string(id) +
                                                       " is listed twice");
                  }
                }
                c->encryption_keys.push_back(std::move(key));
              }
              return Status::Ok();
            }},
       })},
      {"archive", archive_section(&c->archive)},
      {"limits",
       section({
           {"max_frame_bytes",
            [c](const YAML::Node& n, const std::string& k) -> Status {
              uint64_t v = 0;
              SIDEWAL_RETURN_IF_ERROR(get_size(n, k, 64, 1 * kGiB, &v));
              c->max_frame_bytes = static_cast<uint32_t>(v);
              return Status::Ok();
            }},
           {"max_connections",
            [c](const YAML::Node& n, const std::string& k) -> Status {
              uint64_t v = 0;
              SIDEWAL_RETURN_IF_ERROR(get_u64(n, k, 1, 1'000'000, &v));
              c->max_connections = static_cast<uint32_t>(v);
              return Status::Ok();
            }},
           {"max_inflight_bytes_per_connection",
            [c](const YAML::Node& n, const std::string& k) {
              return get_size(n, k, 4 * kKiB, 64 * kGiB, &c->max_inflight_bytes_per_connection);
            }},
           {"max_inflight_bytes_total",
            [c](const YAML::Node& n, const std::string& k) {
              return get_size(n, k, 4 * kKiB, 1024 * kGiB, &c->max_inflight_bytes_total);
            }},
           {"inflight_reserve_per_connection",
            [c](const YAML::Node& n, const std::string& k) {
              return get_size(n, k, 0, 64 * kGiB, &c->inflight_reserve_per_connection);
            }},
       })},
      {"server", section({
                     {"threads",
                      [c](const YAML::Node& n, const std::string& k) -> Status {
                        uint64_t v = 0;
                        SIDEWAL_RETURN_IF_ERROR(get_u64(n, k, 1, 64, &v));
                        c->threads = static_cast<uint32_t>(v);
                        return Status::Ok();
                      }},
                 })},
      {"shutdown", section({
                       {"drain_timeout_seconds",
                        [c](const YAML::Node& n, const std::string& k) {
                          return get_seconds(n, k, 3600, &c->drain_timeout_seconds);
                        }},
                   })},
      {"log", section({
                  {"level",
                   [c](const YAML::Node& n, const std::string& k) -> Status {
                     std::string s;
                     SIDEWAL_RETURN_IF_ERROR(get_string(n, k, &s));
                     if (s != "trace" && s != "debug" && s != "info" && s != "warn" &&
                         s != "error") {
                       return key_error(k, "expected trace, debug, info, warn or error, got '" +
                                               s + "'");
                     }
                     c->log_level = s;
                     return Status::Ok();
                   }},
              })},
  };
  if (root.IsNull()) return Status::Ok();  // an empty file: every default
  return walk_map(root, "", top);
}

}  // namespace

Status parse_listen(const std::string& text, const std::string& key, std::string* host,
                    uint16_t* port) {
  std::string h;
  std::string p;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return key_error(key, "expected \"[ipv6]:port\", got '" + text + "'");
    }
    h = text.substr(1, close - 1);
    p = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos) {
      return key_error(key, "expected \"host:port\", got '" + text + "'");
    }
    h = text.substr(0, colon);
    p = text.substr(colon + 1);
  }
  uint8_t addr[16];
  if (inet_pton(AF_INET, h.c_str(), addr) != 1 && inet_pton(AF_INET6, h.c_str(), addr) != 1) {
    return key_error(key, "host '" + h + "' is not a numeric IPv4 or IPv6 address");
  }
  uint64_t v = 0;
  if (!parse_u64(p, &v) || v > 65535) {
    return key_error(key, "port '" + p + "' is not an integer in [0, 65535]");
  }
  *host = h;
  *port = static_cast<uint16_t>(v);
  return Status::Ok();
}

Result<Config> parse_config(const std::string& yaml_text, const std::string& source) {
  Config c;
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(source + ": not valid YAML: " + e.what());
  }
  Status st = parse_root(root, &c);
  if (!st.ok()) return Status::InvalidArgument(source + ": " + st.message());
  return c;
}

Result<Config> load_config(const std::string& path) {
  if (path.empty()) return Config{};
  std::ifstream in(path);
  if (!in) return Status::NotFound("config file " + path + ": cannot be opened");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_config(ss.str(), path);
}

Status apply_overrides(const ConfigOverrides& o, Config* c) {
  if (o.data_dir) {
    if (o.data_dir->empty()) return key_error("--data-dir", "must not be empty");
    c->data_dir = *o.data_dir;
  }
  if (o.socket_path) {
    if (o.socket_path->empty()) return key_error("--socket", "must not be empty");
    c->socket_path = *o.socket_path;
  }
  if (o.admin_listen) {
    SIDEWAL_RETURN_IF_ERROR(
        parse_listen(*o.admin_listen, "--admin", &c->admin_host, &c->admin_port));
  }
  return Status::Ok();
}

Status finalize_config(Config* c) {
  if (c->data_dir.empty()) return key_error("data_dir", "must not be empty");
  if (c->socket_path.empty()) return key_error("socket.path", "must not be empty");
  std::error_code ec;
  c->data_dir = std::filesystem::absolute(c->data_dir, ec).lexically_normal().string();
  if (ec) return key_error("data_dir", "cannot be made absolute: " + ec.message());
  c->socket_path = std::filesystem::absolute(c->socket_path, ec).lexically_normal().string();
  if (ec) return key_error("socket.path", "cannot be made absolute: " + ec.message());
  // sun_path holds the path and its terminating NUL.
  if (c->socket_path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    return key_error("socket.path", "'" + c->socket_path + "' is " +
                                        std::to_string(c->socket_path.size()) +
                                        " bytes; a Unix socket path must be under " +
                                        std::to_string(sizeof(sockaddr_un{}.sun_path)));
  }
  if (c->encryption_enabled) {
    if (c->encryption_keys.empty()) {
      return key_error("encryption.keys", "encryption is enabled but no key is listed");
    }
    bool found = false;
    for (Config::EncryptionKey& k : c->encryption_keys) {
      found = found || k.id == c->encryption_current_key_id;
      k.file = std::filesystem::absolute(k.file, ec).lexically_normal().string();
      if (ec) return key_error("encryption.keys", "'" + k.file + "' cannot be made absolute");
    }
    if (c->encryption_current_key_id == 0) {
      return key_error("encryption.current_key_id", "must be set when encryption is enabled");
    }
    if (!found) {
      std::string ids;
      for (const auto& k : c->encryption_keys)
        ids += (ids.empty() ? "" : ", ") + std::to_string(k.id);
      return key_error("encryption.current_key_id", std::to_string(c->encryption_current_key_id) +
                                                        " is not among encryption.keys[].id (" +
                                                        ids + ")");
    }
  }
  SIDEWAL_RETURN_IF_ERROR(finalize_archive(&c->archive));
  if (c->wal_segment_bytes % 4096 != 0) {
    return key_error("wal.segment_bytes",
                     "must be a multiple of 4096, got " + std::to_string(c->wal_segment_bytes));
  }
  // A segment must hold at least a few of the largest records.
  if (c->wal_segment_bytes < 4ull * c->wal_max_record_bytes) {
    return key_error("wal.segment_bytes", std::to_string(c->wal_segment_bytes) +
                                              " is smaller than 4 x wal.max_record_bytes (" +
                                              std::to_string(c->wal_max_record_bytes) + ")");
  }
  // The largest allowed record must fit in one APPEND frame (its body is the
  // 12-byte APPEND record header and the payload). The engine's batch limit
  // always holds two such records, so the frame is the only cross-key bound.
  const uint64_t need = uint64_t{c->wal_max_record_bytes} + proto::kAppendRecordHeaderSize;
  if (c->max_frame_bytes < need) {
    return key_error("limits.max_frame_bytes",
                     std::to_string(c->max_frame_bytes) +
                         " cannot carry one record of wal.max_record_bytes (" +
                         std::to_string(c->wal_max_record_bytes) + " + " +
                         std::to_string(proto::kAppendRecordHeaderSize) + " bytes of header)");
  }
  if (c->inflight_reserve_per_connection > c->max_inflight_bytes_per_connection) {
    return key_error("limits.inflight_reserve_per_connection",
                     std::to_string(c->inflight_reserve_per_connection) +
                         " is above limits.max_inflight_bytes_per_connection (" +
                         std::to_string(c->max_inflight_bytes_per_connection) + ")");
  }
  if (c->max_inflight_bytes_total < c->max_inflight_bytes_per_connection) {
    return key_error("limits.max_inflight_bytes_total",
                     std::to_string(c->max_inflight_bytes_total) +
                         " is below limits.max_inflight_bytes_per_connection (" +
                         std::to_string(c->max_inflight_bytes_per_connection) + ")");
  }
  return Status::Ok();
}

const char* backend_kind_name(wal::BackendKind kind) {
  switch (kind) {
    case wal::BackendKind::kAuto: return "auto";
    case wal::BackendKind::kUring: return "io_uring";
    case wal::BackendKind::kPwrite: return "pwrite";
  }
  return "?";
}

const char* sync_mode_name(wal::SyncMode mode) {
  return mode == wal::SyncMode::kODsync ? "odsync" : "fdatasync";
}

}  // namespace sidewal::server
