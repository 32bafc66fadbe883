#!/usr/bin/env bash
# Configures and builds one tree, warnings as errors (-DSIDEWAL_WERROR=ON).
# Usage: scripts/build.sh [release|asan|tsan|clang]
#   release -> build/        GCC, RelWithDebInfo (binaries at build/bin/)
#   asan    -> build-asan/   GCC, AddressSanitizer + UndefinedBehaviorSanitizer
#   tsan    -> build-tsan/   clang, ThreadSanitizer, -O1 -g (data races in the tests)
#   clang   -> build-clang/  clang, Release: keeps the code free of clang's warnings,
#                            including the lock annotations (-Wthread-safety)
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-release}
jobs=${SIDEWAL_JOBS:-$(nproc)}
case "$kind" in
  release) dir=build; flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
  asan)    dir=build-asan; flags=(-DCMAKE_BUILD_TYPE=Debug -DSIDEWAL_SANITIZE=ON) ;;
  tsan)    dir=build-tsan
           flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g"
                  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g"
                  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DSIDEWAL_TSAN=ON) ;;
  clang)   dir=build-clang
           flags=(-DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++) ;;
  *) echo "usage: $0 [release|asan|tsan|clang]" >&2; exit 2 ;;
esac
cmake -S . -B "$dir" -G Ninja -DSIDEWAL_WERROR=ON "${flags[@]}" >/dev/null
cmake --build "$dir" -j "$jobs"
