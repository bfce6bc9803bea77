#!/usr/bin/env bash
# The CUDA check for a lent GPU machine (issue 15, docs/CUDA.md), in two halves.
#
#   scripts/gpu-check.sh bundle
#       Here, on the CPU machine (nvcc, no GPU): configures build-cuda with
#       -DSTOCHA_CUDA=ON, builds the CUDA tests and benchmark, and packs them with the
#       shared libraries a bare CUDA image lacks (ldd: Abseil and the like; not glibc,
#       libstdc++ or the driver) into gpu-bundle.tar.xz (git-ignored, so `carry` takes it).
#   scripts/gpu-check.sh run
#       On the GPU machine, through the device tool, in one call:
#         run(command="bash scripts/gpu-check.sh run", carry=["gpu-bundle.tar.xz"],
#             timeout_s=420)
#       Unpacks the bundle, prints the GPU, runs the CUDA tests (every kernel against the
#       CPU's on the same inputs; the forward pass against run.c's stories260K logits and
#       the CPU engine's StochA draws; the CUDA Engine against the CPU Engine and run.c
#       through the same API), stocha-generate --device=cuda on stories260K, the FFN benchmark (sparse ÷ dense at batch 1/4/16 and
#       0/80/90/95% sparsity, dense bytes/s against a device copy) and the whole-model
#       prefill benchmark (16-row RowDots steps against 256-row cuBLAS steps, and the
#       RowDots/cuBLAS crossover in T), then the whole-model decode benchmark (tokens/s
#       sparse against dense at the 1B/1.5B/3B shapes, and CUDA graphs off against on at
#       the 1B shape). Logs go to $OUT.
#       Each step has its own time limit, cut to what is left of a 400 s budget (the call's
#       420 s less a margin), so one hang cannot eat the lease.
#       cuBLAS (libcublas.so.13 and libcublasLt.so.13, ~570 MB) is not in the bundle: the
#       run finds the GPU machine's own (the toolkit's, or PyTorch's nvidia wheels) and
#       fails naming the places it looked when there is none.
set -euo pipefail
cd "$(dirname "$0")/.."
BUNDLE=gpu-bundle.tar.xz
TARGETS=(stocha_cuda_test stocha_cuda_forward_test stocha_cuda_engine_test stocha_device_test
  stocha-generate cuda_ffn_bench cuda_decode_bench)
BUDGET_S=400
# The ../shared/data files the forward-pass test reads (stories260K and run.c's outputs).
FIXTURES=(SOURCES.md stories260K/stories260K.bin stories260K/tok512.bin
  stories260K/expected/runc_t0_once_upon_a_time_n64.tokens.json
  stories260K/expected/runc_t0_once_upon_a_time_n64.logits.f32
  stories260K/expected/runc_t0_n64_once_upon_a_time.stdout.txt)

bundle() {
  local t0=$SECONDS
  cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTOCHA_CUDA=ON >/dev/null
  ninja -C build-cuda -j"${JOBS:-2}" "${TARGETS[@]}"
  local dir
  dir=$(mktemp -d)
  mkdir -p "$dir/gpu-bundle/bin" "$dir/gpu-bundle/lib"
  for t in "${TARGETS[@]}"; do
    local bin
    bin=$(find build-cuda -type f -name "$t" -perm -u+x | head -1)
    cp "$bin" "$dir/gpu-bundle/bin/"
    # Every resolved library except the C runtime and the compiler's own (the image's are
    # as new or newer) and the driver's (the GPU machine brings its own).
    ldd "$bin" | awk '$3 ~ /^\// {print $3}' |
      grep -v -E '/(libc|libm|libpthread|libdl|librt|libgcc_s|libstdc\+\+|ld-linux[^/]*|libcuda|libcublas|libcublasLt)\.so' |
      while read -r lib; do cp -L -n "$lib" "$dir/gpu-bundle/lib/"; done
  done
  # The tests look for ../shared where the build put it (a compiled-in path): record it,
  # and carry the few files they read.
  local shared
  shared=$(sed -n 's/^STOCHA_SHARED_DIR:PATH=//p' build-cuda/CMakeCache.txt)
  echo "$shared" >"$dir/gpu-bundle/shared_dir.txt"
  for f in "${FIXTURES[@]}"; do
    mkdir -p "$dir/gpu-bundle/shared/data/$(dirname "$f")"
    cp "$shared/data/$f" "$dir/gpu-bundle/shared/data/$f"
  done
  tar -C "$dir" -cJf "$BUNDLE" gpu-bundle
  rm -rf "$dir"
  echo "gpu-check: $BUNDLE $(du -h "$BUNDLE" | cut -f1) ($(tar -tJf "$BUNDLE" | grep -c '/lib/.') libraries), $((SECONDS - t0)) s"
}

