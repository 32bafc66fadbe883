// sidewal: the command-line tool. Online subcommands talk to sidewald over
// its socket; `verify` and `dump` read a data directory directly.
//
// Exit codes: 0 ok, 1 the operation failed (the error and its code name are
// printed on stderr), 2 usage error.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <optional>
#include <string>

#include "cli/archive_commands.h"
#include "cli/commands.h"

namespace {

using namespace sidewal::cli;

PayloadStyle style_of(bool raw, bool hex) {
  if (raw) return PayloadStyle::kRaw;
  if (hex) return PayloadStyle::kHex;
  return PayloadStyle::kAuto;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sidewal: client and offline inspector for the sidewald write-ahead log"};
  app.require_subcommand(1);
  // Global options (--socket) may also follow the subcommand.
  app.fallthrough();

  ConnectArgs conn;
  conn.socket_path = "./var/sidewal.sock";
  app.add_option("--socket", conn.socket_path, "sidewald's Unix socket")->capture_default_str();
  app.add_option("--connect-timeout-ms", conn.connect_timeout_ms,
                 "keep retrying the connection this long")
      ->capture_default_str();

  AppendArgs append;
  auto* append_cmd = app.add_subcommand(
      "append",
      "append records: each ARG is one record (one atomic APPEND); with no ARGS, "
      "each stdin line is a record. Prints one LSN per record");
  append_cmd->add_option("--type", append.type, "record type (0-32767)")->capture_default_str();
  append_cmd->add_option("--tenant", append.tenant, "tenant id")->capture_default_str();
  append_cmd->add_option("records", append.records, "record payloads");

  ReadArgs read;
  bool raw = false, hex = false;
  auto add_output_flags = [&](CLI::App* cmd) {
    cmd->add_flag("--raw", raw, "print only payloads, verbatim, one per line");
    cmd->add_flag("--hex", hex, "always print payloads as hex");
  };
  // The READ flags (docs/protocol.md "READ flags"), for read and tail.
  auto add_read_flags = [&](CLI::App* cmd) {
    cmd->add_flag("--skip-dead", read.skip_dead,
                  "omit records dead by collection tombstone (payloads starting with their "
                  "collection name; docs/control-records.md)");
    cmd->add_flag("--header-only", read.header_only, "no payloads: print `lsn type tenant len=N`")
        ->excludes(cmd->get_option("--raw"));
  };
  auto add_from = [&](CLI::App* cmd, const char* help) {
    cmd->add_option_function<uint64_t>(
        "--from", [&](const uint64_t& v) { read.from = v; }, help);
  };
  auto* read_cmd =
      app.add_subcommand("read",
                         "print records `lsn type tenant payload` (payload as text when printable, "
                         "else 0x-prefixed hex)");
  add_from(read_cmd, "first LSN (default: the first in the log)");
  read_cmd->add_option("--max", read.max, "stop after N records (0 = all)");
  add_output_flags(read_cmd);
  add_read_flags(read_cmd);

  auto* tail_cmd = app.add_subcommand("tail", "like read; with -f, keep printing new records");
  add_from(tail_cmd, "first LSN (default: with -f the next new record, else the first)");
  tail_cmd->add_flag("-f,--follow", read.follow, "keep following the log until interrupted");
  tail_cmd->add_option("--max", read.max, "stop after N records (0 = no limit)");
  add_output_flags(tail_cmd);
  add_read_flags(tail_cmd);

  auto* status_cmd = app.add_subcommand("status", "print the daemon's log status");

  uint64_t before = 0;
  auto* truncate_cmd =
      app.add_subcommand("truncate", "drop whole segments holding only records below --before");
  truncate_cmd->add_option("--before", before, "LSN")->required();

  std::string data_dir;
  auto* verify_cmd = app.add_subcommand(
      "verify",
      "check every segment of a data directory (no daemon; read-only); exit 1 on "
      "corruption");
  verify_cmd->add_option("--data-dir", data_dir, "the log's directory")->required();
  std::vector<std::string> keys;
  const char* key_help =
      "ID=FILE: key id and 32-byte key file of encrypted segments (repeatable); without it, "
      "CRCs are still checked but payloads are not decrypted";
  verify_cmd->add_option("--key", keys, key_help);
  bool strict = false;
  verify_cmd->add_flag("--strict", strict,
                       "also fail when recovery would cut a torn tail (expect none after a clean "
                       "shutdown)");

  uint64_t dump_from = 0;
  auto* dump_cmd = app.add_subcommand(
      "dump", "print every segment and record of a data directory (no daemon; read-only)");
  dump_cmd->add_option("--data-dir", data_dir, "the log's directory")->required();
  dump_cmd->add_option("--from", dump_from, "print records from this LSN");
  dump_cmd->add_option("--key", keys, key_help);
  add_output_flags(dump_cmd);

  // The archive (docs/archive.md): where it is and how to reach the store.
  ArchiveStoreArgs store;
  auto add_store_options = [&](CLI::App* cmd) {
    cmd->add_option("--archive", store.url, "s3://BUCKET/PREFIX")->required();
    cmd->add_option("--endpoint", store.endpoint,
                    "scheme://host[:port] of the S3-compatible service (default: "
                    "AWS_ENDPOINT_URL, else AWS S3 in the region)");
    cmd->add_option("--region", store.region,
                    "signing region (default: AWS_REGION, else us-east-1)");
    cmd->add_flag("--virtual-hosted", store.virtual_hosted,
                  "BUCKET.host addressing (AWS) instead of host/BUCKET");
    cmd->add_option("--credentials-dir", store.credentials_dir,
                    "directory with access_key_id, secret_access_key[, session_token] (default: "
                    "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN)");
    cmd->add_option("--ca-file", store.ca_file, "PEM bundle to verify the store's certificate");
  };
  RestoreArgs restore;
  auto* restore_cmd = app.add_subcommand(
      "restore",
      "write a log from the archive into an empty directory, checking every object, "
      "CRC and LSN (docs/archive.md \"Restore\")");
  add_store_options(restore_cmd);
  restore_cmd
      ->add_option("--data-dir", restore.data_dir, "the new log's directory (missing or empty)")
      ->required();
  auto* to_lsn =
      restore_cmd->add_option("--to-lsn", restore.to_lsn,
                              "restore exactly up to this LSN (a batch end; default: all)");
  restore_cmd
      ->add_option("--to-time", restore.to_time,
                   "restore what was durable at this RFC 3339 time (to one shipping interval)")
      ->excludes(to_lsn);
  restore_cmd->add_option("--generation", restore.generation,
                          "16 hex digits (default: the generation with the newest object)");
  auto* archive_cmd = app.add_subcommand("archive", "inspect the archive in object storage");
  archive_cmd->require_subcommand(1);
  auto* archive_list_cmd = archive_cmd->add_subcommand(
      "list", "generations, segments, LSN ranges and each generation's durable LSN");
  add_store_options(archive_list_cmd);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    (void)app.exit(e);
    return kExitUsage;
  }
  if (raw && hex) {
    std::fprintf(stderr, "sidewal: --raw and --hex exclude each other\n");
    return kExitUsage;
  }
  read.style = style_of(raw, hex);

  if (*append_cmd) return run_append(conn, append);
  if (*read_cmd) return run_read(conn, read);
  if (*tail_cmd) return run_tail(conn, read);
  if (*status_cmd) return run_status(conn);
  if (*truncate_cmd) return run_truncate(conn, before);
  if (*verify_cmd) return run_verify(data_dir, strict, keys);
  if (*dump_cmd) return run_dump(data_dir, dump_from, read.style, keys);
  if (*restore_cmd) {
    restore.store = store;
    return run_restore(restore);
  }
  if (*archive_list_cmd) return run_archive_list(store);
  return kExitUsage;
}
