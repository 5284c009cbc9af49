#!/usr/bin/env bash
# compare_llamacpp.sh — RTX vs llama.cpp, side by side, on one GGUF model.
#
# Builds llama.cpp (the copy vendored in the PyPI sdist of llama-cpp-python
# 0.3.36) into third_party/llama.cpp-0.3.36/ if it is not there yet, then runs:
#   - llama-bench   -p PP -n 128 -r 5             and  rtx bench --pp PP --tg 128 --reps 5
#     (PP = 512 unless --pp N is given; the issue's Gemma 3 figure is pp128)
#   - llama-batched-bench -npp 128 -ntg 128 -npl 16  (batched decode, 16 sequences)
#     and, if `rtx bench` has a --parallel option, rtx bench --parallel 16
#   - with --perplexity: llama-perplexity and rtx perplexity on
#     /usr/share/common-licenses/GPL-3 at ctx 512
#   - with --greedy: a 32-token greedy continuation from both (not timed)
# and prints a table with the ratios RTX / llama.cpp.
#
# OPENBLAS_CORETYPE (and OPENBLAS_L2_SIZE) are left as the environment sets
# them, unless --unset-openblas-coretype is given: then both are unset for
# every command this script runs. This environment sets OPENBLAS_CORETYPE
# because older OpenBLAS builds misbehave on this CPU; it roughly halves
# OpenBLAS sgemm. Only RTX uses OpenBLAS (llama.cpp is built without BLAS),
# so the setting can only move the RTX numbers. The header of the output says
# which way it ran.
#
# Network: only step (a), the one-time `pip download` of the sdist when
# third_party/ has no llama.cpp build yet. Everything else is offline.
#
# Usage: bench/compare_llamacpp.sh [--model GGUF] [--threads N] [--pp N] [--perplexity]
#          [--greedy] [--unset-openblas-coretype] [--rtx PATH] [--reps N]
#          [--logdir DIR] [--build-only] [--jobs N]
# Timings on a 2-core machine are noisy: run nothing else meanwhile and never
# treat the numbers as pass/fail.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LLAMA_PY_VERSION=0.3.36
LLAMA_DIR="$ROOT/third_party/llama.cpp-$LLAMA_PY_VERSION"
LLAMA_BIN="$LLAMA_DIR/build/bin"
DL_DIR="$ROOT/third_party/dl"
TARGETS=(llama-bench llama-perplexity llama-batched-bench llama-simple)

MODEL="$ROOT/.models/SmolLM2-135M-Instruct.Q4_1.gguf"
THREADS=2
PP=512
REPS=5
PERPLEXITY=0
GREEDY=0
UNSET_OB=0
BUILD_ONLY=0
JOBS=2
RTX="$ROOT/build/bin/rtx"
LOGDIR=""
PPL_FILE=/usr/share/common-licenses/GPL-3
PROMPT="The quick brown fox"

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        --model|-m) MODEL="$2"; shift 2 ;;
        --threads|-t) THREADS="$2"; shift 2 ;;
        --reps|-r) REPS="$2"; shift 2 ;;
        --pp) PP="$2"; shift 2 ;;
        --perplexity) PERPLEXITY=1; shift ;;
        --greedy) GREEDY=1; shift ;;
        --unset-openblas-coretype) UNSET_OB=1; shift ;;
        --rtx) RTX="$2"; shift 2 ;;
        --logdir) LOGDIR="$2"; shift 2 ;;
        --build-only) BUILD_ONLY=1; shift ;;
        --jobs|-j) JOBS="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
    esac
done

log() { echo "[compare] $*" >&2; }

