#!/usr/bin/env bash
# GPU check for a machine with an NVIDIA GPU and no network, in under 10 minutes: build llama.cpp with CUDA from
# the llama-cpp-python sdist the working tree brings along (the library and llama-bench, one build), write a
# 7B-shaped Q4_K_M model of random weights (no real 7-8B model can be carried there), and time Hearth's own engine
# against llama-bench on that GGUF and GPU and against the memory-bandwidth bound (scripts/gpu_check.py).
#
# 1. Prepare once, on a machine with network (writes build/gpu-check/, which git ignores; about 20 MB):
#        scripts/gpu_check.sh --prep
# 2. Run on the GPU machine (carry build/gpu-check along with the working tree):
#        scripts/gpu_check.sh
#    then append the gpu-check.md it writes to docs/gpu-check.md (dated, with the device).
#
# Environment: GPU_CHECK_ARCH (CUDA architectures, default: from nvidia-smi), GPU_CHECK_SHAPE=7b|tiny,
# GPU_CHECK_MODEL (a real GGUF to use instead), GPU_CHECK_OUT (results folder; default $OUT, else bench-results),
# GPU_CHECK_BUILD (build folder; default /tmp/hearth-gpu-build), GPU_CHECK_PYVER (the GPU machine's Python, for
# --prep; default 3.12), GPU_CHECK_CMAKE_EXTRA (more CMake flags; "-DGGML_CUDA_FA=OFF" halves the build).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREP="$REPO/build/gpu-check"
LLAMA_CPP_PYTHON_VERSION="0.3.36"
GGUF_VERSION="0.19.0"
PYTHON="${PYTHON:-python3}"
START=$SECONDS

log() { printf '[gpu_check %4ds] %s\n' "$((SECONDS - START))" "$*" >&2; }
die() { printf '[gpu_check] error: %s\n' "$*" >&2; exit 1; }

# What Hearth's engine imports beyond the GPU machine's own packages (that image has numpy, jinja2, psutil, rich,
# typer, httpx, prometheus-client, huggingface-hub); pinned to this machine's versions, which work together.
CARRIED="pydantic pydantic-core pydantic-settings annotated-types typing-inspection python-dotenv typing-extensions
diskcache"

prep() {
    # Trim the sdist: git history, llama.cpp's vocabulary test files, docs, web UI and the server are most of its
    # 77 MB, and the library and llama-bench need none of them.
    PREP_TMP="$(mktemp -d)"
    trap 'rm -rf "$PREP_TMP"' EXIT
    local tmp="$PREP_TMP" pins=()
    rm -rf "$PREP"
    mkdir -p "$PREP/wheels"
    "$PYTHON" -m pip download -q --no-deps --no-binary llama-cpp-python -d "$tmp" \
        "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION"
    tar -xzf "$tmp/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION.tar.gz" -C "$tmp"
    local src="$tmp/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION" v="$tmp/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION/vendor/llama.cpp"
    rm -rf "$src/.git" "$v/.git" "$v/models" "$v/docs" "$v/tools/ui" "$v/tools/server" "$v/benches" \
        "$v/examples" "$v/tests" "$v/media" "$src/docs" "$src/examples" "$src/tests"
    mkdir -p "$v/models"
    tar -czf "$PREP/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION.tar.gz" -C "$tmp" \
        "llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION"
    for name in $CARRIED; do
        pins+=("$name==$("$PYTHON" -c "from importlib.metadata import version; print(version('$name'))")")
    done
    pins+=("gguf==$GGUF_VERSION")
    "$PYTHON" -m pip download -q --no-deps --only-binary :all: --implementation cp \
        --python-version "${GPU_CHECK_PYVER:-3.12}" --platform manylinux_2_28_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$PREP/wheels" "${pins[@]}"
    log "prepared $(du -sh "$PREP" | cut -f1) in $PREP"
}

