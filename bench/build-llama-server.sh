#!/usr/bin/env bash
# build-llama-server.sh — build llama.cpp's `llama-server` for bench/serve_load.py.
#
# Same source as bench/compare_llamacpp.sh: the llama.cpp copy vendored in the
# PyPI sdist of llama-cpp-python 0.3.36, unpacked into the git-ignored
# third_party/llama.cpp-0.3.36/. The server gets its own build folder
# (build-server/) so this script and compare_llamacpp.sh never reconfigure
# each other's tree. CPU only, -march=native, no BLAS, no OpenSSL, no web UI.
#
# Network: only the one-time `pip download` of the sdist (skipped when
# third_party/dl/ already has it or --sdist FILE is given).
#
# Usage: bench/build-llama-server.sh [--jobs N] [--sdist FILE]
# Prints the path of the built binary on stdout. About 10–20 minutes on 2 cores.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LLAMA_PY_VERSION=0.3.36
LLAMA_DIR="$ROOT/third_party/llama.cpp-$LLAMA_PY_VERSION"
BUILD_DIR="$LLAMA_DIR/build-server"
DL_DIR="$ROOT/third_party/dl"
SDIST="$DL_DIR/llama_cpp_python-$LLAMA_PY_VERSION.tar.gz"
JOBS=2

while [ $# -gt 0 ]; do
    case "$1" in
        --jobs|-j) JOBS="$2"; shift 2 ;;
        --sdist) SDIST="$2"; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
    esac
done
log() { echo "[llama-server] $*" >&2; }

if [ -x "$BUILD_DIR/bin/llama-server" ]; then
    echo "$BUILD_DIR/bin/llama-server"; exit 0
fi
command -v cmake >/dev/null || { echo "cmake not found (Debian: apt-get install -y cmake)" >&2; exit 1; }

if [ ! -f "$LLAMA_DIR/CMakeLists.txt" ]; then
    if [ ! -f "$SDIST" ]; then
        mkdir -p "$DL_DIR"
        log "downloading the llama-cpp-python $LLAMA_PY_VERSION sdist from PyPI"
        python3 -m pip download --no-deps --no-binary llama-cpp-python \
            "llama-cpp-python==$LLAMA_PY_VERSION" -d "$DL_DIR"
        SDIST="$DL_DIR/llama_cpp_python-$LLAMA_PY_VERSION.tar.gz"
    fi
    mkdir -p "$ROOT/third_party"
    tmp="$(mktemp -d "$ROOT/third_party/.unpack.XXXXXX")"
    tar xzf "$SDIST" -C "$tmp"
    rm -rf "$LLAMA_DIR"
    mv "$tmp/llama_cpp_python-$LLAMA_PY_VERSION/vendor/llama.cpp" "$LLAMA_DIR"
    rm -rf "$tmp"
    rm -f "$LLAMA_DIR/.git"     # a submodule pointer to nowhere
fi

log "configuring (CPU only, -march=native, no BLAS, no OpenSSL, no web UI)"
cmake -S "$LLAMA_DIR" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release \
    -DGGML_NATIVE=ON -DGGML_CCACHE=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=ON \
    -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF \
    -DLLAMA_USE_PREBUILT_UI=OFF \
    -DLLAMA_BUILD_COMMIT="pypi-llama-cpp-python-$LLAMA_PY_VERSION" -DLLAMA_BUILD_NUMBER=0 \
    >"$BUILD_DIR.configure.log" 2>&1 || { tail -30 "$BUILD_DIR.configure.log" >&2; exit 1; }
log "building llama-server with -j$JOBS"
t0=$SECONDS
cmake --build "$BUILD_DIR" -j"$JOBS" --target llama-server >"$BUILD_DIR.log" 2>&1 \
    || { tail -30 "$BUILD_DIR.log" >&2; exit 1; }
log "built in $((SECONDS - t0)) s"
echo "$BUILD_DIR/bin/llama-server"
