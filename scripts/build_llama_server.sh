#!/usr/bin/env bash
# Build llama.cpp's `llama-server` (and `llama-bench`) from the llama.cpp that the installed llama-cpp-python
# vendors, so benchmarks compare Hearth with the very same kernels. CPU build; pass extra CMake flags after the
# output directory (e.g. -DGGML_CUDA=on on a GPU machine).
#   bash scripts/build_llama_server.sh [OUT_DIR] [CMAKE_ARGS...]     (default OUT_DIR: build/llama.cpp)
# Prints the path of llama-server when done. Needs cmake and a C++ compiler; takes a few minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/llama.cpp}
shift || true
PY=${PYTHON:-python3}
version=$("$PY" -c "import llama_cpp; print(llama_cpp.__version__)")
src="$out/src"
if [ ! -f "$src/vendor/llama.cpp/CMakeLists.txt" ]; then
    tmp=$(mktemp -d)
    "$PY" -m pip download --no-deps --no-binary :all: --disable-pip-version-check -q -d "$tmp" \
        "llama-cpp-python==$version"
    mkdir -p "$src"
    tar -xzf "$tmp"/llama_cpp_python-*.tar.gz -C "$src" --strip-components=1
    rm -rf "$tmp"
fi
cmake -S "$src/vendor/llama.cpp" -B "$out/cmake" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON \
    -DGGML_NATIVE=ON "$@" >/dev/null
cmake --build "$out/cmake" --target llama-server llama-bench -j "$(nproc)" >/dev/null
echo "$out/cmake/bin/llama-server"
