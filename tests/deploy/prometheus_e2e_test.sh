#!/usr/bin/env bash
# End to end with a real Prometheus (Debian's `prometheus`): start sidewald,
# start Prometheus on loopback scraping sidewald's admin port every second,
# drive appends with the `sidewal` CLI, then poll Prometheus's HTTP API until
# sidewal_append_records_total shows them and every dashboard query returns
# data. Starts and stops everything itself.
#
#   tests/deploy/prometheus_e2e_test.sh BUILD_BIN_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
bin=${1:?usage: $0 BUILD_BIN_DIR}
command -v prometheus >/dev/null 2>&1 || fail "prometheus not found (Debian package prometheus)"
command -v promtool >/dev/null 2>&1 || fail "promtool not found (Debian package prometheus)"
[[ -x $bin/sidewal ]] || fail "$bin/sidewal (the CLI) not built"
find_python

tmp=$(mktemp -d)
SIDEWALD_PID="" PROM_PID=""
cleanup() {
  local pid
  for pid in "$PROM_PID" "${SIDEWALD_PID:-}"; do
    [[ -n $pid ]] || continue
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

start_sidewald "$bin/sidewald" "$tmp/sw"

# The target carries the labels Kubernetes discovery would add, so the
# dashboard's $namespace/$pod selectors (check_dashboard.py substitutes
# sidewal-test / sidewal-0) match it.
prom_port=$(free_port)
cat >"$tmp/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $root/dashboards/alerts.yaml
scrape_configs:
  - job_name: sidewal
    static_configs:
      - targets: ["127.0.0.1:$ADMIN_PORT"]
        labels:
          namespace: sidewal-test
          pod: sidewal-0
EOF
promtool check config "$tmp/prometheus.yml" >/dev/null
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/prom-data" \
  --web.listen-address="127.0.0.1:$prom_port" --log.level=warn >"$tmp/prometheus.log" 2>&1 &
PROM_PID=$!
prom="http://127.0.0.1:$prom_port"
wait_until 60 "Prometheus is ready" http_ok "$prom/-/ready"
kill -0 "$PROM_PID" || { cat "$tmp/prometheus.log"; fail "prometheus exited"; }

# Prometheus scrapes the target successfully (up == 1) before the appends, so
# the counters' increase is seen by rate().
target_up() {
  curl -fsS --max-time 2 "$prom/api/v1/query" --data-urlencode 'query=up{job="sidewal"} == 1' \
    | grep -q '"pod":"sidewal-0"'
}
wait_until 30 "Prometheus scrapes sidewald (up == 1)" target_up

# Appends: 300 records from stdin lines in one run, and 20 from arguments.
records=320
seq 1 300 | sed 's/^/e2e record /' | "$bin/sidewal" --socket "$SOCKET" append >"$tmp/append1.out" \
  || fail "sidewal append (stdin) failed: $(cat "$tmp/append1.out")"
for i in 1 2 3 4; do
  "$bin/sidewal" --socket "$SOCKET" append "arg $i a" "arg $i b" "arg $i c" "arg $i d" "arg $i e" >>"$tmp/append2.out" \
    || fail "sidewal append (args) failed: $(cat "$tmp/append2.out")"
done

"$PY" "$here/check_dashboard.py" "$root/dashboards/sidewal.json" "$root/dashboards/alerts.yaml" \
  --queries-out "$tmp/queries.jsonl" >/dev/null
prom_sees_appends() { "$PY" "$here/prom_check.py" "$prom" "$tmp/queries.jsonl" --records "$records"; }
if ! (wait_until 60 "Prometheus shows $records appends and the dashboard's queries return data" prom_sees_appends); then
  "$PY" "$here/prom_check.py" "$prom" "$tmp/queries.jsonl" --records "$records" --verbose || true
  fail "Prometheus never showed the appends"
fi
"$PY" "$here/prom_check.py" "$prom" "$tmp/queries.jsonl" --records "$records" --verbose

# Every alert rule of dashboards/alerts.yaml loads and evaluates against the
# live series, and nothing fires for a healthy daemon (a young series' noisy
# disk trend may make SidewalVolumeFillingUp pending, never firing: its
# `for` is 30 minutes).
curl -fsS "$prom/api/v1/rules" >"$tmp/rules.json"
"$PY" - "$tmp/rules.json" "$root/dashboards/alerts.yaml" <<'EOF'
import json, sys, yaml
groups = json.load(open(sys.argv[1]))["data"]["groups"]
rules = [r for g in groups for r in g["rules"]]
expected = [r["alert"] for g in yaml.safe_load(open(sys.argv[2]))["groups"] for r in g["rules"]]
assert sorted(r["name"] for r in rules) == sorted(expected), \
    f"Prometheus loaded {sorted(r['name'] for r in rules)}, expected {sorted(expected)}"
bad = [r["name"] for r in rules if r.get("health") != "ok"]
assert not bad, f"rules failing to evaluate: {bad}"
firing = [r["name"] for r in rules if r.get("state") == "firing"]
assert not firing, f"alerts firing against a healthy daemon: {firing}"
print(f"{len(rules)} alert rules loaded and healthy, none firing")
EOF

kill -TERM "$PROM_PID"
wait "$PROM_PID" || fail "prometheus exited non-zero after SIGTERM"
PROM_PID=""
stop_sidewald
echo "ok: prometheus end to end"
