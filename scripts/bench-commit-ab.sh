#!/usr/bin/env bash
# The one-at-a-time commit path under different engine settings, alternated
# (issue 16, BENCHMARKS.md "Commit path: I/O backend and sync mode"): for each
# variant a fresh sidewald, then sidewal-bench closed loop at 1 x 1 and
# 16 x 1 (connections x APPENDs in flight), 100-byte records, and the CPU
# seconds the daemon and the bench used per 1,000 appends and the context
# switches per append (from /proc, so a hand-off shows as a number).
#
#   scripts/bench-commit-ab.sh [--duration S] [--rounds N] [--bin-dir DIR]
#                              [--variants LIST] [--shapes LIST] [--blocking]
#
#   --duration S    measured seconds per line (default 5, after 1 s warmup)
#   --rounds N      how many times each variant runs, alternated (default 3)
#   --bin-dir DIR   sidewald and sidewal-bench (default build/bin)
#   --shapes LIST   comma list of CONNECTIONSxIN_FLIGHT[xRECORD_BYTES]
#                   (default 1x1,16x1; records of 100 bytes unless given)
#   --blocking      drive the daemon through the blocking Client::append
#                   (sidewal-bench --blocking: a thread per connection), so
#                   every shape must have 1 in flight
#   --variants LIST comma list of BACKEND:SYNC[:THREADS[:FLUSH[:BIN_DIR[:BENCH_DIR[:OVERLAP]]]]]
#                   with BACKEND io_uring|pwrite, SYNC fdatasync|odsync,
#                   THREADS the daemon's server.threads (default 2), FLUSH
#                   leader|flusher (wal.caller_flushes true|false; default:
#                   the daemon's default, and no key written, so an older
#                   daemon reads the config) and BIN_DIR the directory of
#                   another build's sidewald (default --bin-dir), for A/B of
#                   two builds; BENCH_DIR the directory of the sidewal-bench
#                   to drive it with (default --bin-dir), for A/B of two
#                   builds of the load generator or client library;
#                   OVERLAP the daemon's wal.overlap_min_bytes (default:
#                   no key written); an empty field takes its default
#                   (io_uring:fdatasync:2::A:B, io_uring:fdatasync:2::::0)
#                   (default io_uring:fdatasync,pwrite:fdatasync,io_uring:odsync,pwrite:odsync)
#
# Prints one line per (round, variant, shape) and a median (min-max) table.
# Data under var/ on the checkout's disk; caches are not dropped (O_DIRECT).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
duration=5
rounds=3
bin_dir=$root/build/bin
variants=io_uring:fdatasync,pwrite:fdatasync,io_uring:odsync,pwrite:odsync
shapes=1x1,16x1
blocking=()
while (($#)); do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --bin-dir) bin_dir=$(realpath -m "$2"); shift 2 ;;
    --variants) variants=$2; shift 2 ;;
    --shapes) shapes=$2; shift 2 ;;
    --blocking) blocking=(--blocking); shift ;;
    -h|--help) sed -n '2,37p' "$0"; exit 0 ;;
    *) echo "bench-commit-ab: unknown option $1" >&2; exit 2 ;;
  esac
done
log() { echo "bench-commit-ab: $*" >&2; }
# shellcheck source=scripts/lib/bench-daemon.sh
source scripts/lib/bench-daemon.sh
mkdir -p "$root/var"
work=$(mktemp -d "$root/var/bench-commit-ab.XXXXXX")
pid=""
trap 'stop_sidewald; rm -rf "$work"' EXIT

# utime+stime in clock ticks, and voluntary+involuntary context switches, of
# every thread of a process (the sum over /proc/PID/task/*).
# A process that exits while it is read gives 0 (its threads vanish mid-glob).
proc_cpu_ticks() { { cat /proc/"$1"/task/*/stat 2>/dev/null || true; } | awk '{s += $14 + $15} END {print s + 0}'; }
proc_switches() { { cat /proc/"$1"/task/*/status 2>/dev/null || true; } | awk '/ctxt_switches/ {s += $2} END {print s + 0}'; }

results=$work/results.tsv
: > "$results"
IFS=, read -r -a variant_list <<< "$variants"
log "load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs at the start"
for ((r = 1; r <= rounds; r++)); do
  for v in "${variant_list[@]}"; do
    IFS=: read -r backend sync threads flush vbin vbench overlap <<< "$v"
    threads=${threads:-2}
    vbin=${vbin:-$bin_dir}
    vbench=${vbench:-$bin_dir}
    case "${flush:-}" in
      leader) caller_flushes="  caller_flushes: true" ;;
      flusher) caller_flushes="  caller_flushes: false" ;;
      "") caller_flushes="" ;;
      *) echo "bench-commit-ab: FLUSH must be leader or flusher, got $flush" >&2; exit 2 ;;
    esac
    overlap_key=""
    [[ -n ${overlap:-} ]] && overlap_key="  overlap_min_bytes: $overlap"
    dir=$work/$r-$backend-$sync-$threads-${flush:-default}-${overlap:-d}-$(echo "$vbin:$vbench" | md5sum | cut -c1-6)
    mkdir -p "$dir/data"
    cat > "$dir/sidewal.yaml" <<EOF
