#!/usr/bin/env bash
# Measures sidewal and the systems a user would pick instead, in one run, on
# one disk, with one record size and the same client counts, and prints one
# line per system plus a markdown table and the ratios sidewal/peer.
#
#   scripts/bench-peers.sh [--duration S] [--record-bytes N] [--quick] [--repeat N]
#                          [--only LIST] [--bin-dir DIR] [--bench-dir DIR] [--keep]
#   scripts/bench-peers.sh --repeat 3         # what BENCHMARKS.md reports
#
#   --duration S      seconds per measurement (default 30; --quick: 5)
#   --record-bytes N  payload bytes per record/value/row (default 100)
#   --connections N   clients of the pipelined runs (Redis, sidewal; default 64)
#   --pipeline N      requests in flight per client in those runs (default 16)
#   --sync-clients N  clients of the one-at-a-time runs (PostgreSQL, RocksDB,
#                     Redis and sidewal pipeline 1; default 16); Redis and
#                     sidewal also run 1 client x 1 in flight
#   --rate N          open-loop target for sidewal, appends/s (default 100000)
#   --low-rate N      a second open-loop run at this rate, for the latency of a
#                     lightly loaded log (default 10000)
#   --open-connections N, --open-pipeline N
#                     sidewal's open-loop clients (default 2 x 512: every client
#                     connection is a reader thread in sidewal-bench, and on a
#                     2-vCPU machine the fewer the better for the daemon)
#   --repeat N        run the whole set N times (each system in turn, then
#                     again) and print each line's median and spread (min-max)
#                     of rate, p50 and p99; ratios are taken within each run,
#                     then summarised the same way (default 1)
#   --only LIST       comma list of: device,redis,postgres,rocksdb,sidewal,floor
#   --bin-dir DIR     where sidewald and sidewal-bench are (default build/bin;
#                     built with scripts/build.sh release when missing)
#   --bench-dir DIR   data directory (default ./var/bench, on the checkout's disk)
#   --keep            leave the data directories behind
#
# Floors printed beside the figures they bound: fio's 4 KiB write + fdatasync
# at QD1 (the fdatasync's and the write's latency, two lines), one Unix-socket
# round trip to a no-op server (sidewal-bench --uds-rtt, in the sidewal part),
# and beside each sidewal open-loop line the p99 of a wake-up probe
# (sidewal-bench --wake-probe: how late a thread sleeping 1 ms wakes, in the
# same window; a busy machine shows there). The floor part: the open loop's
# durable-ACK floor at --low-rate (sidewal-bench --sync-floor, no daemon)
# alone, beside a Unix-socket ping-pong, and beside sidewal's open-loop line
# run with its data on tmpfs (itself a line: sidewal's CPU work, no device).
# sidewal's closed-loop lines at the main record size run twice: through the
# client library, and with sidewal-bench --event-loop (one epoll thread for
# every connection, as redis-benchmark drives Redis), each with its ratios.
#
# Every server is started here on a Unix socket in the bench directory (Redis
# with port 0, PostgreSQL with listen_addresses='', sidewald's admin HTTP on
# loopback), stopped on exit (also on error or Ctrl-C), and its data removed.
# Missing tools are installed with apt-get (fio, redis, rocksdb-tools,
# postgresql); these are benchmark-only and deliberately not in install-deps.sh.
#
# Page cache: as root, caches are dropped before each system; "cache delta" is
# the host's `Cached` (/proc/meminfo) after the run minus before it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

duration=30
record_bytes=100
connections=64
pipeline=16
sync_clients=16
rate=100000
low_rate=10000
open_connections=2
open_pipeline=512
only="device,redis,postgres,rocksdb,sidewal,floor"
bin_dir=$root/build/bin
bench_dir=$root/var/bench
keep=0
quick=0
repeat=1
while (($#)); do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --record-bytes) record_bytes=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --pipeline) pipeline=$2; shift 2 ;;
    --sync-clients) sync_clients=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --low-rate) low_rate=$2; shift 2 ;;
    --open-connections) open_connections=$2; shift 2 ;;
    --open-pipeline) open_pipeline=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --bin-dir) bin_dir=$(realpath -m "$2"); shift 2 ;;
    --bench-dir) bench_dir=$(realpath -m "$2"); shift 2 ;;
    --keep) keep=1; shift ;;
    --quick) quick=1; duration=5; shift ;;
    --repeat) repeat=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "bench-peers: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ $repeat =~ ^[1-9][0-9]*$ ]] || { echo "bench-peers: --repeat needs a count >= 1" >&2; exit 2; }
want() { [[ ",$only," == *",$1,"* ]]; }
log() { echo "bench-peers: $*" >&2; }

