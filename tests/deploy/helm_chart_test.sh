#!/usr/bin/env bash
# Tests of the Helm chart with a real helm binary: `helm lint` and
# `helm template` for the default values and every documented variant, and
# checks on the rendered manifests (check_manifests.py).
#
#   tests/deploy/helm_chart_test.sh CASE
#     default | statefulset | statefulset-ha | encryption | servicemonitor
#     database-chart | documented-config | rejects-wrong-types | rejects-bad-settings
#   tests/deploy/helm_chart_test.sh daemon-accepts-config BUILD_BIN_DIR
#     the real sidewald --check-config accepts the config each variant renders
#
# helm missing is a failure, not a skip: scripts/install-deps.sh installs it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
chart="$root/helm/sidewal"
case_name=${1:?usage: $0 CASE}

command -v helm >/dev/null 2>&1 || { echo "FAIL: helm not found on PATH (scripts/install-helm.sh installs it)"; exit 1; }
# A python3 with PyYAML (Debian's python3-yaml); the first one on PATH may be another.
py=""
for p in python3 /usr/bin/python3; do
  if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import yaml' 2>/dev/null; then py=$p; break; fi
done
[[ -n $py ]] || { echo "FAIL: no python3 with the yaml module (install python3-yaml)"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# lint + template one variant of the chart, then check the rendered manifests.
render_and_check() {  # name, helm args..., --, checker args...
  local name=$1; shift
  local helm_args=() check_args=()
  while (($#)) && [[ $1 != -- ]]; do helm_args+=("$1"); shift; done
  shift
  check_args=("$@")
  helm lint --strict "$chart" "${helm_args[@]}" >"$tmp/$name.lint" 2>&1 \
    || { cat "$tmp/$name.lint"; echo "FAIL: helm lint ($name)"; exit 1; }
  helm template sw "$chart" --namespace db "${helm_args[@]}" >"$tmp/$name.yaml" 2>"$tmp/$name.err" \
    || { cat "$tmp/$name.err"; echo "FAIL: helm template ($name)"; exit 1; }
  "$py" "$here/check_manifests.py" "$tmp/$name.yaml" "${check_args[@]}"
}

# Every value in values.yaml has a comment on the line above it (or its own
# section comment), and every value has a type in values.schema.json.
check_values_documented() {
  "$py" - "$chart/values.yaml" "$chart/values.schema.json" <<'EOF'
import json, re, sys, yaml
lines = open(sys.argv[1]).read().splitlines()
schema = json.load(open(sys.argv[2]))
bad = []
# A key is documented when a "# --" comment block sits right above it, or
# when an enclosing key is documented that way (resources: -> cpu, memory).
stack = []  # (indent, documented) of the enclosing keys
for i, line in enumerate(lines):
    m = re.match(r"^(\s*)(- )?([A-Za-z_][A-Za-z0-9_]*):(\s.*)?$", line)
    if not m:
        continue
    indent = len(m.group(1)) + (2 if m.group(2) else 0)
    while stack and stack[-1][0] >= indent:
        stack.pop()
    j = i - 1
    while j >= 0 and lines[j].strip().startswith("#") and not lines[j].strip().startswith("# --"):
        j -= 1
    own = j >= 0 and lines[j].strip().startswith("# --")
    inherited = any(d for _, d in stack)
    is_section = not (m.group(4) or "").strip()
    if not is_section and not own and not inherited:
        bad.append(f"values.yaml:{i+1}: {m.group(3)} has no '# --' comment")
    # A documented section documents its children only when none of them has
    # a "# --" comment of its own (resources: yes; config: no, each key must).
    block_has_docs = False
    for k in range(i + 1, len(lines)):
        t = lines[k]
        if t.strip() and not t.strip().startswith("#") and len(t) - len(t.lstrip()) <= indent \
                and not t.lstrip().startswith("- "):
            break
        if t.strip().startswith("# --") and len(t) - len(t.lstrip()) > indent:
            block_has_docs = True
            break
    stack.append((indent, (own and not block_has_docs) or inherited))
def walk(values, sch, path):
    if sch.get("type") == "object" and isinstance(values, dict) and "properties" in sch:
        for k, v in values.items():
            if k not in sch["properties"]:
                bad.append(f"schema: {path}{k} missing")
            else:
                walk(v, sch["properties"][k], f"{path}{k}.")
walk(yaml.safe_load(open(sys.argv[1])), schema, "")
for b in bad:
    print("FAIL:", b)
sys.exit(1 if bad else 0)
EOF
}

# The command must fail, and its message must name what was wrong.
expect_rejected() {  # description, expected text, command...
  local what=$1 text=$2; shift 2
  if "$@" >"$tmp/out" 2>&1; then
    echo "FAIL: accepted $what: $*"; exit 1
  fi
  grep -qF -- "$text" "$tmp/out" || { cat "$tmp/out"; echo "FAIL: rejection of $what does not mention '$text'"; exit 1; }
  echo "rejected $what"
}

# Values that set config to every key of the documented example
# config/sidewal.yaml (with container paths and a non-loopback admin address,
# which the chart requires): the chart's schema must accept each key and type
# the daemon documents, so a key added to the daemon shows up here.
documented_config_values() {  # out file
  "$py" - "$root/config/sidewal.yaml" "$1" <<'EOF'
import sys, yaml
cfg = yaml.safe_load(open(sys.argv[1]))
cfg["data_dir"] = "/var/lib/sidewal"
cfg["socket"]["path"] = "/run/sidewal/sidewal.sock"
cfg["admin"]["listen"] = "0.0.0.0:9464"
yaml.safe_dump({"config": cfg, "statefulset": {"enabled": True}}, open(sys.argv[2], "w"))
EOF
}

case $case_name in
  default)
    check_values_documented
    # Default values: the library use (no pod of our own); ConfigMap + Service.
    render_and_check default -- --pods 0
    grep -q "listen: 0.0.0.0:9464" "$tmp/default.yaml" || { echo "FAIL: default admin.listen is not 0.0.0.0:9464"; exit 1; }
    ;;
  statefulset)
    render_and_check statefulset -f "$chart/ci/statefulset-values.yaml" -- --pods 1 --replicas 1 --admin-port 9464
    ;;
  statefulset-ha)
    render_and_check ha -f "$chart/ci/statefulset-ha-values.yaml" -- --pods 1 --replicas 3 --pdb yes --native false
    ;;
  encryption)
    render_and_check enc -f "$chart/ci/encryption-values.yaml" -- --pods 1 --encryption
    ;;
  servicemonitor)
    render_and_check sm -f "$chart/ci/servicemonitor-values.yaml" -- --pods 1 --servicemonitor yes --admin-port 9500
    ;;
  database-chart)
    # The include pattern from a chart that depends on ours: build the
    # dependency in a copy (it writes charts/ and Chart.lock).
    cp -r "$root/helm" "$tmp/helm"
    ex="$tmp/helm/examples/database-chart"
    helm dependency build "$ex" >"$tmp/dep.log" 2>&1 || { cat "$tmp/dep.log"; echo "FAIL: helm dependency build"; exit 1; }
    helm lint --strict "$ex" >"$tmp/ex.lint" 2>&1 || { cat "$tmp/ex.lint"; echo "FAIL: helm lint (database-chart)"; exit 1; }
    helm template db "$ex" >"$tmp/ex.yaml"
    "$py" "$here/check_manifests.py" "$tmp/ex.yaml" --pods 1 --replicas 1 --storage-class local-nvme
    helm template db "$ex" --set sidewal.sidecar.native=false,replicas=2 >"$tmp/ex2.yaml"
    "$py" "$here/check_manifests.py" "$tmp/ex2.yaml" --pods 1 --replicas 2 --native false --storage-class local-nvme
    # The parent's values are checked against our schema too.
    expect_rejected "parent value of wrong type" "sidecar.native" \
      helm template db "$ex" --set-string sidewal.sidecar.native=yes
    ;;
  documented-config)
    documented_config_values "$tmp/documented-values.yaml"
    render_and_check documented -f "$tmp/documented-values.yaml" -- --pods 1
    ;;
  rejects-wrong-types)
    while read -r flag setting key; do
      [[ -z $flag ]] && continue
      expect_rejected "$setting (template)" "$key" helm template sw "$chart" "$flag" "$setting"
      expect_rejected "$setting (lint)" "$key" helm lint "$chart" "$flag" "$setting"
    done <<'EOF'
