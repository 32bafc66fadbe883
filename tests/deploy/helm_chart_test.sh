#!/usr/bin/env bash
# Tests of the Helm chart with a real helm binary: `helm lint` and
# `helm template` for the default values and every documented variant, and
# checks on the rendered manifests (check_manifests.py).
#
#   tests/deploy/helm_chart_test.sh CASE
#     default | statefulset | statefulset-ha | encryption | servicemonitor
#     monitoring | existing-claim | helm-test-hook | notes | kube-version
#     database-chart | documented-config | chart-files-in-sync
#     rejects-wrong-types | rejects-bad-settings | rejects-sizes
#     rejects-admin-listen | rejects-paths | rejects-scrape-timeout
#   tests/deploy/helm_chart_test.sh daemon-accepts-config BUILD_BIN_DIR
#     the real sidewald --check-config accepts the config each variant renders
#   tests/deploy/helm_chart_test.sh limits-match-daemon BUILD_BIN_DIR
#     the chart refuses exactly the size settings the real sidewald refuses
#   tests/deploy/helm_chart_test.sh pod-scripts BUILD_BIN_DIR
#     the helm test pod's script and the preStop hook's script, run against
#     a live sidewald (with the sidewal CLI standing in for the database)
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

# The sidewal.yaml of a rendered ConfigMap.
configmap_yaml() {  # rendered configmap.yaml, out file
  "$py" -c 'import sys, yaml; sys.stdout.write(yaml.safe_load(open(sys.argv[1]))["data"]["sidewal.yaml"])' \
    "$1" >"$2"
}

# NOTES.txt as `helm install` prints it: helm template does not render it,
# so render it through tpl from a copy of the chart.
render_notes() {  # out file, helm args...
  local out=$1; shift
  rm -rf "$tmp/notes-chart"
  cp -r "$chart" "$tmp/notes-chart"
  cp "$chart/templates/NOTES.txt" "$tmp/notes-chart/files/NOTES.tpl"
  cat >"$tmp/notes-chart/templates/zz-notes.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata: {name: notes}
data:
  notes: {{ tpl (.Files.Get "files/NOTES.tpl") . | quote }}
EOF
  helm template sw "$tmp/notes-chart" --namespace db "$@" --show-only templates/zz-notes.yaml >"$tmp/notes.yaml"
  "$py" -c 'import sys, yaml; sys.stdout.write(yaml.safe_load(open(sys.argv[1]))["data"]["notes"])' \
    "$tmp/notes.yaml" >"$out"
}

# The command must succeed.
expect_accepted() {  # description, command...
  local what=$1; shift
  "$@" >"$tmp/out" 2>&1 || { cat "$tmp/out"; echo "FAIL: refused $what: $*"; exit 1; }
  echo "accepted $what"
}

case $case_name in
  default)
    check_values_documented
    # Default values: the library use (no pod of our own); ConfigMap + Service
    # and the helm test pod, which checks the pods the Service selects.
    render_and_check default -- --pods 0 --helm-test yes
    grep -q "listen: 0.0.0.0:9464" "$tmp/default.yaml" || { echo "FAIL: default admin.listen is not 0.0.0.0:9464"; exit 1; }
    ;;
  statefulset)
    render_and_check statefulset -f "$chart/ci/statefulset-values.yaml" -- --pods 1 --replicas 1 --admin-port 9464 \
      --helm-test yes --expect-appends yes
    ;;
  statefulset-ha)
    render_and_check ha -f "$chart/ci/statefulset-ha-values.yaml" -- --pods 1 --replicas 3 --pdb yes --native false \
      --helm-test yes --expect-appends yes
    # The preStop wait is part of the grace period: 30 (drain) + 30 (extra) + 30 (preStop).
    grep -q "terminationGracePeriodSeconds: 90$" "$tmp/ha.yaml" || { echo "FAIL: grace period is not 90 s with the preStop wait"; exit 1; }
    # Without the hook: no preStop, and the grace period drops back to 60 s.
    render_and_check ha-nohook -f "$chart/ci/statefulset-ha-values.yaml" --set sidecar.preStop.enabled=false -- \
      --pods 1 --replicas 3 --pdb yes --native false --prestop no --helm-test yes --expect-appends yes
    if grep -q "preStop" "$tmp/ha-nohook.yaml"; then echo "FAIL: preStop rendered with sidecar.preStop.enabled=false"; exit 1; fi
    grep -q "terminationGracePeriodSeconds: 60$" "$tmp/ha-nohook.yaml" || { echo "FAIL: grace period is not 60 s without the preStop wait"; exit 1; }
    # And without the config check: no initContainers at all.
    render_and_check ha-nocheck -f "$chart/ci/statefulset-ha-values.yaml" --set sidecar.configCheck.enabled=false -- \
      --pods 1 --replicas 3 --pdb yes --native false --config-check no --helm-test yes --expect-appends yes
    if grep -q "initContainers" "$tmp/ha-nocheck.yaml"; then echo "FAIL: initContainers rendered with neither a native sidecar nor the config check"; exit 1; fi
    ;;
  encryption)
    render_and_check enc -f "$chart/ci/encryption-values.yaml" -- --pods 1 --encryption --helm-test yes --expect-appends yes
    ;;
  archive)
    # The archive: its section in sidewal.yaml, the credentials as the AWS_*
    # environment from the Secret, the private CA mounted read-only.
    render_and_check arch -f "$chart/ci/archive-values.yaml" -- --pods 1 --helm-test yes --expect-appends yes
    "$py" - "$tmp/arch.yaml" <<'EOF'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
