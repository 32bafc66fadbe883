#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (tests/fuzz, -DSIDEWAL_FUZZ=ON) and
# runs each for SECONDS (default 60), starting from the seed corpus
# (tests/fuzz/corpus/<target>) and the saved regressions.
#
#   scripts/fuzz.sh [SECONDS] [BUILD_DIR] [TARGET...]
#
# BUILD_DIR defaults to build-fuzz. Targets: frame record recovery config
# (default all). The test command runs `scripts/fuzz.sh 15` (ctest
# fuzz_smoke). A crash or broken invariant stops the run with a non-zero exit
# and leaves the input in BUILD_DIR/artifacts/: copy it to
# tests/fuzz/regressions/<target>/ so fuzz_regressions_test replays it.
# Fails (never skips) when clang is missing: it is in scripts/install-deps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
build=${2:-build-fuzz}
shift $(( $# > 2 ? 2 : $# ))
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(frame record recovery config)

if ! command -v clang++ >/dev/null || ! command -v clang >/dev/null; then
  echo "fuzz.sh: clang/clang++ not found (install clang and libclang-rt-14-dev: scripts/install-deps.sh)" >&2
  exit 1
fi
san="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_C_FLAGS="$san" -DCMAKE_CXX_FLAGS="$san" -DSIDEWAL_FUZZ=ON >"$build.configure.log" 2>&1 ||
    { cat "$build.configure.log" >&2; exit 1; }
fi
cmake --build "$build" -j2 --target "${targets[@]/#/fuzz_}"

mkdir -p "$build/artifacts"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
for t in "${targets[@]}"; do
  work="$build/corpus/$t"
  mkdir -p "$work"
  echo "== fuzz_$t for ${secs}s =="
  # -rss_limit_mb bounds a target's memory; -timeout flags inputs that hang.
  if ! "$build/bin/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$build/artifacts/$t-" -print_final_stats=1 \
      "$work" "tests/fuzz/corpus/$t" "tests/fuzz/regressions/$t" 2>"$build/fuzz_$t.log"; then
    tail -40 "$build/fuzz_$t.log" >&2
    echo "fuzz_$t FAILED: input saved under $build/artifacts/$t-*; add it to tests/fuzz/regressions/$t/" >&2
    status=1
  else
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$build/fuzz_$t.log" | sed "s/^/  fuzz_$t /" || true
    grep -E "^#[0-9]+ +DONE" "$build/fuzz_$t.log" | tail -1 | sed "s/^/  fuzz_$t /" || true
  fi
done
exit $status
