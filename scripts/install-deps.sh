#!/usr/bin/env bash
# Installs every Debian package the build and the tests need, and nothing when
# they are already present. One script, used by the README's commands, CI and
# the Dockerfile's build stage, so all three build the same way.
#
#   scripts/install-deps.sh            build + test dependencies
#   scripts/install-deps.sh --build    only what compiling needs (Dockerfile)
set -euo pipefail

build_pkgs=(
  build-essential cmake pkg-config ninja-build git
  liburing-dev libssl-dev libisal-dev libyaml-cpp-dev prometheus-cpp-dev
  libboost-dev libcli11-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev zlib1g-dev libcurl4-openssl-dev
)
test_pkgs=(
  clang libclang-rt-14-dev python3 curl unzip util-linux procps
  fio prometheus python3-yaml
)

want=("${build_pkgs[@]}")
if [[ "${1:-}" != "--build" ]]; then want+=("${test_pkgs[@]}"); fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq || true
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm comes with the machine's Node.js (not Debian's, which conflicts with it);
# the helm install below uses it only when helm is missing.
if [[ "${1:-}" != "--build" ]]; then "$(dirname "$0")/install-helm.sh"; fi
