# troupe host image: `docker build -t troupe .`
#
# Without registry access, run deploy/make-base-image first: it creates
# debian:bookworm-slim locally. Layers are ordered so that editing sources
# reuses the cached package layers of both stages.
ARG BASE_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS build
# Lets tests/containers/run prune superseded builds without touching the cache.
LABEL org.troupe.image=troupe-build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV DEBIAN_FRONTEND=noninteractive

# scripts/deps is the one list of build packages, shared with bare-metal builds.
COPY scripts/deps /usr/local/bin/troupe-deps
RUN troupe-deps build \
 && apt-get install -y -qq --no-install-recommends catch2 >/dev/null \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY CMakeLists.txt ./
COPY cmake cmake
COPY proto proto
COPY cli cli
COPY runtime runtime
COPY services services
COPY host host
COPY bench bench
COPY examples examples
COPY tests tests

# Only what the image ships and what gates it; benchmarks and integration
# tests need a running host and are run elsewhere.
ARG JOBS=
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null \
 && ninja -C build -j"${JOBS:-$(nproc)}" troupe troupe_unit_tests

# Separate from the build so a failing test does not discard the compiled
# tree. Tests that need PostgreSQL skip themselves: TROUPE_TEST_PG_DSN is unset.
RUN timeout 900 build/tests/troupe_unit_tests

# The runtime packages are derived from what the binary links, so a new
# library dependency cannot be forgotten in the runtime stage.
RUN ldd build/host/troupe | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u \
  | while read -r lib; do \
      dpkg -S "$lib" 2>/dev/null || dpkg -S "/usr$lib" 2>/dev/null \
        || dpkg -S "$(readlink -f "$lib")" 2>/dev/null \
        || dpkg -S "/usr$(readlink -f "$lib")" 2>/dev/null \
        || { echo "no package owns $lib" >&2; exit 1; }; \
    done | cut -d: -f1 | sort -u >build/runtime-packages \
 && cat build/runtime-packages

# ---------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS runtime
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

COPY --from=build /src/build/runtime-packages /tmp/runtime-packages
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive xargs -a /tmp/runtime-packages \
      apt-get install -y -qq --no-install-recommends >/dev/null \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages /var/log/apt/* /var/log/dpkg.log

RUN useradd --system --uid 10001 --user-group --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin troupe \
 && install -d -o troupe -g troupe -m 0750 /data

COPY --from=build /src/build/host/troupe /usr/local/bin/troupe
# Fails the image build, not the first deployment, if a library is missing.
RUN troupe version

LABEL org.troupe.image=troupe \
      org.opencontainers.image.title="troupe" \
      org.opencontainers.image.description="actor-style microservice host: CAF actors served over gRPC"

USER troupe
WORKDIR /data
VOLUME /data
EXPOSE 50051 9464
# /metrics on every interface of the container, for a Prometheus on the same
# network; publish 9464 only where scrapers outside need it.
ENV TROUPE_SERVER_LISTEN=0.0.0.0:50051 \
    TROUPE_METRICS_LISTEN=0.0.0.0:9464 \
    TROUPE_KV_PATH=/data/kv.db

# The probe follows the port of TROUPE_SERVER_LISTEN if that is overridden.
HEALTHCHECK --interval=5s --timeout=3s --start-period=20s --retries=3 \
  CMD troupe health --deadline-ms 2000 --target "127.0.0.1:${TROUPE_SERVER_LISTEN##*:}" || exit 1

# Exec form: troupe is PID 1 and receives the SIGTERM of `docker stop`
# itself, so it drains calls in flight before exiting.
STOPSIGNAL SIGTERM
ENTRYPOINT ["troupe", "serve"]
