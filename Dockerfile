# stocha-server image: a Debian bookworm build stage (the project's own install-deps.sh
# --build, a Release build of stocha-server and stocha-cli) and a runtime stage with only
# the shared libraries those two binaries load, the binaries and the default model.
#
#   docker build -t stocha .
#   docker run -p 50051:50051 stocha [server flags...]
#
# BASE_IMAGE replaces debian:bookworm where no registry is reachable (scripts/test-image.sh
# builds one with debootstrap and passes it here); nothing else changes.
#
# The CUDA variant (--device=cuda; docs/DEPLOY.md, "The CUDA image"):
#   docker build --build-arg STOCHA_CUDA=ON -t stocha-cuda .
# The build stage then installs nvcc and the CUDA runtime's headers (CUDA_VERSION) from
# NVIDIA's Debian 12 repository and builds with -DSTOCHA_CUDA=ON for CUDA_ARCHITECTURES.
# (with cuBLAS's development package). The runtime stage is the same Debian image plus
# cuBLAS's two shared libraries (libcublas.so.13, libcublasLt.so.13, ~570 MB) copied from
# the build stage into /usr/local/lib: stocha links the CUDA runtime statically, and the
# driver (libcuda.so.1) comes from the host through the NVIDIA container toolkit. With the
# default STOCHA_CUDA=OFF none of it runs and the image is the CPU one (runtime-OFF below
# is the CPU runtime stage, unchanged).
ARG BASE_IMAGE=debian:bookworm
ARG STOCHA_CUDA=OFF
ARG CUDA_VERSION=13.0
ARG CUDA_ARCHITECTURES=90

FROM ${BASE_IMAGE} AS build
ARG JOBS=2
ARG DEBIAN_FRONTEND=noninteractive
# The dependency layer first, so that a source change does not re-install packages.
COPY scripts/install-deps.sh /src/scripts/install-deps.sh
RUN bash /src/scripts/install-deps.sh --build && rm -rf /var/lib/apt/lists/*
ARG STOCHA_CUDA
ARG CUDA_VERSION
ARG CUDA_ARCHITECTURES
RUN if [ "$STOCHA_CUDA" = ON ]; then \
      apt-get update -qq \
   && apt-get install -y -qq --no-install-recommends ca-certificates curl \
   && curl -fsSLo /tmp/cuda-keyring.deb \
        https://developer.download.nvidia.com/compute/cuda/repos/debian12/x86_64/cuda-keyring_1.1-1_all.deb \
   && dpkg -i /tmp/cuda-keyring.deb && rm /tmp/cuda-keyring.deb \
   && apt-get update -qq \
   && v=$(echo "$CUDA_VERSION" | tr . -) \
   && apt-get install -y -qq --no-install-recommends "cuda-nvcc-$v" "cuda-cudart-dev-$v" \
        "libcublas-dev-$v" \
   && rm -rf /var/lib/apt/lists/* \
   && "/usr/local/cuda-$CUDA_VERSION/bin/nvcc" --version; \
    fi
# Only what the build reads, so that a change to docs/, helm/ or tests/ reuses the build.
COPY CMakeLists.txt /src/
COPY cmake /src/cmake
COPY engine /src/engine
COPY proto /src/proto
COPY server /src/server
COPY client /src/client
COPY bench /src/bench
COPY models /src/models
COPY scripts/runtime-deps.sh /src/scripts/
WORKDIR /src
RUN cuda=""; \
    if [ "$STOCHA_CUDA" = ON ]; then \
      cuda="-DSTOCHA_CUDA=ON -DCMAKE_CUDA_COMPILER=/usr/local/cuda-$CUDA_VERSION/bin/nvcc \
            -DCMAKE_CUDA_ARCHITECTURES=$CUDA_ARCHITECTURES"; \
    fi \
 && cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DSTOCHA_BUILD_TESTS=OFF $cuda \
 && cmake --build /build -j"${JOBS}" --target stocha-server stocha-cli \
 && mkdir -p /out/bin /out/models \
 && install -s /build/server/stocha-server /build/client/stocha-cli /out/bin/ \
 && cp -rL /src/models/default /out/models/default \
 && bash scripts/runtime-deps.sh /out/bin/* > /out/runtime-packages.txt \
 && mkdir -p /out/cuda-lib \
 && if [ "$STOCHA_CUDA" = ON ]; then \
      cp -L "/usr/local/cuda-$CUDA_VERSION/lib64/libcublas.so.13" \
            "/usr/local/cuda-$CUDA_VERSION/lib64/libcublasLt.so.13" /out/cuda-lib/ \
   && sed -i '/^libcublas/d' /out/runtime-packages.txt; \
    fi \
 && cat /out/runtime-packages.txt

FROM ${BASE_IMAGE} AS runtime-OFF
ARG VERSION=dev
ARG REVISION=unknown
ARG GRPC_PORT=50051
ARG METRICS_PORT=9400
ARG DEBIAN_FRONTEND=noninteractive
COPY --from=build /out/runtime-packages.txt /usr/share/stocha/runtime-packages.txt
RUN apt-get update -qq \
 && xargs -a /usr/share/stocha/runtime-packages.txt \
      apt-get install -y -qq --no-install-recommends \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* \
 && useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin stocha
COPY --from=build /out/bin/ /usr/local/bin/
COPY --from=build /out/models/ /models/
LABEL org.opencontainers.image.title="stocha" \
      org.opencontainers.image.description="gRPC inference server for sparse-FFN decoder LLMs" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="debian:bookworm"
USER 10001:10001
EXPOSE ${GRPC_PORT} ${METRICS_PORT}
# Through the gRPC health service: NOT_SERVING (exit 1) while loading and while draining.
# With --tls_cert the check needs --tls_ca too; Kubernetes uses its own gRPC probe instead.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["stocha-cli", "--target=127.0.0.1:50051", "--deadline=4s", "health"]
# The server drains on SIGTERM: new calls UNAVAILABLE, running ones get --drain_grace (30 s)
# plus 5 s to close connections, then exit 0. Give `docker stop -t 40` or more.
STOPSIGNAL SIGTERM
ENTRYPOINT ["stocha-server"]
# Container arguments are server flags; these defaults are replaced, not appended to.
# absl's --fromenv=NAME,... reads FLAGS_NAME from the environment (e.g. FLAGS_threads=8).
CMD ["--model=/models/default", "--port=50051"]

# The CUDA variant: cuBLAS's libraries (NVIDIA's repository is not configured here, so they
# come from the build stage, not from apt), then the CPU image's user again.
FROM runtime-OFF AS runtime-ON
USER root
COPY --from=build /out/cuda-lib/ /usr/local/lib/
RUN ldconfig
USER 10001:10001

FROM runtime-${STOCHA_CUDA} AS runtime