# Line labels: the tables group runs by label and the ratios name them.
fio_sync_label="fio 4KiB O_DIRECT+fdatasync QD1 (flushes/s; sync lat)"
fio_write_label="fio 4KiB O_DIRECT+fdatasync QD1 (write clat)"
fio_seq_label="fio seq 1MiB O_DIRECT io_uring QD16 (MB/s)"
fio_seqsync_label="fio seq 1MiB O_DIRECT+fdatasync QD1 (MB/s; sync lat)"
fio_durable_label="fio seq 1MiB O_DIRECT io_uring QD16 + fdatasync/16 (MB/s; sync lat)"
fio_growing_label="fio seq 1MiB O_DIRECT io_uring QD16 + fdatasync/16, new fallocated file (MB/s; sync lat)"
fio_flush4m_label="fio 4MiB O_DIRECT+fdatasync QD1, new fallocated file (MB/s; sync lat)"
fio_flush4m2_label="fio 4MiB O_DIRECT+fdatasync QD1, 2 jobs, new fallocated files (MB/s; sync lat)"
redis_pipe_label="Redis AOF always, ${connections} clients, pipeline ${pipeline}"
redis_sync_label="Redis AOF always, ${sync_clients} clients, pipeline 1"
redis_one_label="Redis AOF always, 1 client, pipeline 1"
pg_label="PostgreSQL sync commit, ${sync_clients} clients, INSERT ${record_bytes} B"
rocksdb_label="RocksDB fillrandom --sync=1, ${sync_clients} threads"
uds_label="unix socket round trip (no-op server), 1 client"
sw_pipe_label="sidewal closed-loop, ${connections} conns, pipeline ${pipeline}"
sw_sync_label="sidewal closed-loop, ${sync_clients} conns, pipeline 1"
sw_one_label="sidewal closed-loop, 1 conn, pipeline 1"
# The same three with sidewal-bench --event-loop: one epoll thread drives
# every connection, as redis-benchmark drives Redis (BENCHMARKS.md *Daemon*).
sw_pipe_ev_label="sidewal closed-loop, one epoll thread, ${connections} conns, pipeline ${pipeline}"
sw_sync_ev_label="sidewal closed-loop, one epoll thread, ${sync_clients} conns, pipeline 1"
sw_one_ev_label="sidewal closed-loop, one epoll thread, 1 conn, pipeline 1"
sw_rate_label="sidewal open-loop ${rate}/s, ${open_connections} conns x ${open_pipeline}"
sw_low_label="sidewal open-loop ${low_rate}/s, ${open_connections} conns x ${open_pipeline}"
sw_big_label="sidewal closed-loop 64 KiB records, 16 conns x 16 (MB/s)"
sw_big_nodwb_label="sidewal closed-loop 64 KiB records, 16 conns x 16, wal.dwb false (MB/s)"
sw_big_staging_label="sidewal closed-loop 64 KiB records, 16 conns x 16, wal.staging_bytes 16MiB (MB/s)"
floor_label="durable-ACK floor, open-loop ${low_rate}/s (no daemon; cycles/s)"
floor_pp_label="durable-ACK floor, open-loop ${low_rate}/s, socket ping-pong beside (cycles/s)"
sw_tmpfs_alone_label="sidewal open-loop ${low_rate}/s, ${open_connections} conns x ${open_pipeline}, data on tmpfs (no device)"
sw_tmpfs_label="sidewal open-loop ${low_rate}/s, ${open_connections} conns x ${open_pipeline}, data on tmpfs, the floor's syncs beside"
floor_tmpfs_label="durable-ACK floor, open-loop ${low_rate}/s, beside sidewal on tmpfs (cycles/s)"

is_root=0; [[ $(id -u) -eq 0 ]] && is_root=1
SUDO=""; ((is_root)) || SUDO=sudo