# ---------------------------------------------------------------- (a) build
build_llamacpp() {
    local missing=0 t
    for t in "${TARGETS[@]}"; do [ -x "$LLAMA_BIN/$t" ] || missing=1; done
    if [ "$missing" = 0 ]; then
        log "llama.cpp already built in ${LLAMA_DIR#$ROOT/}"
        return 0
    fi
    command -v cmake >/dev/null || { echo "cmake not found (Debian: apt-get install -y cmake)" >&2; exit 1; }
    if [ ! -f "$LLAMA_DIR/CMakeLists.txt" ]; then
        local sdist="$DL_DIR/llama_cpp_python-$LLAMA_PY_VERSION.tar.gz"
        if [ ! -f "$sdist" ]; then
            mkdir -p "$DL_DIR"
            # --no-binary for this package only: with ':all:' pip also builds
            # the build dependencies (cmake, ninja) from source just to read
            # the metadata, which takes many minutes.
            log "downloading the llama-cpp-python $LLAMA_PY_VERSION sdist from PyPI"
            python3 -m pip download --no-deps --no-binary llama-cpp-python \
                "llama-cpp-python==$LLAMA_PY_VERSION" -d "$DL_DIR"
        fi
        local tmp; tmp="$(mktemp -d "$ROOT/third_party/.unpack.XXXXXX")"
        tar xzf "$sdist" -C "$tmp"
        rm -rf "$LLAMA_DIR"
        mv "$tmp/llama_cpp_python-$LLAMA_PY_VERSION/vendor/llama.cpp" "$LLAMA_DIR"
        rm -rf "$tmp"
        # The vendored tree carries a submodule '.git' file pointing nowhere.
        rm -f "$LLAMA_DIR/.git"
    fi
    log "configuring llama.cpp (CPU only, -march=native, no BLAS, no network)"
    # LLAMA_CURL is deprecated/ignored in this version; OpenSSL, the server
    # (and its web UI download), and the unified app are not needed.
    cmake -S "$LLAMA_DIR" -B "$LLAMA_DIR/build" -DCMAKE_BUILD_TYPE=Release \
        -DGGML_NATIVE=ON -DGGML_CCACHE=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=ON -DLLAMA_BUILD_TOOLS=ON \
        -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF \
        -DLLAMA_USE_PREBUILT_UI=OFF \
        -DLLAMA_BUILD_COMMIT="pypi-llama-cpp-python-$LLAMA_PY_VERSION" -DLLAMA_BUILD_NUMBER=0 >"$LLAMA_DIR/build-configure.log" 2>&1 \
        || { tail -30 "$LLAMA_DIR/build-configure.log" >&2; exit 1; }
    log "building ${TARGETS[*]} with -j$JOBS (about 10 minutes on 2 cores)"
    local t0=$SECONDS
    cmake --build "$LLAMA_DIR/build" -j"$JOBS" --target "${TARGETS[@]}" \
        >"$LLAMA_DIR/build.log" 2>&1 || { tail -30 "$LLAMA_DIR/build.log" >&2; exit 1; }
    log "llama.cpp built in $((SECONDS - t0)) s"
}

build_llamacpp
[ "$BUILD_ONLY" = 1 ] && exit 0

[ -f "$MODEL" ] || { echo "model not found: $MODEL" >&2; exit 1; }
if [ "$UNSET_OB" = 1 ]; then unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE; fi
if [ -z "$LOGDIR" ]; then LOGDIR="$(mktemp -d /tmp/rtx-compare.XXXXXX)"; fi
mkdir -p "$LOGDIR"

