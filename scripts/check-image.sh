#!/usr/bin/env bash
# Builds the container image from the Dockerfile and runs the daemon from it,
# on machines where containers cannot be started (no registry, `podman run`
# fails): the manual check of the image, following ../shared/CONTAINERS.md.
#
#   scripts/check-image.sh [TAG]        default TAG=sidewal:test; run as root
#
# The image is built with VERSION (the chart's appVersion) and REVISION (git
# HEAD) as build arguments; their OCI labels are checked in step 3.
#
# 1. Makes debian:bookworm-slim from Debian's own packages (debootstrap) when
#    podman does not have it (the Dockerfile keeps its ordinary FROM).
# 2. podman build --pull=never --isolation=chroot.
# 3. Mounts the image's filesystem and runs /usr/local/bin/sidewald from it
#    with chroot as the image's user 10001, with a data directory and a socket
#    directory bind-mounted where the image's config expects them; waits for
#    /readyz, appends with the image's `sidewal` CLI, reads /metrics, and
#    stops the daemon with SIGTERM (exit 0 expected).
# Not part of the test command: it installs podman and debootstrap and builds
# the whole project once more inside the image.
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-sidewal:test}
[[ $(id -u) -eq 0 ]] || { echo "check-image: run as root (chroot, mount)" >&2; exit 1; }

need=()
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
if ((${#need[@]})); then
  apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

work=$(mktemp -d)
root="" pid="" mounted=()
cleanup() {
  if [[ -n $pid ]]; then kill -KILL "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount "${mounted[$i]}" 2>/dev/null || true; done
  [[ -n $root ]] && podman image unmount "$tag" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

wait_until() {  # seconds, description, command...: polls the condition itself
  local secs=$1 what=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || { echo "check-image: timed out waiting until $what" >&2; return 1; }
    sleep 0.1
  done
}

echo "== 1. base image"
if ! podman image exists docker.io/library/debian:bookworm-slim; then
  mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
  [[ -n $mirror ]] || mirror=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list)
  debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log"; exit 1; }
  tar -C "$work/rootfs" -c . | podman import - docker.io/library/debian:bookworm-slim >/dev/null
  rm -rf "$work/rootfs"
fi

echo "== 2. podman build -t $tag"
start=$SECONDS
version=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' helm/sidewal/Chart.yaml)
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
podman build --pull=never --isolation=chroot -t "$tag" \
  --build-arg "VERSION=$version" --build-arg "REVISION=$revision" . >"$work/build.log" 2>&1 \
  || { tail -40 "$work/build.log"; echo "check-image: podman build failed" >&2; exit 1; }
echo "built in $((SECONDS - start)) s; $(podman image inspect "$tag" --format '{{.Size}}' | numfmt --to=iec) image"

echo "== 3. image metadata"
user=$(podman image inspect "$tag" --format '{{.Config.User}}')
entry=$(podman image inspect "$tag" --format '{{json .Config.Entrypoint}}')
[[ $user == 10001:10001 ]] || { echo "check-image: image user is '$user', want 10001:10001" >&2; exit 1; }
[[ $entry == '["/usr/local/bin/sidewald","--config","/etc/sidewal/sidewal.yaml"]' ]] \
  || { echo "check-image: entrypoint is $entry" >&2; exit 1; }
echo "user $user, entrypoint $entry"
label() { podman image inspect "$tag" --format "{{index .Config.Labels \"org.opencontainers.image.$1\"}}"; }
[[ $(label version) == "$version" ]] || { echo "check-image: version label '$(label version)', want $version" >&2; exit 1; }
[[ $(label revision) == "$revision" ]] || { echo "check-image: revision label '$(label revision)', want $revision" >&2; exit 1; }
[[ $(label title) == sidewal ]] || { echo "check-image: title label '$(label title)'" >&2; exit 1; }
echo "labels: title $(label title), version $(label version), revision $(label revision), base $(label base.name)"

echo "== 4. run sidewald from the image as uid 10001"
root=$(podman image mount "$tag")
for f in /usr/bin/g++ /usr/bin/cmake /usr/include/liburing.h; do
  [[ ! -e $root$f ]] || { echo "check-image: build tool $f is in the runtime image" >&2; exit 1; }
done
mkdir -p "$work/data" "$work/run"
chown 10001:10001 "$work/data" "$work/run"
bind() { mount --bind "$1" "$2"; mounted+=("$2"); }
bind "$work/data" "$root/var/lib/sidewal"
bind "$work/run" "$root/run/sidewal"
mount -t proc proc "$root/proc"; mounted+=("$root/proc")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# The image's own config, with only the admin port moved off 9464 (which may
# be taken on this machine); --check-config proves the file itself loads.
chroot --userspec=10001:10001 "$root" /usr/local/bin/sidewald --check-config --config /etc/sidewal/sidewal.yaml
chroot --userspec=10001:10001 "$root" /usr/local/bin/sidewald --config /etc/sidewal/sidewal.yaml \
  --admin "127.0.0.1:$port" >"$work/daemon.log" 2>&1 &
pid=$!
if ! wait_until 60 "/readyz answers 200" curl -fsS "http://127.0.0.1:$port/readyz"; then
  cat "$work/daemon.log"; exit 1
fi
curl -fsS "http://127.0.0.1:$port/readyz"
chroot --userspec=10001:10001 "$root" /usr/local/bin/sidewal --socket /run/sidewal/sidewal.sock \
  append "from the image" "second record"
records=$(curl -fsS "http://127.0.0.1:$port/metrics" | awk '$1 == "sidewal_append_records_total" {print $2}')
[[ $records == 2 ]] || { echo "check-image: sidewal_append_records_total = '$records', want 2" >&2; exit 1; }
stat -c 'socket %n owned by %u:%g mode %a' "$work/run/sidewal.sock"
ls -ln "$work/data" | head -n 5
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
pid=""
((rc == 0)) || { cat "$work/daemon.log"; echo "check-image: sidewald exited $rc after SIGTERM" >&2; exit 1; }
echo "check-image: OK ($tag builds; sidewald runs from it as 10001, ready, 2 appends, clean SIGTERM)"
