#!/usr/bin/env bash
# Builds the Docker image for real and runs it: a Debian bookworm base made with debootstrap
# from the mirror this machine's apt sources name (no registry is needed), the project's
# Dockerfile built on it with buildah (chroot isolation, vfs storage), then stocha-server
# started from the image, health + Generate through the image's stocha-cli, SIGTERM during a
# running request: the request must finish, the server must drain and exit 0.
# Usage: scripts/test-image.sh   (root; STOCHA_IMAGE_DIR=build-image keeps base + storage)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=$(realpath -m "${STOCHA_IMAGE_DIR:-build-image}")
IMAGE=localhost/stocha:test
BASE=localhost/stocha-base:bookworm
mkdir -p "$WORK"
t0=$SECONDS
stage() { printf '\n=== test-image: %s (%ds) ===\n' "$*" $((SECONDS - t0)); }
fail() { echo "test-image: FAIL: $*" >&2; exit 1; }

# Image tools: only this test needs them, so they are not in install-deps.sh.
need=()
for p in debootstrap buildah; do command -v "$p" >/dev/null || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
BUILDAH=(buildah --root "$WORK/storage" --runroot "$WORK/run" --storage-driver vfs)

stage "base image (debootstrap minbase)"
if [ ! -s "$WORK/base/rootfs.tar" ]; then
  mirror=$(bash scripts/debian-mirror.sh bookworm)
  echo "mirror from apt's sources: $mirror"
  rm -rf "$WORK/rootfs" && mkdir -p "$WORK/base"
  debootstrap --variant=minbase bookworm "$WORK/rootfs" "$mirror" > "$WORK/debootstrap.log" 2>&1 ||
    { tail -20 "$WORK/debootstrap.log"; fail "debootstrap"; }
  tar --numeric-owner -C "$WORK/rootfs" -cf "$WORK/base/rootfs.tar.tmp" .
  mv "$WORK/base/rootfs.tar.tmp" "$WORK/base/rootfs.tar"
  rm -rf "$WORK/rootfs"
fi
printf 'FROM scratch\nADD rootfs.tar /\nCMD ["/bin/bash"]\n' > "$WORK/base/Containerfile"
"${BUILDAH[@]}" images -q "$BASE" >/dev/null 2>&1 ||
  "${BUILDAH[@]}" bud --isolation chroot -q -f "$WORK/base/Containerfile" -t "$BASE" "$WORK/base"

stage "image (buildah bud of the project's Dockerfile)"
"${BUILDAH[@]}" bud --isolation chroot --layers \
  --build-arg BASE_IMAGE="$BASE" --build-arg JOBS="${JOBS:-2}" \
  --build-arg REVISION="$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
  -t "$IMAGE" . > "$WORK/bud.log" 2>&1 || { tail -40 "$WORK/bud.log"; fail "buildah bud"; }

stage "image size"
ctr=$("${BUILDAH[@]}" from -q "$IMAGE")
cli=$("${BUILDAH[@]}" from -q "$IMAGE")
cleanup() { "${BUILDAH[@]}" rm "$ctr" "$cli" >/dev/null 2>&1 || true; }
trap cleanup EXIT
root=$("${BUILDAH[@]}" mount "$ctr")
echo "runtime packages: $(tr '\n' ' ' < "$root/usr/share/stocha/runtime-packages.txt")"
total=$(du -sxm "$root" | cut -f1)
model=$(du -sxm "$root/models" | cut -f1)
echo "runtime image: ${total} MiB on disk, of which the model ${model} MiB (without: $((total - model)) MiB)"
"${BUILDAH[@]}" inspect --format '{{.OCIv1.Config}}' "$IMAGE"
# What the Dockerfile promises, read back from the built image.
cfg=$("${BUILDAH[@]}" inspect --format '{{.OCIv1.Config.User}} {{.OCIv1.Config.StopSignal}}' "$IMAGE")
[ "$cfg" = "10001:10001 SIGTERM" ] || fail "user/stop signal: '$cfg'"
[ ! -e "$root/usr/bin/c++" ] && [ ! -d "$root/usr/include/grpcpp" ] || fail "compiler or headers in the runtime image"
"${BUILDAH[@]}" umount "$ctr" >/dev/null

stage "run stocha-server from the image"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log="$WORK/server.log"
# chroot isolation shares the host's network: the server listens on the host's loopback.
# The step delay stretches a request over seconds, so that SIGTERM lands while it runs.
"${BUILDAH[@]}" run --isolation chroot "$ctr" -- stocha-server --model=/models/default \
  --host=127.0.0.1 --port="$port" --testing_step_delay=20ms --drain_grace=30s > "$log" 2>&1 &
runner=$!
runc() { "${BUILDAH[@]}" run --isolation chroot "$cli" -- stocha-cli --target="127.0.0.1:$port" "$@"; }
ok=0
for _ in $(seq 1 120); do
  if runc --deadline=2s health > /dev/null 2>&1; then ok=1; break; fi
  kill -0 "$runner" 2>/dev/null || { cat "$log"; fail "server exited during start"; }
  sleep 1
done
[ $ok = 1 ] || { cat "$log"; fail "never SERVING"; }
echo "health: $(runc health)"
# The Dockerfile's HEALTHCHECK command itself (buildah's default OCI format does not keep
# HEALTHCHECK in the image config; docker's format and `docker build` do), on this port.
hc=$(python3 - Dockerfile "$port" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read().replace("\\\n", " ")
cmd = json.loads(re.search(r"^HEALTHCHECK .*?CMD (\[.*\])$", text, re.M).group(1))
print("\n".join(a.replace("127.0.0.1:50051", "127.0.0.1:" + sys.argv[2]) for a in cmd))
PY
)
mapfile -t hc_cmd <<< "$hc"
"${BUILDAH[@]}" run --isolation chroot "$cli" -- "${hc_cmd[@]}" || fail "HEALTHCHECK command: ${hc_cmd[*]}"
echo "HEALTHCHECK command passes: ${hc_cmd[*]}"
out=$(runc --max_new_tokens=8 --temperature=0 generate "Once upon a time")
echo "generate: $out"
[ -n "$out" ] || fail "empty Generate"

stage "SIGTERM during a running request: drain, exit 0"
runc --max_new_tokens=100 --temperature=0 --ignore_eos stream "Once upon a time" > "$WORK/long.out" 2>&1 &
long=$!
sleep 1
# The server is a descendant of buildah: find it below our own runner, signal it alone.
find_server() {
  local pids=$1 next
  while [ -n "$pids" ]; do
    for p in $pids; do
      [ "$(cat /proc/"$p"/comm 2>/dev/null)" = stocha-server ] && { echo "$p"; return 0; }
    done
    next=""
    for p in $pids; do next="$next $(pgrep -P "$p" || true)"; done
    pids=$(echo $next)
  done
  return 1
}
spid=$(find_server "$runner") || fail "no stocha-server below buildah ($runner)"
kill -TERM "$spid"
set +e
wait "$long"; long_rc=$?
wait "$runner"; server_rc=$?
set -e
cat "$log"
echo "long request: rc $long_rc, $(wc -c < "$WORK/long.out") bytes"
[ "$long_rc" = 0 ] || { cat "$WORK/long.out"; fail "the request running at SIGTERM failed"; }
[ "$server_rc" = 0 ] || fail "server exit code $server_rc"
grep -q "draining" "$log" && grep -q "drained" "$log" || fail "no drain in the server log"
stage "passed"