# ---------------------------------------------------------------- helpers
# Median of llama-bench's markdown table column "t/s" ("123.45 ± 1.23") for
# the row whose "test" column is $2.
llama_bench_ts() {
    awk -F'|' -v want="$2" '
        /\| *test *\|/ { for (i = 1; i <= NF; i++) { h = $i; gsub(/ /, "", h); if (h == "test") tc = i; if (h == "t/s") sc = i } next }
        tc && sc { t = $tc; gsub(/ /, "", t); if (t == want) { split($sc, a, " "); print a[1]; exit } }
    ' "$1"
}
# llama-batched-bench row "| PP | TG | B | N_KV | T_PP | S_PP | T_TG | S_TG | T | S |"
batched_col() {   # file, column number (1-based among the 10 fields)
    awk -F'|' -v c="$2" '$2 ~ /^ *[0-9]+ *$/ && $4 ~ /^ *[0-9]+ *$/ { v = $(c + 1); gsub(/ /, "", v); print v; exit }' "$1"
}
rtx_rate() { sed -n "s/^$2: *\([0-9.][0-9.]*\) tokens\/s.*/\1/p" "$1" | head -1; }
final_ppl() { sed -n 's/.*Final estimate: PPL = *\([0-9.][0-9.]*\).*/\1/p' "$1" | tail -1; }
ratio() { if [ -n "$1" ] && [ -n "$2" ]; then awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; else echo "-"; fi; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
run_logged() {    # name, command...: runs it, keeps stdout+stderr in $LOGDIR/name.log
    local name="$1"; shift
    log "$name: $* (load $(loadavg))"
    local t0=$SECONDS rc=0
    "$@" >"$LOGDIR/$name.log" 2>&1 || rc=$?
    log "$name: exit $rc after $((SECONDS - t0)) s"
    return $rc
}
run_split() {     # name, command...: stdout in $LOGDIR/name.out, stderr in $LOGDIR/name.log
    local name="$1"; shift
    log "$name: $* (load $(loadavg))"
    local t0=$SECONDS rc=0
    "$@" >"$LOGDIR/$name.out" 2>"$LOGDIR/$name.log" || rc=$?
    log "$name: exit $rc after $((SECONDS - t0)) s"
    return $rc
}

RTX_OK=1
if [ ! -x "$RTX" ]; then log "no RTX binary at $RTX: RTX columns stay empty"; RTX_OK=0; fi

# ---------------------------------------------------------------- header
echo "== RTX vs llama.cpp ($(date -u '+%Y-%m-%d %H:%M UTC'))"
echo "model:    $MODEL"
echo "threads:  $THREADS, reps: $REPS"
echo "cpu:      $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1), $(nproc) cores visible"
# (A tree built before LLAMA_BUILD_COMMIT was passed reports the enclosing RTX
# repository's commit as its own: ignore that.)
echo "llama.cpp: vendored in llama-cpp-python $LLAMA_PY_VERSION (libllama $("$LLAMA_BIN/llama-bench" --version 2>&1 | sed -n 's/^version: \([^ ]*\).*/\1/p' | head -1)), CPU, -march=native, no BLAS"
echo "rtx:      $RTX $([ "$RTX_OK" = 1 ] && "$RTX" --version 2>/dev/null || echo '(missing)')"
if [ "$UNSET_OB" = 1 ]; then
    echo "OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE: unset by --unset-openblas-coretype"
else
    echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE-<unset>} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE-<unset>} (left as the environment sets them)"
fi
echo "logs:     $LOGDIR"
echo

# ---------------------------------------------------------------- pp / tg
L_PP=""; L_TG=""; R_PP=""; R_TG=""
if run_logged llama-bench "$LLAMA_BIN/llama-bench" -m "$MODEL" -p "$PP" -n 128 -t "$THREADS" -r "$REPS" -o md; then
    echo "-- llama-bench"
    grep '^|' "$LOGDIR/llama-bench.log" || true
    echo
    L_PP="$(llama_bench_ts "$LOGDIR/llama-bench.log" "pp$PP")"
    L_TG="$(llama_bench_ts "$LOGDIR/llama-bench.log" tg128)"
else
    echo "llama-bench FAILED (see $LOGDIR/llama-bench.log)"; tail -5 "$LOGDIR/llama-bench.log"
fi

if [ "$RTX_OK" = 1 ]; then
    if run_logged rtx-bench "$RTX" bench -m "$MODEL" -t "$THREADS" --pp "$PP" --tg 128 --reps "$REPS"; then
        echo "-- rtx bench"
        grep -E '^(pp|tg)[0-9]+:|^limits:|^  ' "$LOGDIR/rtx-bench.log" || true
        echo
        R_PP="$(rtx_rate "$LOGDIR/rtx-bench.log" "pp$PP")"
        R_TG="$(rtx_rate "$LOGDIR/rtx-bench.log" tg128)"
    else
        echo "rtx bench FAILED (see $LOGDIR/rtx-bench.log); continuing"; tail -3 "$LOGDIR/rtx-bench.log"; echo
    fi
fi

# ---------------------------------------------------------------- batched decode, 16 seqs
# 16 independent sequences, each with a 128-token prompt, then 128 decode
# steps of 16 tokens each; S_TG = 16*128 / decode time (aggregate tokens/s).
L_B=""; R_B=""
if run_logged llama-batched-bench "$LLAMA_BIN/llama-batched-bench" -m "$MODEL" -c 4096 \
        -npp 128 -ntg 128 -npl 16 -t "$THREADS" -tb "$THREADS"; then
    echo "-- llama-batched-bench (-npp 128 -ntg 128 -npl 16)"
    grep '^|' "$LOGDIR/llama-batched-bench.log" || true
    echo
    L_B="$(batched_col "$LOGDIR/llama-batched-bench.log" 8)"
else
    echo "llama-batched-bench FAILED (see $LOGDIR/llama-batched-bench.log)"; tail -5 "$LOGDIR/llama-batched-bench.log"