cm = next(d for d in docs if d["kind"] == "ConfigMap")
a = yaml.safe_load(cm["data"]["sidewal.yaml"])["archive"]
want = {"enabled": True, "bucket": "sidewal-archive", "prefix": "prod/orders",
        "endpoint": "https://minio.storage.svc:9000", "region": "us-east-1", "path_style": True,
        "interval_seconds": 0.5, "upload_concurrency": 4, "max_upload_bytes_per_second": 52428800,
        "restore_on_empty": True, "truncation_waits": True,
        "ca_file": "/etc/sidewal/archive-ca/ca.crt"}
assert a == want, f"archive section {a} != {want}"
sts = next(d for d in docs if d["kind"] == "StatefulSet")
pod = sts["spec"]["template"]["spec"]
side = next(c for c in pod.get("initContainers", []) + pod["containers"] if c["name"] == "sidewal")
env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in side["env"] if "valueFrom" in e}
for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
    assert env[name]["name"] == "sidewal-archive" and env[name]["key"] == name, env
assert env["AWS_SESSION_TOKEN"].get("optional") is True, "the session token must be optional"
mount = next(m for m in side["volumeMounts"] if m["mountPath"] == "/etc/sidewal/archive-ca")
assert mount.get("readOnly") is True
vol = next(v for v in pod["volumes"] if v["name"] == mount["name"])
assert vol["secret"]["secretName"] == "minio-ca", vol
print("archive: config section, credentials from the Secret, CA mount")
EOF
    # Off by default: no archive section, no AWS_* environment.
    helm template sw "$chart" -f "$chart/ci/statefulset-values.yaml" >"$tmp/noarch.yaml"
    if grep -q "archive:\|AWS_ACCESS_KEY_ID" "$tmp/noarch.yaml"; then echo "FAIL: archive rendered while archive.enabled=false"; exit 1; fi
    expect_rejected "archive without a bucket" "archive.bucket is empty" \
      helm template sw "$chart" -f "$chart/ci/archive-values.yaml" --set archive.bucket=
    expect_rejected "archive without a credentials Secret" "archive.existingSecret is empty" \
      helm template sw "$chart" -f "$chart/ci/archive-values.yaml" --set archive.existingSecret=
    expect_rejected "archive bandwidth cap below 64 KiB/s" "archive.maxUploadBytesPerSecond" \
      helm template sw "$chart" -f "$chart/ci/archive-values.yaml" --set archive.maxUploadBytesPerSecond=1000
    expect_rejected "archive endpoint with a path" "endpoint" \
      helm template sw "$chart" -f "$chart/ci/archive-values.yaml" --set archive.endpoint=https://minio/x
    expect_rejected "archive CA mount = data_dir" "archive.ca.mountPath" \
      helm template sw "$chart" -f "$chart/ci/archive-values.yaml" --set archive.ca.mountPath=/var/lib/sidewal
    ;;
  servicemonitor)
    render_and_check sm -f "$chart/ci/servicemonitor-values.yaml" -- --pods 1 --servicemonitor yes --admin-port 9500 \
      --helm-test yes --expect-appends yes
    ;;
  monitoring)
    # helm install brings the alert rules and the dashboard along: exactly
    # the chart's copies of dashboards/alerts.yaml and dashboards/sidewal.json
    # (chart-files-in-sync checks that those copies are current). Helm must
    # not template the rules' own {{ $labels.pod }}.
    render_and_check mon -f "$chart/ci/monitoring-values.yaml" -- --pods 1 --servicemonitor yes --helm-test yes \
      --expect-appends yes --alerts "$chart/files/alerts.yaml" --dashboard "$chart/files/sidewal.json"
    grep -qF '{{ $labels.pod }}' "$tmp/mon.yaml" || { echo "FAIL: the PrometheusRule lost the rules' own {{ \$labels.pod }}"; exit 1; }
    grep -qF 'grafana_folder: Databases' "$tmp/mon.yaml" || { echo "FAIL: dashboards.annotations not on the ConfigMap"; exit 1; }
    # Either one alone.
    render_and_check mon-rules -f "$chart/ci/statefulset-values.yaml" --set prometheusRule.enabled=true -- \
      --pods 1 --helm-test yes --expect-appends yes --alerts "$chart/files/alerts.yaml"
    render_and_check mon-board --set dashboards.enabled=true -- --pods 0 --helm-test yes --dashboard "$chart/files/sidewal.json"
    ;;
  existing-claim)
    # The log on a claim made beforehand: a pod volume instead of a
    # volumeClaimTemplate; with one replica only.
    render_and_check claim -f "$chart/ci/statefulset-values.yaml" --set persistence.existingClaim=my-log -- \
      --pods 1 --replicas 1 --existing-claim my-log --helm-test yes --expect-appends yes
    if grep -q "volumeClaimTemplates" "$tmp/claim.yaml"; then echo "FAIL: volumeClaimTemplates rendered with persistence.existingClaim"; exit 1; fi
    expect_rejected "existingClaim with 3 replicas" "a log has one writer" \
      helm template sw "$chart" -f "$chart/ci/statefulset-ha-values.yaml" --set persistence.existingClaim=my-log
    expect_rejected "existingClaim that is no claim name" "persistence.existingClaim" \
      helm template sw "$chart" --set persistence.existingClaim=My_Log
    ;;
  helm-test-hook)
    # The test pod is a hook (not installed with the release), selected by
    # no Service or PDB, non-root, without a token; it is left out when
    # tests.enabled=false or when there is no Service to find the pods by.
    render_and_check hook -f "$chart/ci/statefulset-ha-values.yaml" -- --pods 1 --replicas 3 --pdb yes --native false \
      --helm-test yes --expect-appends yes
    render_and_check nohook -f "$chart/ci/statefulset-values.yaml" --set tests.enabled=false -- --pods 1 --helm-test no
    render_and_check nosvc --set service.enabled=false -- --pods 0 --helm-test no
    # Its script parses here; pod-scripts runs it against a live sidewald.
    helm template sw "$chart" -f "$chart/ci/statefulset-values.yaml" --show-only templates/tests/test-admin.yaml >"$tmp/t.yaml"
    "$py" -c 'import sys, yaml; sys.stdout.write(yaml.safe_load(open(sys.argv[1]))["spec"]["containers"][0]["command"][-1])' \
      "$tmp/t.yaml" >"$tmp/t.sh"
    bash -n "$tmp/t.sh" || { echo "FAIL: the helm test script is not valid bash"; exit 1; }
    ;;
  notes)
    # What `helm install` prints: readiness, the socket, metrics, helm test.
    render_notes "$tmp/n1.txt" -f "$chart/ci/servicemonitor-values.yaml"
    render_notes "$tmp/n2.txt"
    for want in "kubectl -n db wait pod -l sidewal/instance=sw-sidewal" "/var/run/wal/db.sock" \
                "port-forward pod/sw-sidewal-0 9500:9500" "/metrics" "helm test sw -n db" "ServiceMonitor sw-sidewal"; do
      grep -qF -- "$want" "$tmp/n1.txt" || { cat "$tmp/n1.txt"; echo "FAIL: NOTES (statefulset) lack '$want'"; exit 1; }
    done
    for want in "sidewal/instance=sw-sidewal" "/run/sidewal/sidewal.sock" "9464" "helm test sw -n db" "sidewal.sidecar"; do
      grep -qF -- "$want" "$tmp/n2.txt" || { cat "$tmp/n2.txt"; echo "FAIL: NOTES (library use) lack '$want'"; exit 1; }
    done
    cat "$tmp/n1.txt"
    ;;
  kube-version)
    # The chart's floor (Chart.yaml kubeVersion) and the native sidecar's 1.29.
    expect_rejected "native sidecar on Kubernetes 1.28" "needs Kubernetes 1.29" \
      helm template sw "$chart" --kube-version 1.28.0
    expect_rejected "native sidecar StatefulSet on Kubernetes 1.28" "sidecar.native=false" \
      helm template sw "$chart" -f "$chart/ci/statefulset-values.yaml" --kube-version v1.28.9
    expect_rejected "Kubernetes 1.24, below the chart's floor" "kubeVersion" \
      helm template sw "$chart" --set sidecar.native=false --kube-version 1.24.0
    render_and_check k128 -f "$chart/ci/statefulset-ha-values.yaml" --kube-version 1.28.0 -- \
      --pods 1 --replicas 3 --pdb yes --native false --helm-test yes --expect-appends yes
    render_and_check k125 -f "$chart/ci/statefulset-ha-values.yaml" --kube-version 1.25.0 -- \
      --pods 1 --replicas 3 --pdb yes --native false --helm-test yes --expect-appends yes
    for v in 1.29.0 v1.29.4-eks-036c24b 1.30.0; do
      render_and_check "k$v" -f "$chart/ci/statefulset-values.yaml" --kube-version "$v" -- \
        --pods 1 --replicas 1 --helm-test yes --expect-appends yes
      echo "renders for Kubernetes $v"
    done
    ;;
  chart-files-in-sync)
    # Helm reads nothing outside the chart: the chart carries copies of the
    # rules and the dashboard, which must equal dashboards/*; and the
    # README's values table must match values.yaml.
    "$root/scripts/sync-chart-files.sh" --check \
      || { echo "FAIL: helm/sidewal/files/ or the README's values table is stale: run scripts/sync-chart-files.sh"; exit 1; }
    ;;
  database-chart)
    # The include pattern from a chart that depends on ours: build the
    # dependency in a copy (it writes charts/ and Chart.lock).
    cp -r "$root/helm" "$tmp/helm"
    ex="$tmp/helm/examples/database-chart"
    helm dependency build "$ex" >"$tmp/dep.log" 2>&1 || { cat "$tmp/dep.log"; echo "FAIL: helm dependency build"; exit 1; }
    helm lint --strict "$ex" >"$tmp/ex.lint" 2>&1 || { cat "$tmp/ex.lint"; echo "FAIL: helm lint (database-chart)"; exit 1; }
    helm template db "$ex" >"$tmp/ex.yaml"
    "$py" "$here/check_manifests.py" "$tmp/ex.yaml" --pods 1 --replicas 1 --storage-class local-nvme --helm-test yes
    helm template db "$ex" --set sidewal.sidecar.native=false,replicas=2 >"$tmp/ex2.yaml"
    "$py" "$here/check_manifests.py" "$tmp/ex2.yaml" --pods 1 --replicas 2 --native false --storage-class local-nvme \
      --helm-test yes
    # The sidewal chart's checks apply to the parent's values too.
    expect_rejected "parent: native sidecar on Kubernetes 1.28" "needs Kubernetes 1.29" \
      helm template db "$ex" --kube-version 1.28.0
    expect_rejected "parent: record larger than the frame" "max_frame_bytes" \
      helm template db "$ex" --set sidewal.config.limits.max_frame_bytes=1MiB
    # The parent's values are checked against our schema too.
    expect_rejected "parent value of wrong type" "sidecar.native" \
      helm template db "$ex" --set-string sidewal.sidecar.native=yes
    ;;
  documented-config)
    documented_config_values "$tmp/documented-values.yaml"
    render_and_check documented -f "$tmp/documented-values.yaml" -- --pods 1 --helm-test yes --expect-appends yes
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
  rejects-sizes)
    # Settings of the right type that sidewald would refuse at start
    # (finalize_config in src/server/config.cc; Wal::open for encryption):
    # refused at render time, naming the key. limits-match-daemon proves the
    # daemon refuses each of them too.
    while read -r setting key; do
      [[ -z $setting ]] && continue
      expect_rejected "$setting" "$key" helm template sw "$chart" --set-string "$setting"
    done <<'EOF'
