#!/usr/bin/env bash
# Installs everything stocha needs to build, test and train, from Debian packages.
# Run as root on a fresh Debian 12 machine. Idempotent: re-running is cheap.
# Usage: scripts/install-deps.sh           (everything: build, tests, tools, training)
#        scripts/install-deps.sh --build   (only what a Release build of the binaries
#                                           needs; the Dockerfile's build stage uses it)
#        scripts/install-deps.sh --soak    (everything, plus heaptrack for the soak's heap
#                                           profile: docs/SERVING.md; not used by CI)
set -euo pipefail

# What `cmake -DSTOCHA_BUILD_TESTS=OFF` and a build of stocha-server/stocha-cli need.
BUILD_PKGS=(
  build-essential cmake ninja-build pkg-config
  libgrpc++-dev protobuf-compiler-grpc grpc-proto libprotobuf-dev protobuf-compiler
  libabsl-dev libdnnl-dev prometheus-cpp-dev libbenchmark-dev libsentencepiece-dev
  nlohmann-json3-dev libeigen3-dev libicu-dev
)
# Tests, sanitizers, format/lint, training and the deploy checks (Go renderer, image test).
DEV_PKGS=(
  git libgtest-dev libgmock-dev openssl prometheus python3-grpcio python3-protobuf
  clang clang-format clang-tidy libclang-rt-14-dev
  python3 python3-torch python3-numpy python3-sentencepiece libopenblas0-pthread
  python3-matplotlib python3-yaml
  golang-go golang-github-masterminds-sprig-dev golang-k8s-sigs-yaml-dev nodejs
)
PKGS=("${BUILD_PKGS[@]}")
[ "${1:-}" = --build ] || PKGS+=("${DEV_PKGS[@]}")
if [ "${1:-}" = --soak ]; then PKGS+=(heaptrack); fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Debian's nodejs ships npm apart; NodeSource's nodejs bundles it (and conflicts with it).
[ "${1:-}" = --build ] || command -v npm >/dev/null || missing+=(npm)
# bench/peer (llama.cpp from npm's node-llama-cpp, the peer_agreement test) needs Node >= 20;
# Debian 12's nodejs is 18: install Node 20 from nodejs.org or NodeSource where it is older.
if [ "${1:-}" != --build ] && command -v node >/dev/null &&
  [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  echo "install-deps: warning: node $(node --version) < 20; bench/peer needs Node >= 20" >&2
fi
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
