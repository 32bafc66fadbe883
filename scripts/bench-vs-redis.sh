#!/usr/bin/env bash
# sidewal against Redis (AOF, appendfsync always) one request at a time, the
# two alternated line by line: for each round and shape, a fresh redis-server
# and its redis-benchmark, then at once a fresh sidewald and sidewal-bench,
# same record size, same connections x in flight (issue 16, BENCHMARKS.md
# "sidewal and Redis, line by line"). bench-peers.sh runs all of Redis's
# lines minutes before sidewal's, so a machine that drifts in between moves
# its ratios; here each ratio comes from two lines seconds apart.
#
#   scripts/bench-vs-redis.sh [--rounds N] [--duration S] [--shapes LIST] [--bin-dir DIR]
#                             [--event-loop]
#
#   --rounds N      rounds, each running every shape for both (default 5)
#   --duration S    seconds per line (default 8; sidewal after 1 s warm-up,
#                   Redis from a request count calibrated to about S seconds)
#   --shapes LIST   comma list of CONNECTIONSxIN_FLIGHT (default 1x1,16x1)
#   --bin-dir DIR   sidewald and sidewal-bench (default build/bin)
#   --event-loop    also drive sidewal with sidewal-bench --event-loop (one
#                   epoll thread for all connections, as redis-benchmark
#                   drives Redis), right after the client library's line: a
#                   third column and a second ratio
#
# Needs redis-server and redis-benchmark (Debian: redis-server redis-tools;
# bench-peers.sh installs them). Prints one line per (round, shape) and the
# median (min-max) of each system's rate and of the ratio sidewal / Redis.
# Data under var/ on the checkout's disk, as bench-peers.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
rounds=5
duration=8
shapes=1x1,16x1
bin_dir=$root/build/bin
event_loop=0
while (($#)); do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --shapes) shapes=$2; shift 2 ;;
    --bin-dir) bin_dir=$(realpath -m "$2"); shift 2 ;;
    --event-loop) event_loop=1; shift ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "bench-vs-redis: unknown option $1" >&2; exit 2 ;;
  esac
done
log() { echo "bench-vs-redis: $*" >&2; }
for t in redis-server redis-benchmark redis-cli; do
  command -v "$t" >/dev/null || { log "$t not found (Debian: apt-get install redis-server redis-tools)"; exit 1; }
done
# shellcheck source=scripts/lib/bench-daemon.sh
source scripts/lib/bench-daemon.sh
mkdir -p "$root/var"
work=$(mktemp -d "$root/var/bench-vs-redis.XXXXXX")
pid="" redis_pid=""
cleanup() {
  stop_sidewald
  if [[ -n $redis_pid ]]; then kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

redis_line() {  # conns in_flight -> appends/s on stdout
  local c=$1 p=$2 dir=$work/redis cal n
  rm -rf "$dir"; mkdir -p "$dir"
  redis-server --port 0 --unixsocket "$dir/redis.sock" --unixsocketperm 700 \
      --appendonly yes --appendfsync always --save "" --dir "$dir" \
      --logfile "$dir/redis.log" --daemonize no &
  redis_pid=$!
  wait_until 20 redis-cli -s "$dir/redis.sock" ping >/dev/null || { log "redis-server did not start"; exit 1; }
  cal=$(redis-benchmark -s "$dir/redis.sock" -t set -d 100 -c "$c" -P "$p" -r 100000000 \
        -n $((c * p * 200)) --csv | awk -F'"' '$2=="SET" {print $4}')
  n=$(python3 -c "print(max(int(float('$cal') * $duration), $c * $p))")
  redis-benchmark -s "$dir/redis.sock" -t set -d 100 -c "$c" -P "$p" -r 100000000 -n "$n" --csv |
      awk -F'"' '$2=="SET" {printf "%.0f\n", $4}'
  kill "$redis_pid"; wait "$redis_pid" 2>/dev/null || true; redis_pid=""
}

sidewal_line() {  # conns in_flight [sidewal-bench args...] -> appends/s on stdout
  local c=$1 p=$2 dir=$work/sidewal
  shift 2
  rm -rf "$dir"; mkdir -p "$dir/data"
  start_sidewald "$bin_dir" "$dir" --data-dir "$dir/data" --socket "$dir/sidewal.sock" --admin 127.0.0.1:0
  "$bin_dir/sidewal-bench" --socket "$dir/sidewal.sock" --connections "$c" --pipeline "$p" \
      --record-bytes 100 --duration "$duration" --warmup 1 --verify-sample 0 --json "$@" |
      python3 -c "import json, sys; print(round(json.load(sys.stdin)['appends_per_s']))"
  stop_sidewald
}

results=$work/results.tsv
: > "$results"
log "load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs at the start"
for ((r = 1; r <= rounds; r++)); do
  for shape in ${shapes//,/ }; do
    c=${shape%x*} p=${shape#*x}
    redis=$(redis_line "$c" "$p")
    sidewal=$(sidewal_line "$c" "$p")
    if ((event_loop)); then
      sidewal_ev=$(sidewal_line "$c" "$p" --event-loop)
      printf '%s\t%s\t%s\t%s\t%s\n' "$r" "${c}x${p}" "$redis" "$sidewal" "$sidewal_ev" >> "$results"
      log "round $r ${c}x${p}: Redis $redis/s, sidewal $sidewal/s, sidewal --event-loop $sidewal_ev/s"
    else
      printf '%s\t%s\t%s\t%s\n' "$r" "${c}x${p}" "$redis" "$sidewal" >> "$results"
      log "round $r ${c}x${p}: Redis $redis/s, sidewal $sidewal/s"
    fi
  done
done
log "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"

python3 - "$results" "$rounds" "$duration" <<'EOF'
import collections, statistics, sys
path, rounds, duration = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows = collections.OrderedDict()
ev = False
for line in open(path):
    _, shape, *vals = line.split()
    ev = len(vals) == 3
    rows.setdefault(shape, []).append([float(v) for v in vals])
def f(vals, spec):
    return f"{statistics.median(vals):{spec}} ({min(vals):{spec}}-{max(vals):{spec}})"
print(f"\n{rounds} round(s), {duration} s per line, 100-byte records, alternated line by line; "
      "median (min-max)\n")
if ev:
    print("| shape | Redis AOF always /s | sidewal /s | sidewal / Redis | "
          "sidewal, --event-loop /s | --event-loop / Redis |")
    print("|---|---:|---:|---:|---:|---:|")
else:
    print("| shape | Redis AOF always /s | sidewal /s | sidewal / Redis (per round) |")
    print("|---|---:|---:|---:|")
for shape, v in rows.items():
    line = (f"| {shape.replace('x', ' x ')} | {f([x[0] for x in v], ',.0f')} | "
            f"{f([x[1] for x in v], ',.0f')} | {f([x[1] / x[0] for x in v], '.2f')}x |")
    if ev:
        line += f" {f([x[2] for x in v], ',.0f')} | {f([x[2] / x[0] for x in v], '.2f')}x |"
    print(line)
EOF
