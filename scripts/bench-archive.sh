#!/usr/bin/env bash
# What archiving costs (issue 15, BENCHMARKS.md "Archive"): sidewald at an
# open-loop rate with `archive:` off and on against s3rver on loopback,
# alternated, then `sidewal restore` of the archived log against a plain
# download of the same objects (curl with SigV4).
#
#   scripts/bench-archive.sh [--rate N] [--duration S] [--runs N] [--bin-dir DIR]
#
#   --rate N       open-loop appends/s (default 100000), 100-byte records
#   --duration S   measured seconds per run (default 20)
#   --runs N       off/on pairs, alternated (default 2)
#   --bin-dir DIR  sidewald, sidewal, sidewal-bench (default build/bin)
#
# Each line prints throughput, p50/p99, the host's Cached delta (caches
# dropped before, as root), how much of that delta is s3rver's own object
# files (fincore of its directory: the store runs on this host) and the log's
# own residency after the run. The
# archive's uploaded bytes and its lag at the end come from /metrics.
# s3rver is tools/s3rver (scripts/install-deps.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
rate=100000
duration=20
runs=2
bin_dir=$root/build/bin
while (($#)); do
  case "$1" in
    --rate) rate=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --bin-dir) bin_dir=$(realpath -m "$2"); shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "bench-archive: unknown option $1" >&2; exit 2 ;;
  esac
done
s3rver_js=$root/tools/s3rver/node_modules/s3rver/bin/s3rver.js
[[ -f $s3rver_js ]] || { echo "bench-archive: $s3rver_js missing: run scripts/install-deps.sh" >&2; exit 1; }
work=$(mktemp -d "$root/var/bench-archive.XXXXXX" 2>/dev/null || { mkdir -p "$root/var"; mktemp -d "$root/var/bench-archive.XXXXXX"; })
pids=()
pid=""  # the sidewald of the line being measured (scripts/lib/bench-daemon.sh)
cleanup() { stop_sidewald; for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
log() { echo "bench-archive: $*" >&2; }
# shellcheck source=scripts/lib/bench-daemon.sh
source scripts/lib/bench-daemon.sh
cached_kib() { awk '/^Cached:/ {print $2}' /proc/meminfo; }
drop_caches() { if [[ $(id -u) -eq 0 ]]; then sync; echo 3 > /proc/sys/vm/drop_caches; fi; }
# KiB of the object store's own files (s3rver's directory) in the page cache:
# s3rver runs on this host, so what it writes is cached here; a remote store's
# would not be. Subtracted from the host's delta to show sidewald's own.
store_cached_kib() {
  find "$work/s3" -type f -print0 2>/dev/null | xargs -0 -r fincore --bytes --noheadings --output RES 2>/dev/null |
    awk '{s += $1} END {print int(s / 1024)}'
}

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/s3"
node --openssl-legacy-provider "$s3rver_js" --directory "$work/s3" --address 127.0.0.1 \
  --port "$port" --configure-bucket bench > "$work/s3rver.log" 2>&1 &
pids+=($!)
wait_until 30 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" || { log "s3rver did not start"; cat "$work/s3rver.log" >&2; exit 1; }
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
endpoint=http://127.0.0.1:$port

run_line() {  # archive(on|off) prefix
  local archive=$1 prefix=$2 dir=$work/run
  rm -rf "$dir"; mkdir -p "$dir/data"
  cat > "$dir/sidewal.yaml" <<YAML
data_dir: $dir/data
socket:
  path: $dir/sidewal.sock
admin:
  listen: 127.0.0.1:0
YAML
  if [[ $archive == on ]]; then
    cat >> "$dir/sidewal.yaml" <<YAML
archive:
  enabled: true
  endpoint: $endpoint
  bucket: bench
  prefix: $prefix
  region: us-east-1
  path_style: true
  interval_seconds: 1
YAML
  fi
  drop_caches
  local c0; c0=$(cached_kib)
  local s0; s0=$(store_cached_kib)
  start_sidewald "$bin_dir" "$dir" --config "$dir/sidewal.yaml"
  "$bin_dir/sidewal-bench" --socket "$dir/sidewal.sock" --admin "$admin" --data-dir "$dir/data" \
    --record-bytes 100 --rate "$rate" --connections 2 --pipeline 512 --duration "$duration" \
    --wake-probe --json > "$dir/result.json"
  local metrics; metrics=$(curl -fsS "http://$admin/metrics" || true)
  local c1; c1=$(cached_kib)
  local s1; s1=$(store_cached_kib)
  stop_sidewald
  python3 - "$dir/result.json" "$archive" "$(( (c1 - c0) / 1024 ))" "$(( (s1 - s0) / 1024 ))" <<PY
import json, sys
r = json.load(open(sys.argv[1])); l = r['latency_us']; w = r.get('wake_probe') or {}
m = {}
for line in """$metrics""".splitlines():
    if line.startswith('sidewal_archive_') and not line.startswith('#'):
        k, _, v = line.rpartition(' ')
        m[k] = v
print('archive %-3s %9.0f /s  p50 %6.3f ms  p99 %7.3f ms  wake p99 %6.3f ms  cache %+5s MiB (store files %+5s MiB)  log residency %s B  uploaded %s B  lag at end %s records'
      % (sys.argv[2], r['records_per_s'], l['p50'] / 1e3, l['p99'] / 1e3, w.get('p99_us', 0) / 1e3,
         sys.argv[3], sys.argv[4], r['residency_bytes']['after'], m.get('sidewal_archive_uploaded_bytes_total', '-'),
         m.get('sidewal_archive_lag_records', '-')))
PY
  rm -rf "$dir"
}

log "load average: $(cut -d' ' -f1-3 /proc/loadavg); rate $rate/s, $duration s per line, $runs pairs"
for ((i = 1; i <= runs; i++)); do
  run_line off "off$i"
  run_line on "on$i"
done

# Restore speed: the last "on" run's archive, restored by sidewal restore,
# against fetching the same objects with curl (the store's own speed).
restore_dir=$work/restored
start=$(date +%s.%N)
"$bin_dir/sidewal" restore --archive "s3://bench/on$runs" --endpoint "$endpoint" \
  --data-dir "$restore_dir" > "$work/restore.out" 2>&1 || { cat "$work/restore.out" >&2; exit 1; }
end=$(date +%s.%N)
objects=$(curl -fsS --aws-sigv4 "aws:amz:us-east-1:s3" --user "S3RVER:S3RVER" -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
  "$endpoint/bench?list-type=2&prefix=on$runs/&max-keys=1000" |
  python3 -c 'import re,sys; print("\n".join(re.findall(r"<Key>([^<]+)</Key>", sys.stdin.read())))')
obj_bytes=0
dstart=$(date +%s.%N)
for o in $objects; do
  n=$(curl -fsS --aws-sigv4 "aws:amz:us-east-1:s3" --user "S3RVER:S3RVER" -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" "$endpoint/bench/$o" -o /dev/null -w '%{size_download}')
  obj_bytes=$((obj_bytes + n))
done
dend=$(date +%s.%N)
python3 - <<PY
rs, re_, ds, de = $start, $end, $dstart, $dend
b = $obj_bytes
print('restore   %8.1f MB/s (%d bytes in %.2f s)' % (b / 1e6 / (re_ - rs), b, re_ - rs))
print('download  %8.1f MB/s (curl, the same objects one by one)' % (b / 1e6 / max(de - ds, 1e-9)))
PY
tail -3 "$work/restore.out" >&2
log "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