--set statefulset.replicas=two statefulset.replicas
--set-string sidecar.native=true sidecar.native
--set config.wal.salvage=yes config.wal.salvage
--set config.admin.listen=9464 config.admin.listen
--set config.wal.segment_bytes=big config.wal.segment_bytes
--set config.shutdown.drain_timeout_seconds=soon config.shutdown.drain_timeout_seconds
--set encryption.enabled=1 encryption.enabled
--set persistence.size=true persistence.size
--set metrics.serviceMonitor.interval=15 metrics.serviceMonitor.interval
--set config.wal.sync_mode=sometimes config.wal.sync_mode
--set config.wal.segment_size=1 segment_size
--set image.pullPolicy=Sometimes image.pullPolicy
EOF
    ;;
  rejects-bad-settings)
    expect_rejected "loopback admin.listen" "loopback" \
      helm template sw "$chart" --set config.admin.listen=127.0.0.1:9464
    expect_rejected "encryption without a Secret" "existingSecret" \
      helm template sw "$chart" --set encryption.enabled=true
    expect_rejected "current key not among keys" "currentKeyId" \
      helm template sw "$chart" --set encryption.enabled=true,encryption.existingSecret=k,encryption.currentKeyId=7
    expect_rejected "ServiceMonitor without Service" "service.enabled" \
      helm template sw "$chart" --set metrics.serviceMonitor.enabled=true,service.enabled=false
    ;;
  daemon-accepts-config)
    # The ConfigMap's sidewal.yaml must load in the real daemon: same keys,
    # types and cross-key constraints (the chart mirrors config/sidewal.yaml).
    sidewald=${2:?build bin dir}/sidewald
    [[ -x $sidewald ]] || { echo "FAIL: $sidewald not built"; exit 1; }
    documented_config_values "$tmp/documented-values.yaml"
    # encryption included: sidewald accepts encryption: {enabled, current_key_id,
    # keys: [{id, file}]} (--check-config does not read the key files).
    for variant in default statefulset statefulset-ha encryption servicemonitor documented; do
      args=()
      case $variant in
        default) ;;
        documented) args=(-f "$tmp/documented-values.yaml") ;;
        *) args=(-f "$chart/ci/$variant-values.yaml") ;;
      esac
      helm template sw "$chart" "${args[@]}" --show-only templates/configmap.yaml >"$tmp/cm.yaml"
      "$py" -c 'import sys, yaml; sys.stdout.write(yaml.safe_load(open(sys.argv[1]))["data"]["sidewal.yaml"])' \
        "$tmp/cm.yaml" >"$tmp/$variant.sidewal.yaml"
      "$sidewald" --check-config --config "$tmp/$variant.sidewal.yaml" \
        || { cat "$tmp/$variant.sidewal.yaml"; echo "FAIL: sidewald rejects the config of variant $variant"; exit 1; }
      echo "sidewald accepts the config of variant $variant"
    done
    # ... and rejects a value the schema lets through only as a string.
    helm template sw "$chart" --set config.wal.segment_bytes=3MiB --show-only templates/configmap.yaml >"$tmp/cm.yaml"
    "$py" -c 'import sys, yaml; sys.stdout.write(yaml.safe_load(open(sys.argv[1]))["data"]["sidewal.yaml"])' \
      "$tmp/cm.yaml" >"$tmp/odd.yaml"
    "$sidewald" --check-config --config "$tmp/odd.yaml" 2>/dev/null && { echo "FAIL: sidewald accepted a segment size below 4 x max_record_bytes"; exit 1; }
    ;;
  *) echo "unknown case $case_name"; exit 2 ;;
esac
echo "ok: $case_name"
