#!/usr/bin/env bash
# Long crash loop against the real daemon: N kill -9s at random moments under
# pipelined load from 8 connections, the log checked after every restart
# (tests/reliability/crash_loop_test.cc).
#
#   scripts/crash-loop.sh N [SEED] [BUILD_DIR]
#
# N defaults to 200, SEED to a random one (printed: rerun with it), BUILD_DIR
# to build. Prints kills survived, records ACKed and records lost (always 0,
# or the test fails and says where).
set -euo pipefail
cd "$(dirname "$0")/.."
kills=${1:-200}
seed=${2:-$(( (RANDOM << 15) | RANDOM ))}
build=${3:-build}
bin="$build/bin/sidewald_reliability_test"
[ -x "$bin" ] || cmake --build "$build" -j2 --target sidewald_reliability_test
echo "crash-loop.sh: $kills kills, seed $seed"
SIDEWAL_CRASH_KILLS=$kills SIDEWAL_CRASH_SEED=$seed \
  "$bin" --gtest_filter='CrashLoop.*' --gtest_color=no
