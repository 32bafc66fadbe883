#!/usr/bin/env bash
# Checks of the Dockerfile that need no container runtime (the image build
# itself is scripts/check-image.sh, a manual check):
#   - the build stage uses the project's own scripts, like the test command,
#     and installs its packages from scripts/install-deps.sh copied alone,
#     before `COPY . .`, so a source change reuses the cached package layer;
#   - both stages come FROM one BASE_IMAGE build argument (pinnable by digest);
#   - the image carries the org.opencontainers.image.* labels, its version
#     defaulting to the chart's appVersion, declared after the last RUN;
#   - the runtime stage installs the Debian package of every shared library
#     that the built sidewald and sidewal load (ldd + dpkg -S), and no -dev
#     package or compiler;
#   - non-root user 10001, the documented entrypoint, and the baked-in
#     config/container.yaml loads in the real sidewald with the container paths.
#
#   tests/deploy/dockerfile_test.sh BUILD_BIN_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
bin=${1:?usage: $0 BUILD_BIN_DIR}
df="$root/Dockerfile"
[[ -f $df ]] || fail "no Dockerfile"

has() { grep -qE -- "$1" "$df" || fail "Dockerfile lacks /$1/"; }
# One base for both stages, Debian 12 slim unless the build pins another.
has '^ARG BASE_IMAGE=debian:bookworm-slim$'
[[ $(grep -c '^FROM ' "$df") -eq 2 ]] || fail "expected two stages"
[[ $(grep -c '^FROM \${BASE_IMAGE}' "$df") -eq 2 ]] || fail 'expected both stages FROM ${BASE_IMAGE}'
awk '/^FROM /{exit} /^ARG BASE_IMAGE=/{found=1} END{exit !found}' "$df" || fail "ARG BASE_IMAGE comes after the first FROM"
has '^RUN scripts/install-deps.sh --build$'

# Layer order in the build stage: the dependency install is its own layer,
# made from scripts/install-deps.sh alone, before the sources are copied.
order=$(awk '/^FROM /{stage++} stage==1 && /^(COPY|RUN|ADD) /' "$df")
first_copy=$(grep -m1 -n '^COPY \. \.' <<<"$order" | cut -d: -f1 || true)
deps_copy=$(grep -m1 -n '^COPY scripts/install-deps.sh scripts/install-deps.sh$' <<<"$order" | cut -d: -f1 || true)
deps_run=$(grep -m1 -n '^RUN scripts/install-deps.sh --build$' <<<"$order" | cut -d: -f1 || true)
build_run=$(grep -m1 -n '^RUN scripts/build.sh release' <<<"$order" | cut -d: -f1 || true)
[[ -n $first_copy && -n $deps_copy && -n $deps_run && -n $build_run ]] \
  || fail "build stage lacks one of: COPY scripts/install-deps.sh, RUN scripts/install-deps.sh --build, COPY . ., RUN scripts/build.sh"
((deps_copy == 1 && deps_run == 2 && first_copy == 3 && build_run == 4)) \
  || fail "build stage order is not COPY install-deps.sh, RUN install-deps.sh --build, COPY . ., RUN build.sh: $(tr '\n' '|' <<<"$order")"
# ... which works because --build needs no other file of the repository:
# run it from a directory holding nothing else (every package is installed
# here, so it only checks; a stub apt-get proves it installs nothing).
alone=$(mktemp -d)
trap 'rm -rf "$alone"' EXIT
mkdir -p "$alone/scripts" "$alone/bin"
cp "$root/scripts/install-deps.sh" "$alone/scripts/"
printf '#!/bin/sh\necho "apt-get $*" >&2; exit 1\n' >"$alone/bin/apt-get"
chmod +x "$alone/bin/apt-get"
(cd "$alone" && PATH="$alone/bin:$PATH" scripts/install-deps.sh --build) \
  || fail "scripts/install-deps.sh --build does not run on its own (the Dockerfile copies it alone)"
echo "build stage: install-deps.sh --build layer before COPY . . (runs alone)"

# OCI labels, in the runtime stage after its last RUN (a new revision must
# not invalidate the cached package layers).
runtime_stage=$(awk '/^FROM /{stage++} stage==2' "$df")
for l in title description version revision source base.name; do
  grep -qE "org\.opencontainers\.image\.$l=\"[^\"]*\"" <<<"$runtime_stage" || fail "no org.opencontainers.image.$l label in the runtime stage"
