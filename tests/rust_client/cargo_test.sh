#!/usr/bin/env bash
# Runs the Rust client's tests offline: cargo_test.sh <crate dir> <target dir> <sidewald>.
# Exits 77 (ctest: skipped) when no cargo is installed.
set -euo pipefail
crate=$1 target=$2 daemon=$3
cargo=$(command -v cargo || true)
if [[ -z "$cargo" && -x "$HOME/.cargo/bin/cargo" ]]; then cargo=$HOME/.cargo/bin/cargo; fi
if [[ -z "$cargo" ]]; then
  echo "SKIPPED: no cargo found (Debian: apt-get install cargo, or scripts/install-deps.sh)"
  exit 77
fi
echo "cargo: $cargo ($("$cargo" --version)); sidewald: $daemon"
export CARGO_TARGET_DIR=$target SIDEWALD=$daemon
# Two test threads: each test starts its own daemon, and ctest runs others beside.
exec "$cargo" test --offline --manifest-path "$crate/Cargo.toml" -- --test-threads=2
