#!/usr/bin/env bash
# run-sanitizers.sh — the engine under sanitizers (`make test-sanitizers`):
#   1. librtx.so built with AddressSanitizer, the Swift engine
#      (-sanitize=address; Swift checks overflow, bounds and nil itself, and
#      swiftc has no UBSan on Linux) and the C kernels
#      (-fsanitize=address,undefined) alike; the C ABI test (Tests/c/test_capi.c,
#      itself instrumented, over both hostile corpora) and a fast subset of the Python suite (hostile GGUF
#      files, bindings' error paths, tokenizer) run against it.
#   2. tsan-stress under ThreadSanitizer: threads sharing one model, each with
#      its own session, beside threads driving schedulers.
# Any sanitizer report fails the run (halt_on_error).
set -euo pipefail
cd "$(dirname "$0")/../.."
SWIFT=${SWIFT:-swift}
PYTHON=${PYTHON:-python3}
MODEL=${1:-.models/SmolLM2-135M-Instruct.Q4_1.gguf}
OUT=build/sanitizers
mkdir -p "$OUT"
RUNTIME_DIR=$(dirname "$(dirname "$(command -v $SWIFT)")")/lib/clang
ASAN_RT=$(find "$RUNTIME_DIR" -name 'libclang_rt.asan-x86_64.so' | head -1)
export SWIFT_BACKTRACE=enable=no OPENBLAS_NUM_THREADS=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

echo "== ASan (+ UBSan in C): librtx.so, C ABI test, Python subset"
ASAN_FLAGS=(--scratch-path .build-asan -Xswiftc -sanitize=address -Xcc -fsanitize=address,undefined
            -Xcc -fno-sanitize-recover=undefined)
quiet() { "$@" >"$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; exit 1; }; }
quiet $SWIFT build --product rtx "${ASAN_FLAGS[@]}"
LIB=$($SWIFT build "${ASAN_FLAGS[@]}" --show-bin-path)/librtx.so
$PYTHON Tests/data/make_bad_gguf.py "$OUT/bad" >/dev/null
$PYTHON Tests/data/make_bad_hf.py "$OUT/bad-hf" >/dev/null
clang -std=c11 -g -fsanitize=address,undefined -I include -o "$OUT/test_capi" Tests/c/test_capi.c "$LIB" \
    -Wl,-rpath,"$(dirname "$LIB")"
# Leaks are checked for the C test (it frees everything), not for CPython.
ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 "$OUT/test_capi" "$MODEL" "$OUT/bad" "$OUT/bad-hf"
LD_PRELOAD="$ASAN_RT" ASAN_OPTIONS=detect_leaks=0:halt_on_error=1 PYTHONPATH=bindings/python RTX_LIBRARY="$LIB" \
    RTX_TEST_MODEL="$PWD/$MODEL" $PYTHON -m pytest -q -p no:cacheprovider Tests/python/test_bad_gguf_python.py \
    Tests/python/test_bindings.py -k "not generation and not generate and not sampling and not batched"

echo "== TSan: tsan-stress"
quiet $SWIFT build --package-path Tests/hardening --scratch-path .build-hardening-tsan -Xswiftc -sanitize=thread \
    -Xcc -fsanitize=thread --product tsan-stress
# OMP_NUM_THREADS=1: libomp is not TSan-instrumented, so TSan cannot see its
# barriers and reports every OpenMP region (weight packing at load included) as
# racing with the thread that started it. The stress threads are Swift threads.
OMP_NUM_THREADS=1 TSAN_OPTIONS=halt_on_error=1 \
    "$($SWIFT build --package-path Tests/hardening --scratch-path .build-hardening-tsan -Xswiftc -sanitize=thread --show-bin-path)/tsan-stress" "$MODEL"