config.limits.max_frame_bytes=1048576 config.limits.max_frame_bytes
config.limits.max_frame_bytes=1MiB config.limits.max_frame_bytes
config.wal.max_record_bytes=16MiB,config.wal.segment_bytes=32MiB config.wal.segment_bytes
config.wal.segment_bytes=3MiB config.wal.segment_bytes
config.wal.segment_bytes=1048577 multiple of 4096
config.wal.segment_bytes=512KiB config.wal.segment_bytes
config.wal.segment_bytes=65GiB config.wal.segment_bytes
config.wal.max_record_bytes=17MiB config.wal.max_record_bytes
config.limits.inflight_reserve_per_connection=32MiB config.limits.inflight_reserve_per_connection
config.limits.max_inflight_bytes_total=8MiB config.limits.max_inflight_bytes_total
config.limits.max_inflight_bytes_per_connection=2KiB config.limits.max_inflight_bytes_per_connection
config.limits.max_frame_bytes=2GiB config.limits.max_frame_bytes
EOF
    # Integers (not strings) go through the same checks.
    expect_rejected "max_frame_bytes below max_record_bytes + 12 (integers)" "max_frame_bytes" \
      helm template sw "$chart" --set config.limits.max_frame_bytes=1048584
    expect_rejected "encrypted records at the 16 MiB ceiling" "GCM tag" \
      helm template sw "$chart" -f "$chart/ci/encryption-values.yaml" \
        --set config.wal.max_record_bytes=16777216,config.limits.max_frame_bytes=33554432,config.wal.segment_bytes=134217728
    # The boundaries themselves are fine.
    expect_accepted "max_frame_bytes = max_record_bytes + 12" \
      helm template sw "$chart" --set config.limits.max_frame_bytes=1048588
    expect_accepted "segment_bytes = 4 x max_record_bytes" \
      helm template sw "$chart" --set-string config.wal.segment_bytes=4MiB
    expect_accepted "encrypted records of 16 MiB - 16" \
      helm template sw "$chart" -f "$chart/ci/encryption-values.yaml" \
        --set config.wal.max_record_bytes=16777200,config.limits.max_frame_bytes=33554432,config.wal.segment_bytes=134217728
    ;;
  rejects-admin-listen)
    while read -r listen text; do
      [[ -z $listen ]] && continue
      expect_rejected "admin.listen $listen" "$text" helm template sw "$chart" --set "config.admin.listen=$listen"
    done <<'EOF'
