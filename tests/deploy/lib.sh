# Shared helpers of the deployment tests (sourced, not run).
#   find_python            -> $PY, a python3 with PyYAML
#   wait_until SECS WHAT CMD...   polls CMD until it succeeds, fails the test at the deadline
#   start_sidewald BIN DIR -> $SIDEWALD_PID, $ADMIN_PORT, $SOCKET; ready (/readyz 200)
#   stop_sidewald          SIGTERM, waits for exit 0
#   free_port              prints a TCP port free on 127.0.0.1 right now

fail() { echo "FAIL: $*"; exit 1; }

find_python() {
  PY=""
  local p
  for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import yaml' 2>/dev/null; then PY=$p; return 0; fi
  done
  fail "no python3 with the yaml module (install python3-yaml)"
}

# Polls the real condition with a deadline; the short pause between polls only
# yields the CPU, it is not what the test waits for.
wait_until() {  # seconds, description, command...
  local secs=$1 what=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "timed out after ${secs}s waiting until $what"
    sleep 0.05
  done
}

free_port() {
  "${PY:-python3}" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

http_ok() { curl -fsS -o /dev/null --max-time 2 "$1"; }

daemon_alive() { kill -0 "$SIDEWALD_PID" 2>/dev/null; }

admin_port_logged() {
  ADMIN_PORT=$(grep -o '"admin_port":[0-9]*' "$1" | head -n1 | cut -d: -f2)
  [[ -n $ADMIN_PORT ]]
}

start_sidewald() {  # binary, work dir
  local bin=$1 dir=$2
  [[ -x $bin ]] || fail "$bin not built"
  mkdir -p "$dir/data"
  SOCKET="$dir/sidewal.sock"
  cat >"$dir/sidewal.yaml" <<EOF
data_dir: $dir/data
socket:
  path: $SOCKET
admin:
  listen: "127.0.0.1:0"
wal:
  segment_bytes: 4MiB
shutdown:
  drain_timeout_seconds: 5
# The archive on, against an endpoint nobody listens on: its metrics exist
# (the dashboard's archive panels and the archive alerts have series to
# evaluate), its uploads fail, and the log is unaffected. The archive alerts
# wait longer (5 and 10 minutes) than these tests run.
archive:
  enabled: true
  endpoint: "http://127.0.0.1:9"
  bucket: none
EOF
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
    "$bin" --config "$dir/sidewal.yaml" >"$dir/daemon.log" 2>&1 &
  SIDEWALD_PID=$!
  wait_until 30 "sidewald logs its admin port ($dir/daemon.log)" \
    bash -c "grep -q '\"admin_port\":[0-9]' '$dir/daemon.log' || { kill -0 $SIDEWALD_PID || exit 0; exit 1; }"
  daemon_alive || { cat "$dir/daemon.log"; fail "sidewald exited at start"; }
  admin_port_logged "$dir/daemon.log" || fail "no admin_port in $dir/daemon.log"
  wait_until 60 "/readyz answers 200" http_ok "http://127.0.0.1:$ADMIN_PORT/readyz"
}

stop_sidewald() {
  [[ -n ${SIDEWALD_PID:-} ]] || return 0
  kill -TERM "$SIDEWALD_PID" 2>/dev/null || return 0
  local rc=0
  wait "$SIDEWALD_PID" || rc=$?
  SIDEWALD_PID=""
  ((rc == 0)) || fail "sidewald exited $rc after SIGTERM (expected 0)"
}