fi
# RTX side: only if `rtx bench` grew a --parallel option. Expected output
# line: "batched16: <median> tokens/s" (aggregate decode tokens/s).
if [ "$RTX_OK" = 1 ] && "$RTX" bench throughput --help 2>&1 | grep -q -- '--parallel'; then
    if run_logged rtx-bench-batched "$RTX" bench -m "$MODEL" -t "$THREADS" --pp 128 --tg 128 \
            --parallel 16 --reps "$REPS"; then
        grep -E '^[a-z]+[0-9]+:' "$LOGDIR/rtx-bench-batched.log" || true
        R_B="$(rtx_rate "$LOGDIR/rtx-bench-batched.log" batched16)"
    else
        echo "rtx bench --parallel 16 FAILED (see $LOGDIR/rtx-bench-batched.log); continuing"
    fi
elif [ "$RTX_OK" = 1 ]; then
    log "rtx bench has no --parallel option: no RTX batched number"
fi

# ---------------------------------------------------------------- perplexity
L_PPL=""; R_PPL=""
if [ "$PERPLEXITY" = 1 ]; then
    if run_logged llama-perplexity "$LLAMA_BIN/llama-perplexity" -m "$MODEL" -f "$PPL_FILE" -c 512 -t "$THREADS"; then
        L_PPL="$(final_ppl "$LOGDIR/llama-perplexity.log")"
        echo "-- llama-perplexity: $(grep 'Final estimate' "$LOGDIR/llama-perplexity.log" | tail -1)"
    else
        echo "llama-perplexity FAILED (see $LOGDIR/llama-perplexity.log)"; tail -5 "$LOGDIR/llama-perplexity.log"
    fi
    if [ "$RTX_OK" = 1 ]; then
        if run_logged rtx-perplexity "$RTX" perplexity -m "$MODEL" -f "$PPL_FILE" --ctx 512 -t "$THREADS"; then
            R_PPL="$(final_ppl "$LOGDIR/rtx-perplexity.log")"
            echo "-- rtx perplexity:   $(grep 'Final estimate' "$LOGDIR/rtx-perplexity.log" | tail -1)"
        else
            echo "rtx perplexity FAILED (see $LOGDIR/rtx-perplexity.log); continuing"; tail -3 "$LOGDIR/rtx-perplexity.log"
        fi
    fi
    echo
fi

# ---------------------------------------------------------------- greedy continuation
if [ "$GREEDY" = 1 ]; then
    # Both print the prompt followed by the continuation on stdout.
    run_split llama-simple "$LLAMA_BIN/llama-simple" -m "$MODEL" -n 32 "$PROMPT" || true
    echo "-- llama-simple (greedy, 32 tokens):"
    cat "$LOGDIR/llama-simple.out"; echo
    if [ "$RTX_OK" = 1 ]; then
        run_split rtx-generate "$RTX" generate -m "$MODEL" -t "$THREADS" --temp 0 -n 32 -p "$PROMPT" || true
        echo "-- rtx generate --temp 0 (greedy, 32 tokens):"
        cat "$LOGDIR/rtx-generate.out"; echo
    fi
    echo
fi

# ---------------------------------------------------------------- table
fmt() { [ -n "$1" ] && echo "$1" || echo "-"; }
echo "== Summary (tokens/s; perplexity lower is better; ratio = RTX / llama.cpp)"
printf '%-34s %14s %14s %10s\n' "metric" "llama.cpp" "RTX" "ratio"
printf '%-34s %14s %14s %10s\n' "pp$PP (t=$THREADS)" "$(fmt "$L_PP")" "$(fmt "$R_PP")" "$(ratio "$R_PP" "$L_PP")"
printf '%-34s %14s %14s %10s\n' "tg128 (t=$THREADS)" "$(fmt "$L_TG")" "$(fmt "$R_TG")" "$(ratio "$R_TG" "$L_TG")"
printf '%-34s %14s %14s %10s\n' "batched decode, 16 seqs (S_TG)" "$(fmt "$L_B")" "$(fmt "$R_B")" "$(ratio "$R_B" "$L_B")"
if [ "$PERPLEXITY" = 1 ]; then
    printf '%-34s %14s %14s %10s\n' "PPL GPL-3, ctx 512" "$(fmt "$L_PPL")" "$(fmt "$R_PPL")" "$(ratio "$R_PPL" "$L_PPL")"
fi