build() {
    local site="$1" arch="$2" build="$3"
    local sdist="$PREP/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION.tar.gz"
    [ -f "$sdist" ] || die "$sdist is missing: run 'scripts/gpu_check.sh --prep' on a machine with network first"
    local nvcc
    nvcc="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)"
    [ -x "$nvcc" ] || die "nvcc not found"
    rm -rf "$build" "$site"
    mkdir -p "$build" "$site"
    tar -xzf "$sdist" -C "$build"
    local src="$build/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION"
    local jobs="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}" gen=()
    command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
    log "building llama.cpp (library and llama-bench) for sm_$arch with $jobs jobs"
    # One build serves both: llama-bench, and libllama.so for the llama-cpp-python bindings (LLAMA_CPP_LIB_PATH).
    cmake -S "$src/vendor/llama.cpp" -B "$build/cmake" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_CUDA_COMPILER="$nvcc" -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$arch" -DGGML_NATIVE=OFF \
        -DBUILD_SHARED_LIBS=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
        -DLLAMA_BUILD_TOOLS=ON -DLLAMA_CURL=OFF ${GPU_CHECK_CMAKE_EXTRA:-} > "$OUT_DIR/build.log" 2>&1 \
        || { tail -40 "$OUT_DIR/build.log" >&2; die "CMake configure failed (log: build.log)"; }
    cmake --build "$build/cmake" --target llama-bench -j "$jobs" >> "$OUT_DIR/build.log" 2>&1 \
        || { tail -40 "$OUT_DIR/build.log" >&2; die "build failed (log: build.log)"; }
    # The bindings are pure Python (ctypes): the sdist's package folder, with the libraries found by path.
    cp -r "$src/llama_cpp" "$site/llama_cpp"
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --target "$site" "$PREP"/wheels/*.whl
    log "built"
}

main() {
    command -v nvidia-smi >/dev/null 2>&1 || die "no nvidia-smi: this check needs a machine with an NVIDIA GPU"
    nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv,noheader >&2
    local arch="${GPU_CHECK_ARCH:-}"
    if [ -z "$arch" ]; then
        arch="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '. ')"
    fi
    local site="$BUILD/site"
    mkdir -p "$OUT_DIR"
    build "$site" "$arch" "$BUILD"
    local bench lib
    bench="$(find "$BUILD/cmake" -type f -name llama-bench -perm -u+x | head -1)"
    lib="$(dirname "$(find "$BUILD/cmake" -name 'libllama.so' | head -1)")"
    [ -x "$bench" ] && [ -f "$lib/libllama.so" ] || die "the build made no llama-bench or libllama.so"
    export LLAMA_CPP_LIB_PATH="$lib" PYTHONPATH="$site:$REPO${PYTHONPATH:+:$PYTHONPATH}"
    "$PYTHON" -c 'import llama_cpp, sys; ok = llama_cpp.llama_supports_gpu_offload(); print(f"llama_cpp {llama_cpp.__version__} GPU offload: {ok}", file=sys.stderr); sys.exit(0 if ok else 1)' \
        || die "the llama.cpp just built cannot offload to the GPU"
    local model="${GPU_CHECK_MODEL:-/tmp/hearth-synthetic-${GPU_CHECK_SHAPE:-7b}-q4_k_m.gguf}"
    log "measuring llama-bench, a bare decode loop and Hearth's engine on $model"
    "$PYTHON" "$REPO/scripts/gpu_check.py" --shape "${GPU_CHECK_SHAPE:-7b}" --model "$model" \
        --llama-bench "$bench" --threads 4 --out "$OUT_DIR"
    log "done"
}

OUT_DIR="${GPU_CHECK_OUT:-${OUT:-$REPO/bench-results}}"
BUILD="${GPU_CHECK_BUILD:-/tmp/hearth-gpu-build}"
case "${1:-}" in
    --prep) prep ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' ;;
    "") main ;;
    *) die "unknown argument: $1 (use --prep, or nothing)" ;;
esac