0.0.0.0:65536 outside 1-65535
0.0.0.0:99999 outside 1-65535
0.0.0.0:0 outside 1-65535
sidewal-host:9464 numeric IPv4
0.0.0.256:9464 numeric IPv4
[::1]:9464 loopback
EOF
    expect_accepted "admin.listen [::]:9464" helm template sw "$chart" --set "config.admin.listen=[::]:9464"
    expect_accepted "admin.listen 0.0.0.0:65535" helm template sw "$chart" --set "config.admin.listen=0.0.0.0:65535"
    ;;
  rejects-paths)
    # Each of data_dir, the socket directory, the config mount and the key
    # mount is its own volume in the sidecar.
    expect_rejected "data_dir = the socket directory" "Kubernetes refuses two volumes at one mountPath" \
      helm template sw "$chart" --set config.data_dir=/run/sidewal
    expect_rejected "socket directory inside data_dir" "lies inside config.data_dir" \
      helm template sw "$chart" --set config.socket.path=/var/lib/sidewal/run/sidewal.sock
    expect_rejected "data_dir inside the socket directory" "config.data_dir (/run/sidewal/data) lies inside" \
      helm template sw "$chart" --set config.data_dir=/run/sidewal/data
    expect_rejected "data_dir = the config mount" "the config mount" \
      helm template sw "$chart" --set config.data_dir=/etc/sidewal/config
    expect_rejected "socket in /" "lies inside" \
      helm template sw "$chart" --set config.socket.path=/sidewal.sock
    expect_rejected "key mount = data_dir" "encryption.mountPath" \
      helm template sw "$chart" -f "$chart/ci/encryption-values.yaml" --set encryption.mountPath=/var/lib/sidewal
    long=/run/$(printf 'd%.0s' {1..100})/s.sock
    expect_rejected "socket path of ${#long} bytes" "config.socket.path" \
      helm template sw "$chart" --set "config.socket.path=$long"
    expect_accepted "data_dir /var/lib/sidewal-data beside socket /var/lib/sidewal-run" \
      helm template sw "$chart" --set config.data_dir=/var/lib/sidewal-data,config.socket.path=/var/lib/sidewal-run/s.sock
    ;;
  rejects-scrape-timeout)
    # Prometheus refuses a scrape timeout longer than the interval.
    expect_rejected "scrapeTimeout 20s > interval 15s" "scrapeTimeout 20s is longer than" \
      helm template sw "$chart" --set metrics.serviceMonitor.enabled=true,metrics.serviceMonitor.scrapeTimeout=20s
    expect_rejected "scrapeTimeout 2m > interval 60s" "scrapeTimeout" \
      helm template sw "$chart" --set metrics.serviceMonitor.enabled=true,metrics.serviceMonitor.interval=60s,metrics.serviceMonitor.scrapeTimeout=2m
    expect_accepted "scrapeTimeout = interval" \
      helm template sw "$chart" --set metrics.serviceMonitor.enabled=true,metrics.serviceMonitor.scrapeTimeout=15s
    expect_accepted "scrapeTimeout 900ms < interval 1s" \
      helm template sw "$chart" --set metrics.serviceMonitor.enabled=true,metrics.serviceMonitor.interval=1s,metrics.serviceMonitor.scrapeTimeout=900ms
    # With the ServiceMonitor off, its timings are not checked.
    expect_accepted "scrapeTimeout > interval without a ServiceMonitor" \
      helm template sw "$chart" --set metrics.serviceMonitor.scrapeTimeout=20s
    ;;
  daemon-accepts-config)
    # The ConfigMap's sidewal.yaml must load in the real daemon: same keys,
    # types and cross-key constraints (the chart mirrors config/sidewal.yaml).
    sidewald=${2:?build bin dir}/sidewald
    [[ -x $sidewald ]] || { echo "FAIL: $sidewald not built"; exit 1; }
    documented_config_values "$tmp/documented-values.yaml"
    # encryption included: sidewald accepts encryption: {enabled, current_key_id,
    # keys: [{id, file}]} (--check-config does not read the key files).
    for variant in default statefulset statefulset-ha encryption archive servicemonitor monitoring documented; do
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
    # ... and the pod's config check container runs exactly this command on
    # the file the ConfigMap mounts (check_manifests.py: same --config path).
    helm template sw "$chart" -f "$chart/ci/statefulset-values.yaml" --show-only templates/statefulset.yaml >"$tmp/sts.yaml"
    "$py" - "$tmp/sts.yaml" <<'EOF'
