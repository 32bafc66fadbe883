// sidewald: the sidecar daemon. Flags override the config file; a bad file
// or flag exits with code 2 and a message naming the key.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <optional>
#include <string>

#include "server/config.h"
#include "server/log.h"
#include "server/server.h"

int main(int argc, char** argv) {
  using namespace sidewal::server;
  CLI::App app{"sidewald: write-ahead-log sidecar (docs/operations.md)"};
  std::string config_path;
  std::optional<std::string> data_dir;
  std::optional<std::string> socket_path;
  std::optional<std::string> admin_listen;
  bool check_only = false;
  app.add_option("--config", config_path,
                 "YAML config file (config/sidewal.yaml documents every key)");
  app.add_option("--data-dir", data_dir, "Overrides data_dir");
  app.add_option("--socket", socket_path, "Overrides socket.path");
  app.add_option("--admin", admin_listen, "Overrides admin.listen (host:port)");
  app.add_flag("--check-config", check_only, "Validate the config and flags, print nothing, exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitConfigError;
  }

  auto loaded = load_config(config_path);
  if (!loaded.ok()) {
    std::fprintf(stderr, "sidewald: config error: %s\n", loaded.status().message().c_str());
    return kExitConfigError;
  }
  Config config = std::move(loaded.value());
  sidewal::Status st = apply_overrides(ConfigOverrides{.data_dir = data_dir,
                                                       .socket_path = socket_path,
                                                       .admin_listen = admin_listen},
                                       &config);
  if (st.ok()) st = finalize_config(&config);
  if (!st.ok()) {
    // Cross-key checks see the file and the flags together; say both.
    const std::string source = config_path.empty() ? "defaults" : config_path;
    std::fprintf(stderr, "sidewald: config error: %s (with flags): %s\n", source.c_str(),
                 st.message().c_str());
    return kExitConfigError;
  }
  if (check_only) return kExitOk;
  log::init(config.log_level);
  return run_server(config);
}
