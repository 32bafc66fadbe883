#!/usr/bin/env bash
# Append throughput of each client library against one sidewald (issue 17,
# BENCHMARKS.md "Clients"): the C++ client (sidewal-bench), the C ABI
# (capi_append_bench over libsidewal), the Rust crate (clients/rust
# examples/append_bench, cargo --release) and the Python package
# (clients/python/bench_append.py, asyncio and threads), each at 1 x 1 and
# 16 x 16 (connections x APPENDs in flight), 100-byte records, closed loop;
# and the C++ client's blocking append() (sidewal-bench --blocking, a thread
# per connection, how a database commits synchronously) at 1 x 1 and 16 x 1.
#
#   scripts/bench-clients.sh [--duration S] [--repeat N] [--bin-dir DIR] [--only LIST]
#
#   --duration S   measured seconds per line (default 10, after 2 s warmup)
#   --repeat N     run the whole set N times, clients in turn, and print each
#                  line's median and spread (min-max) (default 3)
#   --bin-dir DIR  sidewald, sidewal-bench, capi_append_bench (default build/bin)
#   --only LIST    comma list of: cpp,c,rust,python (default all; cpp is both
#                  the async and the blocking lines)
#
# One daemon serves every line of a round (started fresh per round on a data
# directory under var/, on the checkout's disk), so the lines differ only in
# the client. Rust needs cargo (scripts/install-deps.sh installs it); a
# missing toolchain skips its lines with a note rather than failing.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
duration=10
repeat=3
bin_dir=$root/build/bin
only=cpp,c,rust,python
while (($#)); do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --bin-dir) bin_dir=$(realpath -m "$2"); shift 2 ;;
    --only) only=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "bench-clients: unknown option $1" >&2; exit 2 ;;
  esac
done
want() { [[ ",$only," == *",$1,"* ]]; }
log() { echo "bench-clients: $*" >&2; }
# shellcheck source=scripts/lib/bench-daemon.sh
source scripts/lib/bench-daemon.sh

for b in sidewald sidewal-bench capi_append_bench; do
  [[ -x $bin_dir/$b ]] || { log "$bin_dir/$b missing: run scripts/build.sh release"; exit 1; }
done
rust_bench=""
if want rust; then
  if command -v cargo >/dev/null; then
    log "building the Rust example (cargo build --release --example append_bench)"
    (cd clients/rust && cargo build --release --offline --quiet --example append_bench)
    rust_bench=$root/clients/rust/target/release/examples/append_bench
  else
    log "cargo not found: the Rust lines are skipped"
  fi
fi

mkdir -p "$root/var"
work=$(mktemp -d "$root/var/bench-clients.XXXXXX")
pid=""
trap 'stop_sidewald; rm -rf "$work"' EXIT

start_daemon() {
  local dir=$1
  rm -rf "$dir"; mkdir -p "$dir/data"
  start_sidewald "$bin_dir" "$dir" --data-dir "$dir/data" --socket "$dir/sidewal.sock" --admin 127.0.0.1:0
}

results=$work/results.tsv  # round client shape rate p50 p99
: > "$results"
record() {  # round client shape json-or-line
  python3 - "$@" >> "$results" <<'EOF'
import json, re, sys
rnd, client, shape, out = sys.argv[1:5]
try:
    j = json.loads(out)
    if "latency_us" in j:  # sidewal-bench's JSON
        rate, p50, p99 = j["appends_per_s"], j["latency_us"]["p50"] / 1e3, j["latency_us"]["p99"] / 1e3
    else:  # bench_append.py's
        rate, p50, p99 = j["appends_per_s"], j["p50_ms"], j["p99_ms"]
except (ValueError, KeyError, IndexError):
    m = re.search(r"([0-9.]+) appends/s, p50 ([0-9.]+) ms, p99 ([0-9.]+) ms", out)
    if not m:
        sys.exit(f"bench-clients: no figures in the output of {client} {shape}: {out!r}")
    rate, p50, p99 = m.groups()
print(f"{rnd}\t{client}\t{shape}\t{float(rate):.0f}\t{float(p50):.3f}\t{float(p99):.3f}")
EOF
}

run_client() {  # round client conns inflight socket
  local rnd=$1 client=$2 c=$3 p=$4 sock=$5 out
  case $client in
    cpp) out=$("$bin_dir/sidewal-bench" --socket "$sock" --connections "$c" --pipeline "$p" \
                 --record-bytes 100 --duration "$duration" --warmup 2 --verify-sample 0 --json) ;;
    cpp-blocking)
      out=$("$bin_dir/sidewal-bench" --blocking --socket "$sock" --connections "$c" --pipeline "$p" \
              --record-bytes 100 --duration "$duration" --warmup 2 --verify-sample 0 --json) ;;
    c) out=$("$bin_dir/capi_append_bench" --socket "$sock" --clients "$c" --inflight "$p" \
               --payload 100 --seconds "$duration" --warmup 2) ;;
    rust) out=$("$rust_bench" --socket "$sock" --clients "$c" --inflight "$p" \
                  --payload 100 --seconds "$duration" --warmup 2) ;;
    python-asyncio|python-threads)
      out=$(python3 clients/python/bench_append.py --socket "$sock" --connections "$c" \
              --pipeline "$p" --record-bytes 100 --duration "$duration" --warmup 2 \
              --mode "${client#python-}" --json) ;;
  esac
  record "$rnd" "$client" "${c}x${p}" "$out"
  log "  round $rnd $client ${c}x${p}: $(tail -1 "$results" | cut -f4-6 | tr '\t' ' ')"
}

clients=()
want cpp && clients+=(cpp cpp-blocking)
want c && clients+=(c)
want rust && [[ -n $rust_bench ]] && clients+=(rust)
want python && clients+=(python-asyncio python-threads)

log "load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs at the start"
for ((r = 1; r <= repeat; r++)); do
  start_daemon "$work/round$r"
  for client in "${clients[@]}"; do
    shapes=("1 1" "16 16")
    # Blocking calls have one APPEND in flight per connection (thread).
    [[ $client == cpp-blocking ]] && shapes=("1 1" "16 1")
    for shape in "${shapes[@]}"; do
      # shellcheck disable=SC2086
      run_client "$r" "$client" $shape "$work/round$r/sidewal.sock"
    done
  done
  stop_sidewald
done
log "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"

python3 - "$results" "$repeat" "$duration" <<'EOF'
import collections, statistics, sys
path, repeat, duration = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows = collections.OrderedDict()
for line in open(path):
    rnd, client, shape, rate, p50, p99 = line.rstrip("\n").split("\t")
    rows.setdefault((client, shape), []).append((float(rate), float(p50), float(p99)))
def fmt(vals, f):
    med = statistics.median(vals)
    return f"{f(med)} ({f(min(vals))}-{f(max(vals))})" if len(vals) > 1 else f(med)
print(f"\n{repeat} round(s), {duration} s per line, 100-byte records, one sidewald per round; "
      "median (min-max)\n")
print("| client | connections x in flight | appends/s | p50 ms | p99 ms |")
print("|---|---|---:|---:|---:|")
for (client, shape), v in rows.items():
    c, p = shape.split("x")
    print(f"| {client} | {c} x {p} | {fmt([x[0] for x in v], lambda x: f'{x:,.0f}')} "
          f"| {fmt([x[1] for x in v], lambda x: f'{x:.3f}')} | {fmt([x[2] for x in v], lambda x: f'{x:.3f}')} |")
EOF
