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
  libboost-dev libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev zlib1g-dev libcurl4-openssl-dev libtinyxml2-dev
)
test_pkgs=(
  clang libclang-rt-14-dev python3 curl unzip util-linux procps
  fio prometheus python3-yaml
  cargo  # the Rust client's tests (clients/rust, tests/rust_client)
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

# s3rver, the S3-compatible server the archive tests start on loopback
# (tests/support/s3rver_fixture.*): the exact versions in
# tools/s3rver/package-lock.json, installed by `npm ci` into
# tools/s3rver/node_modules (git-ignored), again only when the lock file
# changed. Where no Node.js is installed, Debian's nodejs and npm are.
if [[ "${1:-}" != "--build" ]]; then
  s3rver_dir="$(cd "$(dirname "$0")/.." && pwd)/tools/s3rver"
  if [[ ! -f "$s3rver_dir/node_modules/.package-lock.json" ||
        "$s3rver_dir/package-lock.json" -nt "$s3rver_dir/node_modules/.package-lock.json" ]]; then
    if ! command -v npm >/dev/null 2>&1; then
      SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
      $SUDO apt-get update -qq || true
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm
    fi
    echo "install-deps: npm ci in tools/s3rver"
    (cd "$s3rver_dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