# ---- tools -------------------------------------------------------------------
need_pkgs=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
want device && ! have_pkg fio && need_pkgs+=(fio)
want redis && { have_pkg redis-server || need_pkgs+=(redis-server); have_pkg redis-tools || need_pkgs+=(redis-tools); }
want rocksdb && ! have_pkg rocksdb-tools && need_pkgs+=(rocksdb-tools)
want postgres && ! ls /usr/lib/postgresql/*/bin/pgbench >/dev/null 2>&1 && need_pkgs+=(postgresql)
have_pkg python3 || need_pkgs+=(python3)
have_pkg curl || need_pkgs+=(curl)
if ((${#need_pkgs[@]})); then
  log "installing ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq || true
  # policy-rc.d may refuse to start the packaged services; we never use them.
  $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# ---- bench directory on the checkout's disk -----------------------------------
mkdir -p "$bench_dir"
fs=$(findmnt -n -o FSTYPE -T "$bench_dir")
src=$(findmnt -n -o SOURCE -T "$bench_dir")
if [[ $fs == tmpfs || $fs == ramfs ]]; then
  echo "bench-peers: $bench_dir is on $fs; durable-write figures need a real disk (--bench-dir)" >&2
  exit 2
fi
run_dir=$(mktemp -d "$bench_dir/run.XXXXXX")
chmod 755 "$run_dir"

pids=()          # servers we started, stopped by cleanup
pg_data=""       # a running PostgreSQL cluster, stopped by cleanup
pg_ctl=""
cleanup() {
  set +e
  if [[ -n $pid ]]; then pids+=("$pid"); fi  # a sidewald still running
  if [[ -n $pg_data ]]; then as_pg "$pg_ctl" -D "$pg_data" -m immediate stop >/dev/null 2>&1; fi
  for p in "${pids[@]}"; do
    if kill -0 "$p" 2>/dev/null; then
      kill "$p" 2>/dev/null
      for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$p" 2>/dev/null
    fi
  done
  rm -rf "/dev/shm/sidewal-bench-peers.$$"  # the tmpfs line's data (measure_floor)
  if ((keep)); then log "data kept in $run_dir"; else rm -rf "$run_dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- measurement helpers -------------------------------------------------------
cached_kib() { awk '/^Cached:/ {print $2}' /proc/meminfo; }
drop_caches() {
  sync
  if ((is_root)); then echo 3 > /proc/sys/vm/drop_caches; fi
}
cache_before=0
cache_start() { drop_caches; cache_before=$(cached_kib); }
cache_delta_mib() { echo $(( ($(cached_kib) - cache_before) / 1024 )); }

# wait_until SECONDS CMD...; start_sidewald, stop_sidewald (the daemon in `pid`).
# shellcheck source=scripts/lib/bench-daemon.sh
source scripts/lib/bench-daemon.sh
pid=""
sidewald_log_lines=20

# Results: one row per measured line and run, in $run_dir/rows, for
# scripts/bench-peers-report.py. Columns: run, name, rate, unit, p50 ms,
# p99 ms, cache MiB, wake-up probe p99 ms (empty without the probe).
rep=1
add_row() {  # name rate unit p50 p99 cache [wake_p99]
  echo "$rep|$1|$2|$3|$4|$5|$6|${7:-}" >> "$run_dir/rows"
  printf '%-52s %14s %-5s p50 %8s ms  p99 %8s ms  cache %+6s MiB%s\n' "$1" "$2" "$3" "$4" "$5" "$6" \
    "${7:+  wake p99 $7 ms}"
}
py() { python3 -c "$@"; }

# The figures only compare within one run on a quiet machine: say how busy it was.
busy() { echo "load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"; }
log "machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, kernel $(uname -r), $(busy)"
log "bench dir $run_dir ($fs on $src), duration ${duration}s, record ${record_bytes} B"
log "pipelined runs: $connections clients x $pipeline in flight; one-at-a-time runs: $sync_clients clients"

# ---- device limit (fio) ---------------------------------------------------------
measure_device() {
  log "fio: 4 KiB O_DIRECT write + fdatasync, QD1, pre-written file"
  cache_start
  # --overwrite=1 lays the file out first, so the timed writes do not grow it.
  fio --name=flush --filename="$run_dir/fio-flush.dat" --size=256M --bs=4k --rw=write \
      --direct=1 --fdatasync=1 --iodepth=1 --ioengine=psync --overwrite=1 \
      --runtime="$duration" --time_based --output-format=json > "$run_dir/fio-flush.json"
  delta=$(cache_delta_mib)
  # Each write is followed by one fdatasync, so writes/s = flushes/s. fio
  # times the two apart: the first line is the fdatasync's latency, the
  # second the O_DIRECT write's (same run, same rate). One durable 4 KiB
  # write costs both: the single-client floor is their p50s plus a socket
  # round trip (the ratios below).
  read -r iops p50 p99 wp50 wp99 cycle < <(py "
import json; j=json.load(open('$run_dir/fio-flush.json'))['jobs'][0]
s=j['sync']['lat_ns']['percentile']; w=j['write']['clat_ns']['percentile']
print('%.0f %.3f %.3f %.3f %.3f %.3f' % (j['write']['iops'], s['50.000000']/1e6, s['99.000000']/1e6,
      w['50.000000']/1e6, w['99.000000']/1e6, 1e3 / max(j['write']['iops'], 1e-9)))")
  add_row "$fio_sync_label" "$iops" "/s" "$p50" "$p99" "$delta"
  add_row "$fio_write_label" "$iops" "/s" "$wp50" "$wp99" "$delta"
  log "  (one write + fdatasync cycle: ${cycle} ms on average)"
  rm -f "$run_dir/fio-flush.dat"

  log "fio: sequential 1 MiB O_DIRECT, io_uring QD16"
  cache_start
  fio --name=seq --filename="$run_dir/fio-seq.dat" --size=4G --bs=1M --rw=write \
      --direct=1 --iodepth=16 --ioengine=io_uring --overwrite=1 \
      --runtime="$duration" --time_based --output-format=json > "$run_dir/fio-seq.json"
  delta=$(cache_delta_mib)
  read -r mbs p50 p99 < <(py "
import json; j=json.load(open('$run_dir/fio-seq.json'))['jobs'][0]['write']
c=j['clat_ns']['percentile']
print('%.0f %.3f %.3f' % (j['bw_bytes']/1e6, c['50.000000']/1e6, c['99.000000']/1e6))")
  add_row "$fio_seq_label" "$mbs" "MB/s" "$p50" "$p99" "$delta"

  # One fio line whose writes are followed by fdatasyncs: MB/s written and
  # the fdatasync latency. fio_synced_line LABEL NAME fio-options...
  fio_synced_line() {
    local label=$1 name=$2; shift 2
    cache_start
    fio --name="$name" "$@" --runtime="$duration" --time_based --output-format=json \
        > "$run_dir/fio-$name.json"
    delta=$(cache_delta_mib)
    read -r mbs p50 p99 < <(py "
import json; j=json.load(open('$run_dir/fio-$name.json'))['jobs'][0]
s=j['sync']['lat_ns']['percentile']
print('%.0f %.3f %.3f' % (j['write']['bw_bytes']/1e6, s['50.000000']/1e6, s['99.000000']/1e6))")
    add_row "$label" "$mbs" "MB/s" "$p50" "$p99" "$delta"
  }

  # Context for large records: what durable (flushed) sequential writes get
  # when each 1 MiB write waits for its fdatasync, as a single log writer does.
  log "fio: sequential 1 MiB O_DIRECT write + fdatasync, QD1"
  fio_synced_line "$fio_seqsync_label" seqsync --filename="$run_dir/fio-seq.dat" --size=4G \
      --bs=1M --rw=write --direct=1 --fdatasync=1 --ioengine=psync --overwrite=1

  # The durable bandwidth ceiling: the QD16 line above, plus one fdatasync
  # after every 16 writes (16 MiB in flight, as sidewal's 64 KiB line keeps).
  # The QD16 line without syncs measures how fast the device's volatile
  # cache accepts writes; a log that acknowledges only durable data is
  # bounded by this one.
  log "fio: sequential 1 MiB O_DIRECT, io_uring QD16, fdatasync every 16 writes"
  fio_synced_line "$fio_durable_label" seqdurable --filename="$run_dir/fio-seq.dat" --size=4G \
      --bs=1M --rw=write --direct=1 --iodepth=16 --ioengine=io_uring --fdatasync=16 --overwrite=1
  rm -f "$run_dir/fio-seq.dat"

  # The same, into a new file whose blocks are reserved (fallocate) but not
  # yet written, as a growing log writes its new segments: each fdatasync
  # also commits the conversion of the extents just written. The file is
  # sized for ~1.2 GB/s over the window so fio does not wrap into blocks it
  # already wrote (which would be the line above again).
  log "fio: the same into a new fallocated file"
  fio_synced_line "$fio_growing_label" seqgrowing --filename="$run_dir/fio-grow.dat" \
      --size="$((duration * 1200))M" --bs=1M --rw=write --direct=1 --iodepth=16 \
      --ioengine=io_uring --fdatasync=16 --overwrite=0 --fallocate=native
  rm -f "$run_dir/fio-grow.dat"

  # One flush at a time at the size of sidewal's 64 KiB flushes (a staging
  # buffer, 4 MiB): each write waits for the previous fdatasync, into new
  # reserved blocks, as sidewal's flusher writes a segment. What a log that
  # syncs one flush at a time gets here at that flush size.
  log "fio: 4 MiB O_DIRECT write + fdatasync, QD1, new fallocated file"
  fio_synced_line "$fio_flush4m_label" flush4m --filename="$run_dir/fio-flush4m.dat" \
      --size="$((duration * 1200))M" --bs=4M --rw=write --direct=1 --fdatasync=1 \
      --ioengine=psync --overwrite=0 --fallocate=native
  rm -f "$run_dir/fio-flush4m.dat"

  # The same with two flushes in flight (two jobs, a file each): what a log
  # that keeps two syncs in flight (an on-disk format change, not built;
  # docs/format.md "Overlapped flushes") could get here at that flush size.
  log "fio: the same, 2 jobs (two flushes in flight)"
  mkdir -p "$run_dir/fio-flush4m2"
  fio_synced_line "$fio_flush4m2_label" flush4m2 --directory="$run_dir/fio-flush4m2" \
      --size="$((duration * 600))M" --bs=4M --rw=write --direct=1 --fdatasync=1 \
      --ioengine=psync --overwrite=0 --fallocate=native --numjobs=2 --group_reporting
  rm -rf "$run_dir/fio-flush4m2"
}

# ---- Redis, AOF always -------------------------------------------------------------
redis_run() {  # clients pipeline label
  local c=$1 p=$2 label=$3 dir="$run_dir/redis-$1-$2"
  mkdir -p "$dir"
  cache_start
  redis-server --port 0 --unixsocket "$dir/redis.sock" --unixsocketperm 700 \
      --appendonly yes --appendfsync always --save "" --dir "$dir" \
      --logfile "$dir/redis.log" --daemonize no &
  local pid=$!; pids+=("$pid")
  wait_until 20 redis-cli -s "$dir/redis.sock" ping
  # redis-benchmark runs a request count, not a duration: a short calibration
  # run sets the count for about --duration seconds.
  local cal n
  cal=$(redis-benchmark -s "$dir/redis.sock" -t set -d "$record_bytes" -c "$c" -P "$p" \
        -r 100000000 -n $((c * p * 50)) --csv | awk -F'"' '$2=="SET" {print $4}')
  n=$(py "print(max(int(float('$cal') * $duration), $c * $p))")
  redis-benchmark -s "$dir/redis.sock" -t set -d "$record_bytes" -c "$c" -P "$p" \
      -r 100000000 -n "$n" --csv > "$dir/result.csv"
  local delta; delta=$(cache_delta_mib)
  kill "$pid"; wait "$pid" 2>/dev/null || true
  # "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
  read -r rps p50 p99 < <(awk -F'"' '$2=="SET" {printf "%.0f %s %s\n", $4, $10, $14}' "$dir/result.csv")
  add_row "$label" "$rps" "/s" "$p50" "$p99" "$delta"
  rm -rf "$dir"
}
measure_redis() {
  log "redis: appendonly yes, appendfsync always, Unix socket"
  redis_run "$connections" "$pipeline" "$redis_pipe_label"
  redis_run "$sync_clients" 1 "$redis_sync_label"
  redis_run 1 1 "$redis_one_label"
}

# ---- PostgreSQL, synchronous commit ---------------------------------------------------
as_pg() { if ((is_root)); then runuser -u postgres -- "$@"; else "$@"; fi; }
measure_postgres() {
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  pg_ctl=$pg_bin/pg_ctl
  dir="$run_dir/pg"
  mkdir -p "$dir"
  ((is_root)) && chown postgres "$dir"
  log "postgresql ($pg_bin): synchronous_commit=on, fsync=on, Unix socket only"
  as_pg "$pg_bin/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
  cache_start
  pg_data="$dir/data"
  as_pg "$pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -o \
    "-c listen_addresses='' -c unix_socket_directories='$dir' -c synchronous_commit=on -c fsync=on -c max_connections=200" \
    start >/dev/null
  as_pg "$pg_bin/psql" -q -h "$dir" -U postgres -c \
    "CREATE TABLE bench_log(id bigserial PRIMARY KEY, payload text NOT NULL)" postgres
  # One INSERT of a record_bytes-long row per transaction (autocommit).
  printf "INSERT INTO bench_log(payload) VALUES (repeat('x', %d));\n" "$record_bytes" > "$dir/insert.sql"
  ((is_root)) && chown postgres "$dir/insert.sql"
  (cd "$dir" && as_pg "$pg_bin/pgbench" -h "$dir" -U postgres -n -f "$dir/insert.sql" \
      -c "$sync_clients" -j 2 -T "$duration" --log --log-prefix="$dir/txlog" postgres) \
      > "$dir/pgbench.out" 2>&1
  delta=$(cache_delta_mib)
  as_pg "$pg_ctl" -D "$dir/data" -m fast stop >/dev/null; pg_data=""
  tps=$(awk '/^tps = / {printf "%.0f", $3}' "$dir/pgbench.out")
  # Per-transaction log: client_id tx_no latency_us script_no epoch epoch_us.
  read -r p50 p99 < <(cat "$dir"/txlog.* | awk '{print $3}' | sort -n | awk '
    {v[NR]=$1} END {i50=int(NR*0.50); i99=int(NR*0.99); if(i50<1)i50=1; if(i99<1)i99=1;
    printf "%.3f %.3f\n", v[i50]/1000, v[i99]/1000}')
  add_row "$pg_label" "$tps" "/s" "$p50" "$p99" "$delta"
  rm -rf "$dir"
}

# ---- RocksDB db_bench, sync writes ----------------------------------------------------
measure_rocksdb() {
  db_bench=$(command -v rocksdb_db_bench || command -v db_bench)
  dir="$run_dir/rocksdb"
  log "rocksdb ($db_bench): fillrandom --sync=1"
  cache_start
  "$db_bench" --benchmarks=fillrandom --sync=1 --value_size="$record_bytes" --key_size=16 \
      --threads="$sync_clients" --histogram=1 --duration="$duration" --num=1000000000 \
      --compression_type=none --db="$dir" > "$run_dir/db_bench.out" 2>&1
  delta=$(cache_delta_mib)
  ops=$(awk '$1=="fillrandom" {for(i=1;i<=NF;i++) if($i=="ops/sec") print $(i-1)}' "$run_dir/db_bench.out")
  read -r p50 p99 < <(awk '/^Percentiles:/ {printf "%.3f %.3f\n", $3/1000, $7/1000}' "$run_dir/db_bench.out")
  add_row "$rocksdb_label" "$ops" "/s" "$p50" "$p99" "$delta"
  rm -rf "$dir"
}

# ---- sidewal -------------------------------------------------------------------------
# One sidewal line: a fresh sidewald, sidewal-bench against it, one row.
# sw_data (when set) is the data directory instead of one under the run's;
# sw_config (when set) a config file for the keys no flag sets.
sidewal_run() {  # label record_bytes -- sidewal-bench options...
  local label=$1 rb=$2; shift 3
  local dir="$run_dir/sidewal" data=${sw_data:-$run_dir/sidewal/data}
  rm -rf "$dir" "$data"; mkdir -p "$dir" "$data"
  cache_start
  # Admin port 0: the daemon picks a free port and logs it ("listening").
  start_sidewald "$bin_dir" "$dir" ${sw_config:+--config "$sw_config"} --data-dir "$data" \
      --socket "$dir/sidewal.sock" --admin 127.0.0.1:0
  "$bin_dir/sidewal-bench" --socket "$dir/sidewal.sock" --admin "$admin" --data-dir "$data" \
      --record-bytes "$rb" --duration "$duration" --json "$@" > "$dir/result.json" ||
    log "  sidewal-bench exited $? (problems are in its JSON: errors, unacked, verify)"
  if [[ ! -s $dir/result.json ]]; then
    log "  sidewal-bench produced no result; sidewald log:"; tail -20 "$dir/sidewald.log" >&2; return 1
  fi
  local delta; delta=$(cache_delta_mib)
  stop_sidewald
  # wake: the wake-up probe's p99 in ms ('-' when the line ran without it).
  read -r rps mbs p50 p99 per_flush res vfail wake stalls < <(py "
import json; r=json.load(open('$dir/result.json')); l=r['latency_us']; w=r.get('wake_probe')
print('%.0f %.1f %.3f %.3f %s %d %d %s %s' % (r['records_per_s'], r['mb_per_s'], l['p50']/1e3, l['p99']/1e3,
    ('%.1f' % r['records_per_flush']) if r.get('records_per_flush') is not None else '-',
    r['residency_bytes']['after'] if r['residency_bytes']['after'] is not None else -1,
    r['verify']['mismatches'], ('%.3f' % (w['p99_us']/1e3)) if w else '-',
    ('%d/%d' % (w['stalls_over_2ms'], w['samples'])) if w else '-'))")
  if [[ $wake == - ]]; then wake=""; fi
  if [[ $rb -ge 65536 ]]; then
    add_row "$label" "$mbs" "MB/s" "$p50" "$p99" "$delta" "$wake"
  else
    add_row "$label" "$rps" "/s" "$p50" "$p99" "$delta" "$wake"
  fi
  log "  records/flush $per_flush, log residency after ${res} B, verify mismatches $vfail"
  if [[ -n $wake ]]; then log "  wake-up probe: ${stalls%/*} of ${stalls#*/} sleeps of 1 ms woke over 2 ms late"; fi
  if [[ $vfail != 0 ]]; then log "  VERIFY FAILED"; return 1; fi
  rm -rf "$dir" "$data"
}

