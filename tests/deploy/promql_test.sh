#!/usr/bin/env bash
# Tests of the Grafana dashboard and the alert rules with Debian's promtool.
#
#   tests/deploy/promql_test.sh rules
#       promtool check rules dashboards/alerts.yaml, promtool test rules with
#       the unit tests in tests/deploy/alerts_test.yaml, and check_alerts.py:
#       every alert has a severity, a runbook_url whose anchor is a heading of
#       docs/operations.md, a unit test where it fires and one where it does
#       not; the recovery alert follows the chart's startup probe
#   tests/deploy/promql_test.sh dashboard
#       every dashboard query parses; the required panels and variables exist
#   tests/deploy/promql_test.sh live-metrics BUILD_BIN_DIR
#       starts build/bin/sidewald, scrapes /metrics, and checks that every
#       sidewal_* name in the dashboard and the alerts is exported
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
command -v promtool >/dev/null 2>&1 || fail "promtool not found (Debian package prometheus)"
find_python

tmp=$(mktemp -d)
SIDEWALD_PID=""
cleanup() {
  if [[ -n ${SIDEWALD_PID:-} ]]; then kill -KILL "$SIDEWALD_PID" 2>/dev/null || true; wait "$SIDEWALD_PID" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

case ${1:?usage: $0 rules|dashboard|live-metrics BIN_DIR} in
  rules)
    promtool check rules "$root/dashboards/alerts.yaml"
    promtool test rules "$here/alerts_test.yaml"
    "$PY" "$here/check_alerts.py" "$root/dashboards/alerts.yaml" "$here/alerts_test.yaml" \
      "$root/docs/operations.md" "$root/helm/sidewal/values.yaml"
    ;;
  dashboard)
    "$PY" "$here/check_dashboard.py" "$root/dashboards/sidewal.json" "$root/dashboards/alerts.yaml"
    ;;
  live-metrics)
    bin=${2:?build bin dir}
    start_sidewald "$bin/sidewald" "$tmp"
    curl -fsS --max-time 5 "http://127.0.0.1:$ADMIN_PORT/metrics" >"$tmp/metrics.txt"
    "$PY" "$here/check_dashboard.py" "$root/dashboards/sidewal.json" "$root/dashboards/alerts.yaml" \
      --metrics "$tmp/metrics.txt"
    stop_sidewald
    ;;
  *) fail "unknown case $1" ;;
esac
echo "ok: $1"
