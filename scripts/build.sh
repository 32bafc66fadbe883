#!/usr/bin/env bash
# Configures and builds one tree, warnings as errors (-DSIDEWAL_WERROR=ON).
# Usage: scripts/build.sh [release|asan|clang]
#   release -> build/        GCC, RelWithDebInfo (binaries at build/bin/)
#   asan    -> build-asan/   GCC, AddressSanitizer + UndefinedBehaviorSanitizer
#   clang   -> build-clang/  clang, Release: keeps the code free of clang's warnings
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-release}
jobs=${SIDEWAL_JOBS:-$(nproc)}
case "$kind" in
  release) dir=build; flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
  asan)    dir=build-asan; flags=(-DCMAKE_BUILD_TYPE=Debug -DSIDEWAL_SANITIZE=ON) ;;
  clang)   dir=build-clang
           flags=(-DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++) ;;
  *) echo "usage: $0 [release|asan|clang]" >&2; exit 2 ;;
esac
cmake -S . -B "$dir" -G Ninja -DSIDEWAL_WERROR=ON "${flags[@]}" >/dev/null
cmake --build "$dir" -j "$jobs"
