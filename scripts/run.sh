#!/usr/bin/env bash
# Installs what is missing, builds, and starts sidewald in the foreground on a
# local directory with config/sidewal.yaml (data in ./var/data, socket at
# ./var/sidewal.sock, admin HTTP on 127.0.0.1:9464). Extra arguments go to
# sidewald (e.g. --data-dir /mnt/nvme/wal).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --build
scripts/build.sh release
mkdir -p var
exec build/bin/sidewald --config config/sidewal.yaml "$@"
