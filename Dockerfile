# sidewal container image: sidewald (the daemon, the entrypoint) and sidewal
# (the CLI). Build:   podman build -t sidewal:0.1.0 .     (or docker build)
#
# Stage 1 builds with the project's own scripts, the same ones the test
# command runs (scripts/install-deps.sh, scripts/build.sh), on Debian 12.
# Stage 2 is Debian 12 slim with only the shared libraries the binaries load,
# running as the non-root user 10001.

FROM debian:bookworm-slim AS build
WORKDIR /src
COPY . .
RUN scripts/install-deps.sh --build \
 && scripts/build.sh release \
 && strip --strip-debug build/bin/sidewald build/bin/sidewal

FROM debian:bookworm-slim
# Runtime libraries of sidewald and sidewal (ldd build/bin/sidewald): io_uring,
# ISA-L CRC, yaml-cpp, prometheus-cpp, spdlog/fmt, OpenSSL's libcrypto.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      liburing2 libisal2 libyaml-cpp0.7 libprometheus-cpp-core1.0 \
      libspdlog1.10 libfmt9 libssl3 \
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

USER 10001:10001
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/sidewald", "--config", "/etc/sidewal/sidewal.yaml"]
