#!/usr/bin/env bash
# The test command: installs what is missing, builds the release and the
# sanitizer trees, and runs every test (unit, crash, integration, deployment)
# in both. Every tree is built with warnings as errors; a third tree built
# with clang (build only, its tests are not run) keeps the code free of
# clang's warnings too. Exits non-zero if anything fails. `.ci/run` calls this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release
scripts/build.sh asan
echo "== clang build (-Werror) =="
scripts/build.sh clang
# Tests that start servers or measure wall-clock behaviour run one at a time;
# the rest run two at a time (the CI machine has 2 cores).
echo "== release tests =="
(cd build && ctest --output-on-failure -j 2 --timeout 600)
echo "== sanitizer tests (ASan + UBSan) =="
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd build-asan && ctest --output-on-failure -j 2 --timeout 600 -LE no-asan)
echo "== all tests passed =="
