#!/usr/bin/env bash
# What grows the host's page cache (/proc/meminfo "Cached") during a sidewal
# line of scripts/bench-peers.sh, which drops the caches before every line
# (issue 16, BENCHMARKS.md "What the page cache shows"). Drops the caches,
# starts one sidewald, runs sidewal-bench 16 x 1 then 64 x 16 (100 B, 10 s
# each), and prints Cached at each step, what of the two programs and their
# shared libraries is resident (fincore), and the residency of every file
# of the data directory. Needs root (drop_caches).
#
#   scripts/bench-page-cache.sh [--bin-dir DIR]    (default build/bin)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bin_dir=$root/build/bin
while (($#)); do
  case "$1" in
    --bin-dir) bin_dir=$(realpath -m "$2"); shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "bench-page-cache: unknown option $1" >&2; exit 2 ;;
  esac
done
log() { echo "bench-page-cache: $*" >&2; }
# shellcheck source=scripts/lib/bench-daemon.sh
source scripts/lib/bench-daemon.sh
mkdir -p "$root/var"
work=$(mktemp -d "$root/var/bench-page-cache.XXXXXX")
pid=""
trap 'stop_sidewald; rm -rf "$work"' EXIT
mkdir -p "$work/data"
cached_kib() { awk '/^Cached:/ {print $2}' /proc/meminfo; }
bench() {  # connections pipeline
  "$bin_dir/sidewal-bench" --socket "$work/sidewal.sock" --connections "$1" --pipeline "$2" \
      --record-bytes 100 --duration 10 --warmup 1 --verify-sample 0 --json > "$work/bench.json"
  python3 -c "import json; print(json.load(open('$work/bench.json'))['appends'])"
}

log "load average $(cut -d' ' -f1-3 /proc/loadavg)"
sync; echo 3 > /proc/sys/vm/drop_caches
c0=$(cached_kib)
start_sidewald "$bin_dir" "$work" --data-dir "$work/data" --socket "$work/sidewal.sock" --admin 127.0.0.1:0
c1=$(cached_kib)
n1=$(bench 16 1)
c2=$(cached_kib)
n2=$(bench 64 16)
c3=$(cached_kib)
echo "Cached after drop_caches:                         $c0 KiB"
echo "sidewald started and ready:                       $c1 KiB ($(( (c1 - c0) / 1024 )) MiB more)"
echo "sidewal-bench 16 x 1, 10 s ($n1 appends):       $c2 KiB ($(( (c2 - c1) / 1024 )) MiB more)"
echo "sidewal-bench 64 x 16, 10 s ($n2 appends):    $c3 KiB ($(( c3 - c2 )) KiB more)"
echo
echo "resident pages of the two programs and their shared libraries (fincore):"
libs=$(ldd "$bin_dir/sidewald" "$bin_dir/sidewal-bench" | awk '$3 ~ /^\// {print $3}' | sort -u)
# shellcheck disable=SC2086
fincore -b -n -o RES,FILE "$bin_dir/sidewald" "$bin_dir/sidewal-bench" $libs |
  sort -n | awk '{s += $1} NR > 0 {line[NR] = $0} END {
    for (i = NR - 4; i <= NR; i++) if (i > 0) print "  " line[i];
    printf "  ... %d files, %.1f MiB resident in all\n", NR, s / 1048576 }'
echo
echo "resident bytes of the data directory's files:"
fincore -b -n -o RES,FILE "$work"/data/* | sed 's/^/  /'
