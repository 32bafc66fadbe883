#!/usr/bin/env bash
# Refreshes what the Helm chart derives from elsewhere:
#   - helm/sidewal/files/{alerts.yaml,sidewal.json}, copies of
#     dashboards/{alerts.yaml,sidewal.json}: Helm reads no file outside the
#     chart directory, and copies (not symlinks) survive `helm package`,
#     `helm dependency build` and copying the chart elsewhere;
#   - the values table in helm/sidewal/README.md, made from the "# --"
#     comments and defaults in helm/sidewal/values.yaml.
# The test command fails while any of them is stale
# (tests/deploy/helm_chart_test.sh chart-files-in-sync).
#
#   scripts/sync-chart-files.sh            refresh, say what changed
#   scripts/sync-chart-files.sh --check    change nothing; exit 1 when something is stale
set -euo pipefail
cd "$(dirname "$0")/.."
check=0
[[ ${1:-} == --check ]] && check=1
stale=0
for f in alerts.yaml sidewal.json; do
  src=dashboards/$f dst=helm/sidewal/files/$f
  [[ -f $src ]] || { echo "sync-chart-files: $src is missing" >&2; exit 1; }
  if cmp -s "$src" "$dst"; then
    echo "$dst: up to date"
  elif ((check)); then
    echo "$dst differs from $src: run scripts/sync-chart-files.sh" >&2
    stale=1
  else
    mkdir -p "$(dirname "$dst")"
    cp "$src" "$dst"
    echo "$dst: copied from $src"
  fi
done

# The README's values table, between its two marker lines.
py=""
for p in python3 /usr/bin/python3; do
  if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import yaml' 2>/dev/null; then py=$p; break; fi
done
[[ -n $py ]] || { echo "sync-chart-files: needs a python3 with the yaml module" >&2; exit 1; }
readme=helm/sidewal/README.md
"$py" - helm/sidewal/values.yaml "$readme" "$check" <<'PYEOF' || stale=1
import json, re, sys, yaml
values_path, readme_path, check = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
lines = open(values_path).read().splitlines()
values = yaml.safe_load(open(values_path))
rows, stack, comment = [], [], []
for line in lines:
    st = line.strip()
    if st.startswith("# --"):
        comment = [st[4:].strip()]
        continue
    if st.startswith("#"):
        if comment:
            comment.append(st[1:].strip())
        continue
    m = re.match(r"^(\s*)([A-Za-z_][A-Za-z0-9_]*):(\s.*)?$", line)
    if not m:
        comment = []
        continue
    indent = len(m.group(1))
    while stack and stack[-1][0] >= indent:
        stack.pop()
    stack.append((indent, m.group(2)))
    if comment:
        v = values
        for _, k in stack:
            v = v[k]
        default = json.dumps(v, separators=(", ", ": "))
        if len(default) > 60:
            default = "see values.yaml"
        text = " ".join(comment).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
        rows.append(f"| `{'.'.join(k for _, k in stack)}` | `{default}` | {text} |")
    comment = []
table = "\n".join(["| value | default | meaning |", "|---|---|---|"] + rows)
begin, end = "<!-- values table: scripts/sync-chart-files.sh -->", "<!-- end of values table -->"
readme = open(readme_path).read()
if begin not in readme or end not in readme:
    sys.exit(f"{readme_path}: no '{begin}' ... '{end}' block")
head, rest = readme.split(begin, 1)
_, tail = rest.split(end, 1)
new = f"{head}{begin}\n{table}\n{end}{tail}"
if new == readme:
    print(f"{readme_path}: values table up to date")
elif check:
    print(f"{readme_path}: values table differs from values.yaml: run scripts/sync-chart-files.sh", file=sys.stderr)
    sys.exit(1)
else:
    open(readme_path, "w").write(new)
    print(f"{readme_path}: values table rewritten from values.yaml")
PYEOF
exit "$stale"
