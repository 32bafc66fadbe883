#!/usr/bin/env bash
# Soak: sustained load against a real sidewald with small segments (rollover
# every few seconds) and periodic truncation, sampling every SAMPLE seconds:
# log disk usage, segments, daemon VmRSS, open file descriptors, the host's
# page cache (Cached) and the log's own resident pages (mincore metric).
# At the end it compares the second half of the run with the first and says
# whether each figure stayed flat.
#
#   scripts/soak.sh DURATION_SECONDS [BUILD_DIR] [SAMPLE_SECONDS]
#
# Load: build/bin/sidewal-bench (8 connections x 8 pipelined APPENDs of 4 x
# 200 B records, closed loop; no read-back sample: truncation removes what it
# would read. Integrity under load is the crash loop's job). Every 10 s the log is truncated to its last ~200,000 records with
# `sidewal truncate`. Output: one line per sample, a CSV in the work dir, and
# the verdict. Exits non-zero if the bench fails or a figure grows.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:?usage: soak.sh DURATION_SECONDS [BUILD_DIR] [SAMPLE_SECONDS]}
build=${2:-build}
sample=${3:-10}
for b in sidewald sidewal sidewal-bench; do
  [ -x "$build/bin/$b" ] || { echo "soak.sh: $build/bin/$b missing (build it first)" >&2; exit 1; }
done
work=$(mktemp -d "${TMPDIR:-/var/tmp}/sidewal-soak.XXXXXX")
port=$(( 20000 + RANDOM % 20000 ))
sock="$work/s.sock"
cat >"$work/sidewal.yaml" <<YAML
data_dir: $work/data
socket:
  path: $sock
admin:
  listen: 127.0.0.1:$port
wal:
  segment_bytes: 4MiB
  max_record_bytes: 64KiB
YAML
"$build/bin/sidewald" --config "$work/sidewal.yaml" >"$work/daemon.log" 2>&1 &
pid=$!
cleanup() {
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  [ -n "${bench_pid:-}" ] && kill "$bench_pid" 2>/dev/null || true
  rm -rf "$work/data"  # the log; the CSV and the outputs stay
}
trap cleanup EXIT
# Wait for readiness: poll /readyz (the condition itself) for up to 60 s.
deadline=$(( SECONDS + 60 ))
until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do
  kill -0 "$pid" 2>/dev/null || { cat "$work/daemon.log" >&2; exit 1; }
  [ $SECONDS -lt $deadline ] || { echo "soak.sh: not ready after 60 s" >&2; exit 1; }
  sleep 0.1
done

metric() { curl -s "http://127.0.0.1:$port/metrics" | awk -v m="$1" '$1 == m && !seen { print $2; seen = 1 }' || true; }

"$build/bin/sidewal-bench" --socket "$sock" --admin "127.0.0.1:$port" --connections 8 \
  --pipeline 8 --batch 4 --record-bytes 200 --duration "$duration" --warmup 0 \
  --verify-sample 0 >"$work/bench.out" 2>&1 &
bench_pid=$!

csv="$work/soak.csv"
echo "t_s,durable_lsn,first_lsn,segments,disk_bytes,rss_kib,fds,host_cached_kib,wal_resident_bytes" >"$csv"
start=$SECONDS
next_trunc=$(( start + 10 ))
printf "%6s %12s %12s %5s %12s %9s %5s %12s %10s\n" t durable_lsn first_lsn segs disk_bytes rss_kib fds cached_kib resident
while kill -0 "$bench_pid" 2>/dev/null; do
  sleep "$sample"  # sampling period (pacing, not a wait for a condition)
  kill -0 "$pid" 2>/dev/null || { echo "soak.sh: sidewald died" >&2; cat "$work/daemon.log" >&2; exit 1; }
  t=$(( SECONDS - start ))
  durable=$(metric sidewal_durable_lsn); durable=${durable%.*}
  if [ $SECONDS -ge $next_trunc ] && [ "${durable:-0}" -gt 200000 ]; then
    "$build/bin/sidewal" --socket "$sock" truncate --before $(( durable - 200000 )) >/dev/null
    next_trunc=$(( SECONDS + 10 ))
  fi
  first=$(metric sidewal_first_lsn); first=${first%.*}
  segs=$(metric sidewal_segments); segs=${segs%.*}
  disk=$(du -sb "$work/data" | cut -f1)
  rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
  fds=$(ls "/proc/$pid/fd" | wc -l)
  cached=$(awk '/^Cached:/ { print $2 }' /proc/meminfo)
  resident=$(metric sidewal_wal_resident_bytes); resident=${resident%.*}
  echo "$t,$durable,$first,$segs,$disk,$rss,$fds,$cached,$resident" >>"$csv"
  printf "%6s %12s %12s %5s %12s %9s %5s %12s %10s\n" "$t" "$durable" "$first" "$segs" "$disk" "$rss" "$fds" "$cached" "$resident"
done
wait "$bench_pid" && bench_rc=0 || bench_rc=$?
echo "== sidewal-bench =="
cat "$work/bench.out"

# Verdict: each figure's maximum over the second half vs the first half
# (after the first minute, when truncation has reached its steady state).
verdict=0
python3 - "$csv" <<'PY' || verdict=$?
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
rows = [r for r in rows if int(r["t_s"]) >= 60] or rows
half = len(rows) // 2
a, b = rows[:half] or rows, rows[half:] or rows
bad = 0
def span(col, rs): return min(int(r[col]) for r in rs), max(int(r[col]) for r in rs)
for col, slack in (("disk_bytes", 1.25), ("segments", 1.25), ("rss_kib", 1.10), ("fds", 1.0),
                   ("wal_resident_bytes", 1.0)):
    lo1, hi1 = span(col, a); lo2, hi2 = span(col, b)
    # Flat: the second half never goes above the first half's peak (+slack;
    # +2 fds/segments for a rollover caught mid-way).
    ok = hi2 <= hi1 * slack + (2 if col in ("fds", "segments") else 0) + (4096 if col == "wal_resident_bytes" else 0)
    bad += not ok
    print(f"{col:20s} first half {lo1}..{hi1}  second half {lo2}..{hi2}  {'flat' if ok else 'GROWING'}")
lo1, hi1 = span("host_cached_kib", a); lo2, hi2 = span("host_cached_kib", b)
print(f"{'host_cached_kib':20s} first half {lo1}..{hi1}  second half {lo2}..{hi2}  (host-wide: other processes move it too)")
print(f"samples {len(rows)} (after the first minute), from t={rows[0]['t_s']}s to t={rows[-1]['t_s']}s")
sys.exit(1 if bad else 0)
PY
echo "work dir: $work (soak.csv)"
[ $bench_rc -eq 0 ] && [ $verdict -eq 0 ]