need_sidewal_bins() {
  if [[ ! -x $bin_dir/sidewald || ! -x $bin_dir/sidewal-bench ]]; then
    log "building sidewald and sidewal-bench (scripts/build.sh release)"
    scripts/build.sh release >/dev/null
  fi
}

measure_sidewal() {
  need_sidewal_bins
  # The round-trip floor: no daemon, one request and its reply through a
  # Unix socket between two threads blocking in send/recv.
  log "sidewal-bench --uds-rtt: one Unix-socket round trip, no-op server"
  cache_start
  "$bin_dir/sidewal-bench" --uds-rtt --record-bytes "$record_bytes" --duration "$duration" --json \
      > "$run_dir/uds-rtt.json"
  delta=$(cache_delta_mib)
  read -r rps p50 p99 < <(py "
import json; r=json.load(open('$run_dir/uds-rtt.json')); l=r['latency_us']
print('%.0f %.3f %.3f' % (r['round_trips_per_s'], l['p50']/1e3, l['p99']/1e3))")
  add_row "$uds_label" "$rps" "/s" "$p50" "$p99" "$delta"

  log "sidewal: $bin_dir/sidewald + sidewal-bench"
  sidewal_run "$sw_pipe_label" "$record_bytes" -- \
      --connections "$connections" --pipeline "$pipeline" --batch 1 --rate 0
  sidewal_run "$sw_sync_label" "$record_bytes" -- \
      --connections "$sync_clients" --pipeline 1 --batch 1 --rate 0
  sidewal_run "$sw_one_label" "$record_bytes" -- \
      --connections 1 --pipeline 1 --batch 1 --rate 0
  sidewal_run "$sw_pipe_ev_label" "$record_bytes" -- \
      --connections "$connections" --pipeline "$pipeline" --batch 1 --rate 0 --event-loop
  sidewal_run "$sw_sync_ev_label" "$record_bytes" -- \
      --connections "$sync_clients" --pipeline 1 --batch 1 --rate 0 --event-loop
  sidewal_run "$sw_one_ev_label" "$record_bytes" -- \
      --connections 1 --pipeline 1 --batch 1 --rate 0 --event-loop
  # Open loop with the wake-up probe: its p99 is printed beside the line's.
  sidewal_run "$sw_rate_label" "$record_bytes" -- \
      --connections "$open_connections" --pipeline "$open_pipeline" --batch 1 --rate "$rate" --wake-probe
  sidewal_run "$sw_low_label" "$record_bytes" -- \
      --connections "$open_connections" --pipeline "$open_pipeline" --batch 1 --rate "$low_rate" --wake-probe
  # 16 x 16 records of 64 KiB: 16 MiB in flight, as fio's QD16 x 1 MiB.
  sidewal_run "$sw_big_label" 65536 -- \
      --connections 16 --pipeline 16 --batch 1 --rate 0
  # The same with the double-write buffer off: what its slot write costs a
  # 64 KiB flush (whose last page is always partly filled, so always copied).
  # A comparison only: a device without atomic 4 KiB writes keeps it on.
  printf 'wal:\n  dwb: false\n' > "$run_dir/sidewal-nodwb.yaml"
  sw_config="$run_dir/sidewal-nodwb.yaml" sidewal_run "$sw_big_nodwb_label" 65536 -- \
      --connections 16 --pipeline 16 --batch 1 --rate 0
  # And with staging buffers that hold all 16 MiB in flight (the key for
  # large-record workloads; the default stays 4 MiB, docs/operations.md).
  printf 'wal:\n  staging_bytes: 16MiB\n' > "$run_dir/sidewal-staging.yaml"
  sw_config="$run_dir/sidewal-staging.yaml" sidewal_run "$sw_big_staging_label" 65536 -- \
      --connections 16 --pipeline 16 --batch 1 --rate 0
}

# ---- the open loop's floor -----------------------------------------------------------
# What the machine alone does to an open-loop tail at --low-rate:
# sidewal-bench --sync-floor (no daemon, no socket: a 4 KiB O_DIRECT write +
# fdatasync loop, each request scheduled at the rate acknowledged at the end
# of the first cycle that starts after it, a group commit with no CPU cost),
# alone, then with two threads ping-ponging over a Unix socket beside it
# (sidewal-bench --uds-rtt: the least work any server with a client does),
# then sidewal's own open-loop line with its data on tmpfs (all of sidewal's
# CPU work at that rate, no device) alone, and again with the floor's loop
# beside it (both rows): whether a tail comes from sidewal's own path, or
# from what disk syncs anywhere in the machine do to every thread in it.
floor_row() {  # label json: one row from sidewal-bench --sync-floor --json
  local cps p50 p99 p999
  read -r cps p50 p99 p999 < <(py "
import json; r=json.load(open('$2')); l=r['latency_us']
print('%.0f %.3f %.3f %.3f' % (r['cycles_per_s'], l['p50']/1e3, l['p99']/1e3, l['p999']/1e3))")
  add_row "$1" "$cps" "/s" "$p50" "$p99" "0"
  log "  (write + fdatasync cycles/s; latency from the scheduled time; p99.9 $p999 ms)"
}
sync_floor_row() {  # label sync-floor options...
  local label=$1; shift
  "$bin_dir/sidewal-bench" --sync-floor --rate "$low_rate" --data-dir "$run_dir" --json "$@" \
      > "$run_dir/floor.json"
  floor_row "$label" "$run_dir/floor.json"
}

measure_floor() {
  need_sidewal_bins
  log "durable-ACK floor at $low_rate/s: alone"
  sync_floor_row "$floor_label" --duration "$duration" --warmup 1
  log "durable-ACK floor at $low_rate/s: a Unix-socket ping-pong beside it"
  "$bin_dir/sidewal-bench" --uds-rtt --duration "$((duration + 2))" --warmup 0 > /dev/null &
  local pp=$!; pids+=("$pp")
  sync_floor_row "$floor_pp_label" --duration "$duration" --warmup 1
  wait "$pp"
  if ! dd if=/dev/zero of=/dev/shm/.sidewal-direct-probe bs=4096 count=1 oflag=direct \
      status=none 2>/dev/null; then
    rm -f /dev/shm/.sidewal-direct-probe
    log "/dev/shm refuses O_DIRECT on this kernel: no tmpfs line"
    return 0
  fi
  rm -f /dev/shm/.sidewal-direct-probe
  log "sidewal open loop at $low_rate/s with its data on tmpfs (no device), alone"
  sw_data=/dev/shm/sidewal-bench-peers.$$ sidewal_run "$sw_tmpfs_alone_label" "$record_bytes" -- \
      --connections "$open_connections" --pipeline "$open_pipeline" --batch 1 --rate "$low_rate" \
      --wake-probe
  log "sidewal open loop at $low_rate/s with its data on tmpfs, the durable-ACK floor beside it"
  # The floor's window sits inside the sidewal line's: its warm-up covers
  # the daemon's start and sidewal-bench's 2 s warm-up.
  "$bin_dir/sidewal-bench" --sync-floor --rate "$low_rate" --data-dir "$run_dir" --json \
      --duration "$((duration > 3 ? duration - 2 : 1))" --warmup 4 > "$run_dir/floor-beside.json" &
  local fl=$!; pids+=("$fl")
  sw_data=/dev/shm/sidewal-bench-peers.$$ sidewal_run "$sw_tmpfs_label" "$record_bytes" -- \
      --connections "$open_connections" --pipeline "$open_pipeline" --batch 1 --rate "$low_rate" \
      --wake-probe
  wait "$fl"
  floor_row "$floor_tmpfs_label" "$run_dir/floor-beside.json"
}

# ---- the runs ------------------------------------------------------------------------------
# --repeat N: the whole set N times, each system in turn, so that a machine
# that drifts moves every system's figures alike.
for ((rep = 1; rep <= repeat; rep++)); do
  if ((repeat > 1)); then log "run $rep of $repeat; $(busy)"; fi
  for part in device redis postgres rocksdb sidewal floor; do
    if want "$part"; then "measure_$part"; fi
  done
done

log "done; $(busy)"

# ---- table and ratios --------------------------------------------------------------------
# Ratios: sidewal at equal client counts against each peer, and a single
# client's p50 against its floor (fio's 4 KiB write and fdatasync at QD1 plus
# one Unix-socket round trip). One per line: kind|title|numerator|denominator[|...]
cat > "$run_dir/ratios" <<EOF
rate|closed-loop ${connections}x${pipeline} vs Redis ${connections}x${pipeline}|$sw_pipe_label|$redis_pipe_label
rate|closed-loop ${sync_clients}x1 vs Redis ${sync_clients}x1|$sw_sync_label|$redis_sync_label
rate|closed-loop 1x1 vs Redis 1x1|$sw_one_label|$redis_one_label
p50|1x1 p50 vs fio 4 KiB QD1 write + fdatasync p50 + one socket round trip p50|$sw_one_label|$fio_sync_label|$fio_write_label|$uds_label
rate|one epoll thread: closed-loop ${connections}x${pipeline} vs Redis ${connections}x${pipeline}|$sw_pipe_ev_label|$redis_pipe_label
rate|one epoll thread: closed-loop ${sync_clients}x1 vs Redis ${sync_clients}x1|$sw_sync_ev_label|$redis_sync_label
rate|one epoll thread: closed-loop 1x1 vs Redis 1x1|$sw_one_ev_label|$redis_one_label
p50|one epoll thread: 1x1 p50 vs fio 4 KiB QD1 write + fdatasync p50 + one socket round trip p50|$sw_one_ev_label|$fio_sync_label|$fio_write_label|$uds_label
rate|closed-loop ${connections}x${pipeline} vs PostgreSQL ${sync_clients} clients|$sw_pipe_label|$pg_label
rate|closed-loop ${sync_clients}x1 vs PostgreSQL ${sync_clients} clients|$sw_sync_label|$pg_label
rate|closed-loop ${connections}x${pipeline} vs RocksDB ${sync_clients} threads|$sw_pipe_label|$rocksdb_label
rate|closed-loop ${sync_clients}x1 vs RocksDB ${sync_clients} threads|$sw_sync_label|$rocksdb_label
rate|64 KiB records MB/s vs fio sequential O_DIRECT QD16 MB/s|$sw_big_label|$fio_seq_label
rate|64 KiB records MB/s vs fio 1 MiB write+fdatasync QD1 MB/s|$sw_big_label|$fio_seqsync_label
rate|64 KiB records MB/s vs fio QD16 + fdatasync/16 MB/s (durable ceiling)|$sw_big_label|$fio_durable_label
rate|64 KiB records MB/s vs the same into a new fallocated file (a growing log's ceiling)|$sw_big_label|$fio_growing_label
rate|fio: a growing log's ceiling vs the durable ceiling (no log writing new blocks goes above this)|$fio_growing_label|$fio_durable_label
rate|64 KiB records MB/s vs fio 4 MiB write + fdatasync QD1 into a new fallocated file (one flush at a time at sidewal's flush size)|$sw_big_label|$fio_flush4m_label
rate|fio: one 4 MiB flush at a time vs the durable ceiling|$fio_flush4m_label|$fio_durable_label
rate|fio: two 4 MiB flushes in flight vs the durable ceiling (what two syncs in flight could give)|$fio_flush4m2_label|$fio_durable_label
rate|64 KiB records: double-write buffer off vs on (what the slot write costs)|$sw_big_nodwb_label|$sw_big_label
rate|64 KiB records: staging_bytes 16 MiB vs the default 4 MiB|$sw_big_staging_label|$sw_big_label
rate|64 KiB records with staging_bytes 16 MiB vs fio QD16 + fdatasync/16 MB/s (durable ceiling)|$sw_big_staging_label|$fio_durable_label
serial|1x1 floor (fio write + fdatasync cycle, then one socket round trip) as a rate, vs Redis 1x1|$redis_one_label|$fio_sync_label|$uds_label
p99|open loop ${low_rate}/s p99 vs the durable-ACK floor's p99 alone|$sw_low_label|$floor_label
p99|open loop ${low_rate}/s p99 vs the durable-ACK floor's p99 beside a socket ping-pong|$sw_low_label|$floor_pp_label
p99|open loop ${low_rate}/s p99 vs the durable-ACK floor's p99 beside sidewal on tmpfs|$sw_low_label|$floor_tmpfs_label
p99|open loop ${low_rate}/s on tmpfs (no device, nothing beside) p99 vs on disk p99|$sw_tmpfs_alone_label|$sw_low_label
p99|open loop ${low_rate}/s on tmpfs: with the floor's disk syncs beside vs alone|$sw_tmpfs_label|$sw_tmpfs_alone_label
EOF
touch "$run_dir/rows"
echo
python3 scripts/bench-peers-report.py "$run_dir/rows" "$run_dir/ratios"
