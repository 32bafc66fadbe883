// The CLI's subcommands. Each returns the process exit code: 0 ok,
// 1 the operation failed (the error, with its code name, is on stderr).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cli/print.h"

namespace sidewal::cli {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

// Where the daemon listens and how long to keep trying (--socket,
// --connect-timeout-ms): every online command takes it.
struct ConnectArgs {
  std::string socket_path;
  uint32_t connect_timeout_ms = 2000;
};

// ---- Through the daemon (online.cc).
struct AppendArgs {
  uint16_t type = 0;
  uint32_t tenant = 0;
  std::vector<std::string> records;  // empty: one record per stdin line
};
int run_append(const ConnectArgs& c, const AppendArgs& a);

struct ReadArgs {
  std::optional<uint64_t> from;  // default: the first LSN (read) / the next new one (tail)
  uint64_t max = 0;              // records; 0 = all
  bool follow = false;
  PayloadStyle style = PayloadStyle::kAuto;
  bool skip_dead = false;    // READ flag SKIP_DEAD
  bool header_only = false;  // READ flag HEADER_ONLY: print `lsn type tenant len=N`
};
int run_read(const ConnectArgs& c, const ReadArgs& a);
int run_tail(const ConnectArgs& c, const ReadArgs& a);
int run_status(const ConnectArgs& c);
int run_truncate(const ConnectArgs& c, uint64_t before);

// ---- Offline, on a data directory, no daemon (offline.cc).
// Exit 1 on corruption (a bad record before valid ones); with `strict` also
// when recovery would cut a torn tail.
// `keys`: "ID=FILE" specs (--key), the 32-byte key files of encrypted
// segments. Without a segment's key its CRCs are still checked and its
// cipher and key id reported; its payloads are not shown.
int run_verify(const std::string& data_dir, bool strict, const std::vector<std::string>& keys);
int run_dump(const std::string& data_dir, uint64_t from, PayloadStyle style,
             const std::vector<std::string>& keys);

}  // namespace sidewal::cli