done
grep -q 'org.opencontainers.image.version="${VERSION}"' <<<"$runtime_stage" || fail "image version label is not the VERSION build argument"
app_version=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$root/helm/sidewal/Chart.yaml")
grep -qx "ARG VERSION=$app_version" <<<"$runtime_stage" || fail "ARG VERSION's default is not the chart's appVersion $app_version"
last_run=$(grep -n '^RUN ' <<<"$runtime_stage" | tail -n1 | cut -d: -f1 || true)
first_label=$(grep -n '^LABEL ' <<<"$runtime_stage" | head -n1 | cut -d: -f1 || true)
first_varg=$(grep -nE '^ARG (VERSION|REVISION)' <<<"$runtime_stage" | head -n1 | cut -d: -f1 || true)
((first_label > last_run && first_varg > last_run)) || fail "the labels or their ARGs come before the runtime stage's last RUN"
echo "labels: title description version (default $app_version) revision source base.name, after the last RUN"
has 'scripts/build.sh release'
has '^USER 10001:10001$'
has '^ENTRYPOINT \["/usr/local/bin/sidewald", "--config", "/etc/sidewal/sidewal.yaml"\]$'
has '^COPY config/container.yaml /etc/sidewal/sidewal.yaml$'
has 'useradd .*--uid 10001'

# The runtime stage's package list: the apt-get install after the last FROM.
runtime=$(awk '/^FROM /{stage++} stage==2' "$df" \
  | sed -n '/apt-get install/,/&&/p' | tr ' \\' '\n\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' \
  | grep -vE '^(apt-get|install|rm|RUN)$' || true)
[[ -n $runtime ]] || fail "found no apt-get install in the runtime stage"
if grep -E -- '-dev$|^(g\+\+|gcc|cmake|build-essential)$' <<<"$runtime"; then
  fail "the runtime stage installs build packages"
fi

# Every shared library of both binaries comes from a package the runtime
# stage installs or one every Debian image has (essential/required: libc6,
# libgcc-s1, libstdc++6 — apt depends on it).
base_pkgs="libc6 libgcc-s1 libstdc++6"
# A library's own dependencies (libcurl4 -> libnghttp2-14, ...) come with it:
# apt installs the Depends/Pre-Depends closure of what the stage names.
runtime_closure=$(apt-cache depends --recurse --important $runtime 2>/dev/null \
  | grep -vE '^( |<)' | sort -u || true)
[[ -n $runtime_closure ]] || fail "apt-cache found no dependency closure for the runtime stage"
libs=()
for b in sidewald sidewal; do
  [[ -x $bin/$b ]] || fail "$bin/$b not built"
  while read -r lib; do libs+=("$b $lib"); done < <(ldd "$bin/$b" | awk '$3 ~ /^\// {print $3}')
done
((${#libs[@]} > 0)) || fail "ldd found no shared libraries"
# dpkg knows a file by the path its package ships; with merged /usr that may
# be the /lib or the /usr/lib spelling, so ask (once, it is slow) for all.
paths=()
for entry in "${libs[@]}"; do
  lib=${entry#* }
  paths+=("$lib" "$(readlink -f "$lib")" "${lib#/usr}" "/usr${lib#/usr}")
done
owners=$(dpkg -S "${paths[@]}" 2>/dev/null || true)
for entry in "${libs[@]}"; do
  b=${entry%% *} lib=${entry#* }
  pkg=""
  for path in "$lib" "$(readlink -f "$lib")" "${lib#/usr}" "/usr${lib#/usr}"; do
    pkg=$(awk -v p="$path" '{split($0, a, ": "); if (a[2] == p) {sub(/:.*/, "", a[1]); print a[1]; exit}}' <<<"$owners")
    [[ -n $pkg ]] && break
  done
  [[ -n $pkg ]] || fail "$b loads $lib, which no Debian package owns"
  if grep -qx "$pkg" <<<"$runtime"; then
    echo "$b: $(basename "$lib") <- $pkg (installed by the runtime stage)"
  elif grep -qx "$pkg" <<<"$runtime_closure"; then
    echo "$b: $(basename "$lib") <- $pkg (a Depends of a runtime-stage package: apt installs it)"
  elif [[ " $base_pkgs " == *" $pkg "* ]]; then
    echo "$b: $(basename "$lib") <- $pkg (in every Debian image)"
  else
    fail "$b loads $lib from package $pkg, which the Dockerfile's runtime stage does not install"
  fi
done

# The baked-in config loads in the real daemon and has the container layout.
"$bin/sidewald" --check-config --config "$root/config/container.yaml" \
  || fail "sidewald rejects config/container.yaml"
find_python
"$PY" - "$root/config/container.yaml" <<'EOF'
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
want = {"data_dir": "/var/lib/sidewal", "socket.path": "/run/sidewal/sidewal.sock", "admin.listen": "0.0.0.0:9464"}
got = {"data_dir": c["data_dir"], "socket.path": c["socket"]["path"], "admin.listen": c["admin"]["listen"]}
assert got == want, f"config/container.yaml: {got}, want {want}"
EOF
grep -q 'install -d -o 10001 -g 10001 -m 0750 /var/lib/sidewal' "$df" || fail "the image does not create /var/lib/sidewal for 10001"
grep -q 'install -d -o 10001 -g 10001 -m 0770 /run/sidewal' "$df" || fail "the image does not create /run/sidewal for 10001"
echo "ok: Dockerfile"
