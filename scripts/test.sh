#!/usr/bin/env bash
# The test command: installs what is missing, builds the release tree and
# the two sanitizer trees (ASan+UBSan with GCC, ThreadSanitizer with clang),
# and runs every test (unit, crash, integration, deployment) in the release
# tree and the C++ ones in the sanitizer trees. Every tree is built with
# warnings as errors; a fourth tree built with clang (build only, its tests
# are not run) keeps the code free of clang's warnings, including the lock
# annotations its -Wthread-safety checks (the TSan tree, also clang, runs
# the test that proves that check is on). Exits non-zero if anything fails.
# `.ci/run` calls this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release
scripts/build.sh asan
scripts/build.sh tsan
echo "== clang build (-Werror) =="
scripts/build.sh clang
# Tests that start servers or measure wall-clock behaviour run one at a time;
# the rest run two at a time (the CI machine has 2 cores).
echo "== release tests =="
(cd build && ctest --output-on-failure -j 2 --timeout 600)
echo "== sanitizer tests (ASan + UBSan) =="
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd build-asan && ctest --output-on-failure -j 2 --timeout 600 -LE no-asan)
echo "== ThreadSanitizer tests =="
# halt_on_error: a data race fails the test that found it. Tests labelled
# no-asan exercise no C++ of their own (or build their own sanitizer tree);
# no-tsan marks what TSan cannot run (each says why in its CMakeLists.txt).
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
(cd build-tsan && ctest --output-on-failure -j 2 --timeout 600 -LE 'no-asan|no-tsan')
echo "== all tests passed =="
