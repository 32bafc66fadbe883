# shellcheck shell=bash
# Sourced by the benchmark scripts (bench-clients.sh, bench-commit-ab.sh,
# bench-peers.sh, bench-archive.sh): starting one sidewald for a measurement
# and waiting until it serves. Expects `log` to be defined by the caller. Sets
# `pid` (the daemon) and `admin` (host:port of its admin HTTP). On a failed
# start it prints the last `sidewald_log_lines` lines of the daemon's log
# (default 10).

# wait_until SECONDS CMD...: polls CMD every 0.1 s until it succeeds or the
# deadline passes (returns 1).
wait_until() {
  local t=$1; shift
  local end=$((SECONDS + t))
  until "$@" >/dev/null 2>&1; do ((SECONDS < end)) || return 1; sleep 0.1; done
}

# start_sidewald BIN_DIR DIR ARGS...: runs BIN_DIR/sidewald ARGS with its log in
# DIR/sidewald.log; the admin port must be 127.0.0.1:0 (the daemon picks a free
# port and logs it). Exits the script if it does not listen or get ready.
start_sidewald() {
  local bin_dir=$1 dir=$2; shift 2
  "$bin_dir/sidewald" "$@" > "$dir/sidewald.log" 2>&1 &
  pid=$!
  local port_of_log='"msg":"listening"'
  admin_port() { grep -m1 "$port_of_log" "$dir/sidewald.log" | grep -o '"admin_port":[0-9]*' | cut -d: -f2; }
  have_admin_port() { [[ -n $(admin_port) ]]; }
  local lines=${sidewald_log_lines:-10}
  wait_until 30 have_admin_port ||
    { log "sidewald did not listen"; tail -n "$lines" "$dir/sidewald.log" >&2; exit 1; }
  admin=127.0.0.1:$(admin_port)
  wait_until 60 curl -fsS "http://$admin/readyz" ||
    { log "sidewald not ready"; tail -n "$lines" "$dir/sidewald.log" >&2; exit 1; }
}

# stop_sidewald: stops the daemon start_sidewald started, if any.
stop_sidewald() {
  if [[ -n ${pid:-} ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""; fi
}