# The directory holding libcublas.so.13 and libcublasLt.so.13 on this machine: the CUDA
# toolkit's, else the nvidia wheels of the Python packages (PyTorch for CUDA 13).
find_cublas() {
  local dirs=(/usr/local/cuda/lib64 /usr/local/cuda/targets/*/lib) py
  if command -v python3 >/dev/null; then
    py=$(python3 -c 'import sysconfig, glob; p = sysconfig.get_paths()["purelib"]; print("\n".join(glob.glob(p + "/nvidia/cu13/lib") + glob.glob(p + "/nvidia/cublas/lib")))' 2>/dev/null || true)
    while read -r d; do [ -n "$d" ] && dirs+=("$d"); done <<<"$py"
  fi
  for d in "${dirs[@]}"; do
    if [ -e "$d/libcublas.so.13" ] && [ -e "$d/libcublasLt.so.13" ]; then
      echo "$d"
      return 0
    fi
  done
  echo "gpu-check: no libcublas.so.13 with libcublasLt.so.13 in: ${dirs[*]}" >&2
  return 1
}

# A step's time limit: `want` seconds, or what is left of BUDGET_S if less (at least 1).
limit() {
  local left=$((BUDGET_S - SECONDS))
  if [ "$left" -lt "$1" ]; then echo $((left > 1 ? left : 1)); else echo "$1"; fi
}

run() {
  SECONDS=0
  local out=${OUT:-/tmp/gpu-check-out}
  mkdir -p "$out"
  local dir=/tmp/stocha-gpu
  rm -rf "$dir" && mkdir -p "$dir"
  tar -C "$dir" -xJf "$BUNDLE"
  local cublas
  cublas=$(find_cublas) || return 1
  echo "gpu-check: cuBLAS from $cublas" | tee "$out/cublas.txt"
  export LD_LIBRARY_PATH="$dir/gpu-bundle/lib:$cublas${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  local bin=$dir/gpu-bundle/bin rc=0 shared
  shared=$(cat "$dir/gpu-bundle/shared_dir.txt")
  if [ ! -e "$shared/data/SOURCES.md" ]; then
    mkdir -p "$(dirname "$shared")"
    ln -sfn "$dir/gpu-bundle/shared" "$shared"
  fi
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee "$out/gpu.txt" || true
  # stocha_cuda_forward_test holds the CUDA graph tests too (cuda_graph_test.cc).
  for t in stocha_cuda_test stocha_cuda_forward_test stocha_cuda_engine_test stocha_device_test; do
    echo "=== $t"
    timeout "$(limit 180)" "$bin/$t" 2>&1 | tee "$out/$t.log" | tail -40 || rc=1
    # Green means every test ran and passed: a skip on a GPU machine is a failure here.
    if ! grep -q '^\[  PASSED  \]' "$out/$t.log" || grep -q '^\[  \(SKIPPED\|FAILED\) ' "$out/$t.log"; then
      rc=1
    fi
  done
  # The whole Engine through the CLI on the GPU: run.c's greedy text for this prompt
  # (stories260K/expected/runc_t0_n64_once_upon_a_time.stdout.txt) must appear.
  echo "=== stocha-generate --device=cuda"
  timeout "$(limit 60)" "$bin/stocha-generate" --device=cuda --model="$shared/data/stories260K/stories260K.bin" \
    --tokenizer="$shared/data/stories260K/tok512.bin" --prompt="Once upon a time" \
    --temperature=0 --activation=silu --max_new_tokens=59 2>&1 | tee "$out/stocha-generate.log" || rc=1
  if ! grep -qF "$(head -c 120 "$shared/data/stories260K/expected/runc_t0_n64_once_upon_a_time.stdout.txt")" \
    "$out/stocha-generate.log"; then
    echo "gpu-check: stocha-generate --device=cuda did not give run.c's text"
    rc=1
  fi
  # Before the long benchmarks, so the budget always leaves it room: decode tokens/s with
  # CUDA graphs off and on, batch 1/4/16, dense and sparse, and the ratio (Llama-3.2-1B).
  echo "=== CUDA graphs: decode off against on"
  timeout "$(limit 90)" "$bin/cuda_decode_bench" --graphs 64 2>&1 | tee "$out/cuda_graphs_bench.log" || rc=1
  echo "=== FFN benchmark"
  timeout "$(limit 240)" "$bin/cuda_ffn_bench" 200 2>&1 | tee "$out/cuda_ffn_bench.log" || rc=1
  echo "=== prefill benchmark (RowDots vs cuBLAS)"
  timeout "$(limit 90)" "$bin/cuda_decode_bench" --prefill 1024 2>&1 |
    tee "$out/cuda_prefill_bench.log" || rc=1
  echo "=== whole-model decode benchmark"
  timeout "$(limit 300)" "$bin/cuda_decode_bench" 32 2>&1 | tee "$out/cuda_decode_bench.log" || rc=1
  echo "gpu-check: exit $rc (logs in $out), $SECONDS s"
  return $rc
}

case "${1:-}" in
  bundle) bundle ;;
  run) run ;;
  *)
    echo "usage: scripts/gpu-check.sh bundle|run" >&2
    exit 2
    ;;
esac
