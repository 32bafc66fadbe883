# sidewal container image: sidewald (the daemon, the entrypoint) and sidewal
# (the CLI). Build:
#   podman build -t sidewal:0.1.0 --build-arg VERSION=0.1.0 \
#     --build-arg REVISION=$(git rev-parse HEAD) .          (or docker build)
#
# Stage 1 builds with the project's own scripts, the same ones the test
# command runs (scripts/install-deps.sh, scripts/build.sh), on Debian 12.
# Stage 2 is Debian 12 slim with only the shared libraries the binaries load,
# running as the non-root user 10001.
#
# BASE_IMAGE pins both stages to one base, e.g. by digest (docs/operations.md,
# "Pinning the base image"):
#   --build-arg BASE_IMAGE=debian:bookworm-slim@sha256:<digest>
# It must stay Debian 12 (bookworm): the runtime stage installs bookworm's
# library packages.
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS build
WORKDIR /src
# The build dependencies first, from the install script alone (the compilers,
# the libraries, and the header-only Boost, CLI11 and nlohmann-json): this layer
# is rebuilt only when scripts/install-deps.sh changes, not on every source edit.
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN scripts/install-deps.sh --build
COPY . .
RUN scripts/build.sh release \
 && strip --strip-debug build/bin/sidewald build/bin/sidewal

FROM ${BASE_IMAGE}
# Runtime libraries of sidewald and sidewal (ldd build/bin/sidewald): io_uring,
# ISA-L CRC, yaml-cpp, prometheus-cpp, spdlog/fmt, OpenSSL's libcrypto; for
# the archive's S3 client, libcurl (OpenSSL flavour) and tinyxml2, with the
# CA certificates it verifies https endpoints against.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      liburing2 libisal2 libyaml-cpp0.7 libprometheus-cpp-core1.0 \
      libspdlog1.10 libfmt9 libssl3 libcurl4 libtinyxml2-9 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# The daemon's user and the directories it writes: the log's volume and the
# socket directory (both replaced by volumes in Kubernetes).
RUN groupadd --system --gid 10001 sidewal \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/sidewal \
      --no-create-home --shell /usr/sbin/nologin sidewal \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/sidewal \
 && install -d -o 10001 -g 10001 -m 0770 /run/sidewal \
 && install -d -m 0755 /etc/sidewal /etc/sidewal/config /etc/sidewal/keys
COPY --from=build /src/build/bin/sidewald /src/build/bin/sidewal /usr/local/bin/
COPY config/container.yaml /etc/sidewal/sidewal.yaml
# Fail the image build if a shared library the binaries need is missing.
RUN ! ldd /usr/local/bin/sidewald /usr/local/bin/sidewal | grep 'not found' \
 && /usr/local/bin/sidewald --check-config --config /etc/sidewal/sidewal.yaml

# OCI labels: the version the image is tagged with (the chart's appVersion by
# default), the commit it was built from, and where its source lives (the
# repository names no public URL or licence of its own: pass SOURCE_URL when
# you publish the image). Declared after the last RUN: a new REVISION must not
# invalidate the cached layers above.
ARG BASE_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE_URL=""
LABEL org.opencontainers.image.title="sidewal" \
      org.opencontainers.image.description="sidewald, a write-ahead-log sidecar that makes a database's commits durable over a Unix socket, and the sidewal CLI" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"
USER 10001:10001
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/sidewald", "--config", "/etc/sidewal/sidewal.yaml"]
