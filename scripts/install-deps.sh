#!/usr/bin/env bash
# Installs everything stocha needs to build, test and train, from Debian packages.
# Run as root on a fresh Debian 12 machine. Idempotent: re-running is cheap.
set -euo pipefail

PKGS=(
  build-essential cmake ninja-build pkg-config git
  libgrpc++-dev protobuf-compiler-grpc grpc-proto libprotobuf-dev protobuf-compiler
  libabsl-dev libdnnl-dev prometheus-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev libsentencepiece-dev
  nlohmann-json3-dev libeigen3-dev libicu-dev openssl
  clang clang-format clang-tidy libclang-rt-14-dev
  python3 python3-torch python3-numpy python3-sentencepiece libopenblas0-pthread
  python3-matplotlib
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
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