data_dir: $dir/data
socket:
  path: $dir/sidewal.sock
admin:
  listen: 127.0.0.1:0
wal:
  io_backend: $backend
  sync_mode: $sync
$caller_flushes
$overlap_key
server:
  threads: $threads
EOF
    start_sidewald "$vbin" "$dir" --config "$dir/sidewal.yaml"
    for shape in ${shapes//,/ }; do
      IFS=x read -r conns pipe rbytes <<< "$shape"
      rbytes=${rbytes:-100}
      d_cpu0=$(proc_cpu_ticks "$pid") d_sw0=$(proc_switches "$pid")
      "$vbench/sidewal-bench" "${blocking[@]}" --socket "$dir/sidewal.sock" --connections "$conns" \
          --pipeline "$pipe" \
          --record-bytes "$rbytes" --duration "$duration" --warmup 1 --verify-sample 0 --json \
          > "$dir/bench-$conns.json" &
      bpid=$!
      # The bench's own CPU: read from its /proc entry just before it exits
      # would race; time(1)-style accounting from wait is not per process
      # in bash, so sample it while it runs, at the end of its window.
      b_cpu=0 b_sw=0
      while kill -0 "$bpid" 2>/dev/null; do
        c=$(proc_cpu_ticks "$bpid"); [[ -n $c && $c -gt 0 ]] && b_cpu=$c
        s=$(proc_switches "$bpid"); [[ -n $s && $s -gt 0 ]] && b_sw=$s
        sleep 0.2
      done
      if ! wait "$bpid"; then
        log "sidewal-bench failed ($v $shape); sidewald's log:"; tail -5 "$dir/sidewald.log" >&2
        cat "$dir/bench-$conns.json" >&2; exit 1
      fi
      d_cpu=$(( $(proc_cpu_ticks "$pid") - d_cpu0 )) d_sw=$(( $(proc_switches "$pid") - d_sw0 ))
      python3 - "$r" "$v" "$shape" "$dir/bench-$conns.json" "$d_cpu" "$d_sw" "$b_cpu" "$b_sw" \
          "$(getconf CLK_TCK)" >> "$results" <<'EOF'
import json, sys
r, v, shape, path, d_cpu, d_sw, b_cpu, b_sw, hz = sys.argv[1:10]
j = json.load(open(path))
# Every append of the run (warmup and drain included) is what the CPU and
# switch counters cover; the rate and latencies are the measured window's.
total = max(1, j["appends"] + j.get("warmup_appends", 0))
n = j["appends"]
print("\t".join([r, v, shape, f'{j["appends_per_s"]:.0f}', f'{j["latency_us"]["p50"] / 1e3:.3f}',
                 f'{j["latency_us"]["p99"] / 1e3:.3f}', d_cpu, d_sw, b_cpu, b_sw, str(n), hz]))
EOF
      log "  round $r $v $shape: $(tail -1 "$results" | cut -f4-6 | tr '\t' ' ')"
    done
    stop_sidewald
  done
done
log "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"

python3 - "$results" "$rounds" "$duration" <<'EOF'
import collections, statistics, sys
path, rounds, duration = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
rows = collections.OrderedDict()
for line in open(path):
    r, v, shape, rate, p50, p99, d_cpu, d_sw, b_cpu, b_sw, n, hz = line.rstrip("\n").split("\t")
    rate, hz = float(rate), float(hz)
    # Counters cover warmup + window + drain: per append over (window + 1 s
    # warmup) at the measured rate.
    appends_run = max(1.0, rate * (duration + 1.0))
    rows.setdefault((shape, v), []).append((
        rate, float(p50), float(p99),
        float(d_cpu) / hz / appends_run * 1e6,  # daemon CPU us per append
        float(d_sw) / appends_run,                # daemon switches per append
        float(b_cpu) / hz / appends_run * 1e6,    # bench CPU us per append
        float(b_sw) / appends_run))
def f(vals, spec):
    med = statistics.median(vals)
    return f"{med:{spec}} ({min(vals):{spec}}-{max(vals):{spec}})" if len(vals) > 1 else f"{med:{spec}}"
print(f"\n{rounds} round(s), variants alternated, {duration:g} s per line; median (min-max)\n")
print("| shape | backend:sync | appends/s | p50 ms | p99 ms | daemon CPU us/append | daemon switches/append | bench CPU us/append |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
for (shape, v), xs in rows.items():
    cols = list(zip(*xs))
    print(f"| {shape.replace('x', ' x ')} | {v} | {f(cols[0], ',.0f')} | {f(cols[1], '.3f')} | {f(cols[2], '.3f')} "
          f"| {f(cols[3], '.1f')} | {f(cols[4], '.2f')} | {f(cols[5], '.1f')} |")
EOF
