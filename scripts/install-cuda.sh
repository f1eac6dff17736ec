#!/usr/bin/env bash
# Build llama-cpp-python with CUDA (GGML_CUDA=on) for this machine's GPU and check that it really offloads.
#
#   scripts/install-cuda.sh                      # detect the architecture (Jetson Orin: 87, L4: 89, H100: 90)
#   scripts/install-cuda.sh --arch 87            # or name it (several: --arch "89;90")
#   scripts/install-cuda.sh --from path/to/llama_cpp_python-0.3.36.tar.gz   # offline, from a downloaded sdist
#
# Without --from, pip downloads the llama-cpp-python source of --version from PyPI. The build takes 5-15 minutes
# on a desktop CPU and about 30-60 on a Jetson (use --jobs to trade speed for memory on an 8 GB Orin Nano).
# Afterwards `hearth doctor` must say "llama.cpp GPU offload  yes".
set -euo pipefail

VERSION="0.3.36"
ARCH=""
SOURCE=""
JOBS=""
PYTHON="${PYTHON:-python3}"
EXTRA_PIP_ARGS=()

usage() {
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
    echo
    echo "options: --arch SM  --from SDIST_OR_DIR  --version V  --jobs N  --python PY  --no-build-isolation"
}

while [ $# -gt 0 ]; do
    case "$1" in
        --arch) ARCH="$2"; shift 2 ;;
        --from) SOURCE="$2"; shift 2 ;;
        --version) VERSION="$2"; shift 2 ;;
        --jobs) JOBS="$2"; shift 2 ;;
        --python) PYTHON="$2"; shift 2 ;;
        --no-build-isolation) EXTRA_PIP_ARGS+=(--no-build-isolation); shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
    esac
done

log() { printf '[install-cuda] %s\n' "$*" >&2; }
die() { printf '[install-cuda] error: %s\n' "$*" >&2; exit 1; }

detect_arch() {
    # Jetson Orin (JetPack 6): the device tree or the L4T release file says so; all Orins are sm_87.
    if [ -f /etc/nv_tegra_release ] || grep -qi 'orin' /proc/device-tree/model 2>/dev/null; then
        echo "87"; return
    fi
    if command -v nvidia-smi >/dev/null 2>&1; then
        local caps
        caps="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | tr -d '. ' | sort -u | paste -sd';' -)"
        if [ -n "$caps" ]; then echo "$caps"; return; fi
    fi
    return 1
}

find_nvcc() {
    if command -v nvcc >/dev/null 2>&1; then command -v nvcc; return; fi
    local candidate
    for candidate in /usr/local/cuda/bin/nvcc /usr/local/cuda-*/bin/nvcc; do
        if [ -x "$candidate" ]; then echo "$candidate"; return; fi
    done
    return 1
}

if [ -z "$ARCH" ]; then
    ARCH="$(detect_arch)" || die "no NVIDIA GPU found (no nvidia-smi, not a Jetson); pass --arch, e.g. --arch 89"
fi
NVCC="$(find_nvcc)" || die "nvcc not found: install the CUDA toolkit (JetPack 6 ships it in /usr/local/cuda)"
CUDA_HOME="$(dirname "$(dirname "$NVCC")")"
export CUDACXX="$NVCC" CUDA_HOME PATH="$CUDA_HOME/bin:$PATH"
log "CUDA $("$NVCC" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p'), architectures sm_${ARCH//;/ sm_}"

# LLAVA_BUILD=off: Hearth needs no multimodal library, and skipping it saves a quarter of the build.
export CMAKE_ARGS="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=${ARCH} -DLLAVA_BUILD=off ${CMAKE_ARGS:-}"
export FORCE_CMAKE=1
if [ -n "$JOBS" ]; then export CMAKE_BUILD_PARALLEL_LEVEL="$JOBS"; fi

if [ -n "$SOURCE" ]; then
    [ -e "$SOURCE" ] || die "no such source: $SOURCE"
    TARGET="$SOURCE"
    EXTRA_PIP_ARGS+=(--no-index)
else
    TARGET="llama-cpp-python==${VERSION}"
fi
log "building $TARGET (CMAKE_ARGS=$CMAKE_ARGS)"
"$PYTHON" -m pip install --force-reinstall --no-deps --no-cache-dir --no-binary llama-cpp-python \
    "${EXTRA_PIP_ARGS[@]}" "$TARGET"

log "verifying the build"
"$PYTHON" - <<'EOF'
import sys

import llama_cpp

if not llama_cpp.llama_supports_gpu_offload():
    sys.exit("[install-cuda] error: the installed llama-cpp-python still cannot offload to a GPU")
print(f"[install-cuda] ok: llama-cpp-python {llama_cpp.__version__} offloads to the GPU", file=sys.stderr)
EOF
if command -v hearth >/dev/null 2>&1; then hearth doctor || true; fi