import sys, yaml
spec = yaml.safe_load(open(sys.argv[1]))["spec"]["template"]["spec"]
first = spec["initContainers"][0]
assert first["command"][:2] == ["/usr/local/bin/sidewald", "--check-config"], first["command"]
EOF
    # A value the schema lets through only as a string, refused by the chart
    # and by sidewald alike (limits-match-daemon compares many more).
    expect_rejected "segment_bytes 3MiB (chart)" "config.wal.segment_bytes" \
      helm template sw "$chart" --set config.wal.segment_bytes=3MiB
    sed 's/^  segment_bytes: .*/  segment_bytes: 3MiB/' "$tmp/default.sidewal.yaml" >"$tmp/odd.yaml"
    grep -q "segment_bytes: 3MiB" "$tmp/odd.yaml" || { echo "FAIL: could not set segment_bytes in the rendered config"; exit 1; }
    if "$sidewald" --check-config --config "$tmp/odd.yaml" 2>/dev/null; then
      echo "FAIL: sidewald accepted a segment size below 4 x max_record_bytes"; exit 1
    fi
    ;;
  limits-match-daemon)
    # The chart's size checks mirror sidewald's (finalize_config): for each
    # setting, helm template and `sidewald --check-config` on the same config
    # must agree, refusals and the boundaries that pass alike. (The one check
    # sidewald makes only when it opens the log, encrypted records above
    # 16 MiB - 16, is in rejects-sizes.)
    sidewald=${2:?build bin dir}/sidewald
    [[ -x $sidewald ]] || { echo "FAIL: $sidewald not built"; exit 1; }
    helm template sw "$chart" --show-only templates/configmap.yaml >"$tmp/cm.yaml"
    configmap_yaml "$tmp/cm.yaml" "$tmp/base.yaml"
    n=0
    while IFS= read -r overrides; do
      [[ -z $overrides || $overrides == \#* ]] && continue
      n=$((n + 1))
      # The same overrides as chart values and merged into the rendered config.
      "$py" - "$overrides" "$tmp/base.yaml" "$tmp/values-$n.yaml" "$tmp/config-$n.yaml" <<'EOF'
import json, sys, yaml
over = json.loads(sys.argv[1])
cfg = yaml.safe_load(open(sys.argv[2]))
for section, keys in over.items():
    cfg.setdefault(section, {}).update(keys)
yaml.safe_dump({"config": over}, open(sys.argv[3], "w"))
yaml.safe_dump(cfg, open(sys.argv[4], "w"))
EOF
      chart_ok=yes daemon_ok=yes
      helm template sw "$chart" -f "$tmp/values-$n.yaml" >/dev/null 2>"$tmp/chart-$n.err" || chart_ok=no
      "$sidewald" --check-config --config "$tmp/config-$n.yaml" 2>"$tmp/daemon-$n.err" || daemon_ok=no
      if [[ $chart_ok != "$daemon_ok" ]]; then
        cat "$tmp/chart-$n.err" "$tmp/daemon-$n.err"
        echo "FAIL: $overrides: the chart says $chart_ok, sidewald says $daemon_ok"; exit 1
      fi
      echo "$overrides: both $([[ $chart_ok == yes ]] && echo accept || echo refuse)"
    done <<'EOF'
# frame vs record: the frame carries the record and its 12-byte header
{"limits": {"max_frame_bytes": 1048588}}
{"limits": {"max_frame_bytes": 1048587}}
{"limits": {"max_frame_bytes": "1MiB"}}
{"wal": {"max_record_bytes": "2MiB"}, "limits": {"max_frame_bytes": "2MiB"}}
{"wal": {"max_record_bytes": "2MiB"}, "limits": {"max_frame_bytes": 2097164}}
{"wal": {"max_record_bytes": "512 KiB"}, "limits": {"max_frame_bytes": 524300}}
# segment vs record: at least four of the largest records
{"wal": {"segment_bytes": "4MiB"}}
{"wal": {"segment_bytes": 4190208}}
{"wal": {"segment_bytes": "3MiB"}}
{"wal": {"max_record_bytes": "16MiB", "segment_bytes": "64MiB"}, "limits": {"max_frame_bytes": "17MiB"}}
{"wal": {"max_record_bytes": "16MiB", "segment_bytes": "63MiB"}, "limits": {"max_frame_bytes": "17MiB"}}
# ranges and alignment
{"wal": {"segment_bytes": "1048577"}}
{"wal": {"segment_bytes": "1020KiB"}}
{"wal": {"segment_bytes": "1MiB", "max_record_bytes": "256KiB"}}
{"wal": {"segment_bytes": "64GiB"}}
{"wal": {"segment_bytes": "65GiB"}}
{"wal": {"max_record_bytes": "17MiB"}}
{"wal": {"max_record_bytes": "1B"}}
{"limits": {"max_frame_bytes": "1GiB"}}
{"limits": {"max_frame_bytes": "2GiB"}}
# in-flight limits: reserve <= per connection <= total
{"limits": {"inflight_reserve_per_connection": "16MiB"}}
{"limits": {"inflight_reserve_per_connection": "17MiB"}}
{"limits": {"max_inflight_bytes_total": "16MiB"}}
{"limits": {"max_inflight_bytes_total": "15MiB"}}
{"limits": {"max_inflight_bytes_per_connection": "4KiB", "inflight_reserve_per_connection": 0}}
{"limits": {"max_inflight_bytes_per_connection": "2KiB"}}
EOF
    ((n >= 20)) || { echo "FAIL: only $n settings compared"; exit 1; }
    ;;
  pod-scripts)
    # The scripts the chart puts into pods, run here against a live sidewald:
    # the helm test pod's (bash /dev/tcp and getent, as in the image) and the
    # ordinary sidecar's preStop hook.
    bin=${2:?build bin dir}
    # shellcheck source=lib.sh
    source "$here/lib.sh"
    PY=$py
    for b in sidewald sidewal; do [[ -x $bin/$b ]] || { echo "FAIL: $bin/$b not built"; exit 1; }; done
    port=$(free_port)
    mkdir -p "$tmp/d/data"
    sock=$tmp/d/sidewal.sock
    cat >"$tmp/d/sidewal.yaml" <<EOF
data_dir: $tmp/d/data
socket:
  path: $sock
admin:
  listen: "127.0.0.1:$port"
wal:
  segment_bytes: 4MiB
shutdown:
  drain_timeout_seconds: 5
EOF
    pids=()
    trap 'for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT
    "$bin/sidewald" --config "$tmp/d/sidewal.yaml" >"$tmp/d/daemon.log" 2>&1 &
    daemon=$!; pids+=("$daemon")
    wait_until 60 "/readyz answers 200" http_ok "http://127.0.0.1:$port/readyz"

    # The scripts as the chart renders them for this admin port.
    helm template sw "$chart" -f "$chart/ci/statefulset-ha-values.yaml" --set "config.admin.listen=0.0.0.0:$port" \
      --set sidecar.preStop.minWaitSeconds=1,sidecar.preStop.maxWaitSeconds=20 >"$tmp/r.yaml"
    "$py" - "$tmp/r.yaml" "$tmp" <<'EOF'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
pod = next(d for d in docs if d["kind"] == "Pod")
(c,) = pod["spec"]["containers"]
open(sys.argv[2] + "/test.sh", "w").write(c["command"][-1])
with open(sys.argv[2] + "/test.env", "w") as f:
    for e in c["env"]:
        f.write(f"{e['name']}={e['value']}\n")
sts = next(d for d in docs if d["kind"] == "StatefulSet")
sw = next(c for c in sts["spec"]["template"]["spec"]["containers"] if c["name"] == "sidewal")
open(sys.argv[2] + "/prestop.sh", "w").write(sw["lifecycle"]["preStop"]["exec"]["command"][-1])
EOF
    grep -qx "PORT=$port" "$tmp/test.env" || { cat "$tmp/test.env"; echo "FAIL: the test pod's PORT is not the admin port"; exit 1; }
    grep -qx "EXPECT_APPENDS=1" "$tmp/test.env" || { echo "FAIL: the test pod does not expect the stand-in's appends"; exit 1; }
    run_test() {  # SERVICE, EXPECT_APPENDS, APPEND_WAIT_SECONDS -> the script's status; output in $tmp/test.out
      env -i PATH="$PATH" SERVICE="$1" PORT="$port" EXPECT_APPENDS="$2" APPEND_WAIT_SECONDS="$3" \
        bash "$tmp/test.sh" >"$tmp/test.out" 2>&1
    }

    # Healthy and ready; without an appender the counter stands still.
    run_test 127.0.0.1 0 0 || { cat "$tmp/test.out"; echo "FAIL: helm test script fails on a ready sidewald"; exit 1; }
    grep -q "/readyz: {\"ready\":true" "$tmp/test.out" || { cat "$tmp/test.out"; echo "FAIL: no /readyz answer in the test output"; exit 1; }
    if run_test 127.0.0.1 1 2; then cat "$tmp/test.out"; echo "FAIL: helm test passed although nothing appends"; exit 1; fi
    grep -q "stayed at" "$tmp/test.out" || { cat "$tmp/test.out"; echo "FAIL: no 'stayed at' in the failure"; exit 1; }
    # With a stand-in appending over the socket, the count grows.
    ( while true; do "$bin/sidewal" --socket "$sock" append "stand-in" >/dev/null 2>&1 || true; sleep 0.2; done ) &
    appender=$!; pids+=("$appender")
    run_test 127.0.0.1 1 20 || { cat "$tmp/test.out"; echo "FAIL: helm test script fails with appends going on"; exit 1; }
    grep -q "appends durable over the socket" "$tmp/test.out" || { cat "$tmp/test.out"; echo "FAIL: appends not seen"; exit 1; }
    kill -KILL "$appender"; wait "$appender" 2>/dev/null || true
    cat "$tmp/test.out"
    # Nothing behind the name, or nothing answering: fail.
    if run_test no-such-service.invalid 0 0; then echo "FAIL: helm test passed without pods"; exit 1; fi
    grep -q "resolves to no pod" "$tmp/test.out" || { cat "$tmp/test.out"; echo "FAIL: unclear message without pods"; exit 1; }
    dead=$(free_port)
    if env -i PATH="$PATH" SERVICE=127.0.0.1 PORT="$dead" EXPECT_APPENDS=0 APPEND_WAIT_SECONDS=0 \
        bash "$tmp/test.sh" >"$tmp/test.out" 2>&1; then
      echo "FAIL: helm test passed with nothing listening"; exit 1
    fi
    echo "helm test script: passes on a ready, appending sidewald; fails when appends stall, without pods, without an answer"

    # preStop: waits while a client (the database) is connected, ends soon
    # after it lets go; without a client it ends after minWaitSeconds.
    metric_is() { curl -fsS --max-time 2 "http://127.0.0.1:$port/metrics" | grep -qx "$1 $2"; }
    # A database's persistent connection: open, idle, closed when it exits.
    hold_connection() {
      exec "$py" -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); time.sleep(600)' "$sock"
    }
    hold_connection &
    client=$!; pids+=("$client")
    wait_until 10 "the client is connected" metric_is sidewal_connections 1
    start=$SECONDS
    bash "$tmp/prestop.sh" &
    hook=$!; pids+=("$hook")
    sleep 4   # the hook must still be waiting: a client is connected
    kill -0 "$hook" 2>/dev/null || { echo "FAIL: preStop ended while the database was still connected"; exit 1; }
    kill -TERM "$client"; wait "$client" 2>/dev/null || true
    wait_until 10 "preStop ends after the client has gone" bash -c "! kill -0 $hook 2>/dev/null"
    wait "$hook" || true
    took=$((SECONDS - start))
    ((took < 15)) || { echo "FAIL: preStop took ${took}s after the client left"; exit 1; }
    echo "preStop waited while connected and ended ${took}s after start, once the client left"
    # A client that never leaves: the hook gives up at maxWaitSeconds.
    sed 's/ max=20$/ max=3/' "$tmp/prestop.sh" >"$tmp/prestop3.sh"
    grep -q " max=3$" "$tmp/prestop3.sh" || { echo "FAIL: no max= in the preStop script"; exit 1; }
    hold_connection &
    client=$!; pids+=("$client")
    wait_until 10 "the client is connected" metric_is sidewal_connections 1
    start=$SECONDS
    bash "$tmp/prestop3.sh" || true
    took=$((SECONDS - start))
    ((took >= 3 && took < 7)) || { echo "FAIL: preStop with a client that stays took ${took}s (maxWaitSeconds=3)"; exit 1; }
    kill -TERM "$client"; wait "$client" 2>/dev/null || true
    wait_until 10 "the client has gone" metric_is sidewal_connections 0
    echo "preStop with a client that stays: ${took}s (maxWaitSeconds=3)"
    start=$SECONDS
    bash "$tmp/prestop.sh" || { echo "FAIL: preStop failed without clients"; exit 1; }
    took=$((SECONDS - start))
    ((took >= 1 && took < 5)) || { echo "FAIL: preStop without clients took ${took}s (want minWaitSeconds=1..4)"; exit 1; }
    echo "preStop without clients: ${took}s"
    # It never outlasts maxWaitSeconds, and returns at once when sidewald is gone.
    kill -TERM "$daemon"; wait "$daemon" || { cat "$tmp/d/daemon.log"; echo "FAIL: sidewald exited non-zero after SIGTERM"; exit 1; }
    start=$SECONDS
    bash "$tmp/prestop.sh" || true
    took=$((SECONDS - start))
    ((took < 3)) || { echo "FAIL: preStop waited ${took}s for a sidewald that is gone"; exit 1; }
    echo "preStop with sidewald gone: ${took}s"
    ;;
  *) echo "unknown case $case_name"; exit 2 ;;
esac
echo "ok: $case_name"
