#!/usr/bin/env bash
# GPU check for a machine with an NVIDIA GPU and no network, in under 10 minutes: build a CUDA-enabled
# llama-cpp-python from what the working tree brings along, write a 7B-shaped Q4_K_M model of random weights, and
# report decode tok/s against the memory planner's bandwidth bound for that GPU.
#
# 1. Prepare once, on a machine with network (writes build/gpu-check/, which git ignores; about 10 MB):
#        scripts/gpu_check.sh --prep
# 2. Run on the GPU machine (carry build/gpu-check along with the working tree):
#        scripts/gpu_check.sh
#
# Environment: GPU_CHECK_ARCH (CUDA architectures, default: from nvidia-smi), GPU_CHECK_SKIP_BUILD=1 (use the
# llama_cpp already importable), GPU_CHECK_SHAPE=7b|tiny, GPU_CHECK_OUT (results folder; default $OUT, else
# bench-results), GPU_CHECK_SITE (where the build is installed; default /tmp/hearth-gpu-site),
# GPU_CHECK_CMAKE_EXTRA (more CMake flags; "-DGGML_CUDA_FA=OFF" halves the build when time is short).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREP="$REPO/build/gpu-check"
LLAMA_CPP_PYTHON_VERSION="0.3.36"
GGUF_VERSION="0.19.0"
PYTHON="${PYTHON:-python3}"
START=$SECONDS

log() { printf '[gpu_check %4ds] %s\n' "$((SECONDS - START))" "$*" >&2; }
die() { printf '[gpu_check] error: %s\n' "$*" >&2; exit 1; }

prep() {
    # Trim the sdist: git history, llama.cpp's vocabulary test files, docs, web UI and benches are most of its
    # 77 MB and the library build needs none of them.
    PREP_TMP="$(mktemp -d)"
    trap 'rm -rf "$PREP_TMP"' EXIT
    local tmp="$PREP_TMP"
    mkdir -p "$PREP/wheels"
    "$PYTHON" -m pip download --no-deps --no-binary :all: -d "$tmp" "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION"
    tar -xzf "$tmp/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION.tar.gz" -C "$tmp"
    local src="$tmp/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION"
    # The sdist even carries the llama.cpp submodule's git history (38 MB packed).
    rm -rf "$src/.git" "$src/vendor/llama.cpp/.git" "$src/vendor/llama.cpp/models" "$src/vendor/llama.cpp/docs" "$src/vendor/llama.cpp/tools/ui" \
        "$src/vendor/llama.cpp/tools/server" "$src/vendor/llama.cpp/benches" "$src/vendor/llama.cpp/examples" \
        "$src/vendor/llama.cpp/tests" "$src/vendor/llama.cpp/media" "$src/docs" "$src/examples" "$src/tests"
    mkdir -p "$src/vendor/llama.cpp/models"
    tar -czf "$PREP/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION.tar.gz" -C "$tmp" \
        "llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION"
    "$PYTHON" -m pip download --no-deps --only-binary :all: -d "$PREP/wheels" "gguf==$GGUF_VERSION" \
        "diskcache>=5.6"
    log "prepared $(du -sh "$PREP" | cut -f1) in $PREP"
}

build() {
    local site="$1" arch="$2"
    local sdist="$PREP/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION.tar.gz"
    [ -f "$sdist" ] || die "$sdist is missing: run 'scripts/gpu_check.sh --prep' on a machine with network first"
    local nvcc
    nvcc="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)"
    [ -x "$nvcc" ] || die "nvcc not found"
    export CUDACXX="$nvcc"
    export CMAKE_ARGS="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=$arch -DLLAVA_BUILD=off -DGGML_NATIVE=off ${GPU_CHECK_CMAKE_EXTRA:-}"
    export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
    log "building llama-cpp-python $LLAMA_CPP_PYTHON_VERSION for sm_$arch with $CMAKE_BUILD_PARALLEL_LEVEL jobs"
    "$PYTHON" -m pip install -q --no-index --no-deps --target "$site" "$PREP"/wheels/*.whl
    # --no-build-isolation: no network here, so the build backend (scikit-build-core, cmake, ninja) comes from
    # this Python's own packages.
    "$PYTHON" -m pip install --no-index --no-deps --no-build-isolation --no-cache-dir --target "$site" "$sdist" \
        > "$OUT_DIR/build.log" 2>&1 || { tail -40 "$OUT_DIR/build.log" >&2; die "build failed (log: build.log)"; }
    log "built"
}

main() {
    command -v nvidia-smi >/dev/null 2>&1 || die "no nvidia-smi: this check needs a machine with an NVIDIA GPU"
    nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv,noheader >&2
    local arch="${GPU_CHECK_ARCH:-}"
    if [ -z "$arch" ]; then
        arch="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '. ')"
    fi
    local site="${GPU_CHECK_SITE:-/tmp/hearth-gpu-site}"
    mkdir -p "$site" "$OUT_DIR"
    if [ "${GPU_CHECK_SKIP_BUILD:-0}" != "1" ]; then
        build "$site" "$arch"
    fi
    export PYTHONPATH="$site:$REPO${PYTHONPATH:+:$PYTHONPATH}"
    "$PYTHON" -c 'import llama_cpp, sys; ok = llama_cpp.llama_supports_gpu_offload(); print(f"llama_cpp {llama_cpp.__version__} GPU offload: {ok}", file=sys.stderr); sys.exit(0 if ok else 1)' \
        || die "the llama_cpp on PYTHONPATH is a CPU-only build"
    log "writing the ${GPU_CHECK_SHAPE:-7b}-shaped model and measuring decode speed"
    "$PYTHON" "$REPO/scripts/gpu_check.py" --shape "${GPU_CHECK_SHAPE:-7b}" \
        --model "/tmp/hearth-synthetic-${GPU_CHECK_SHAPE:-7b}-q4_k_m.gguf" --out "$OUT_DIR"
    log "done"
}

OUT_DIR="${GPU_CHECK_OUT:-${OUT:-$REPO/bench-results}}"
case "${1:-}" in
    --prep) prep ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' ;;
    "") main ;;
    *) die "unknown argument: $1 (use --prep, or nothing)" ;;
esac
